"""``-palabra`` leaves out every conversation that holds the word in its title or in any message,
on both databases (docs/conversations-and-admin.md, "Search"). PostgreSQL evaluated the whole
query message by message, so a conversation with the word in one message still matched through
another; SQLite looked for the text "-palabra" itself."""

from __future__ import annotations

import httpx

from energyapp.core import search
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory, search_ids


def test_split_exclusions_reads_web_search_syntax() -> None:
    assert search.split_exclusions('informe -ventas -"año nuevo" e-mail') == (
        "informe e-mail",
        ["ventas", '"año nuevo"'],
    )
    assert search.split_exclusions('"informe -ventas"') == ('"informe -ventas"', [])
    assert search.split_exclusions('-"" informe') == ("informe", [])


async def test_an_excluded_word_rules_out_the_whole_conversation(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    mixed = await make_conversation(
        user, "Reunión", messages=["Revisar el informe de ventas", "Listo", "Informe anual", "Ok"]
    )
    clean = await make_conversation(user, "Reunión", messages=["Informe anual", "Ok"])
    by_title = await make_conversation(user, "Ventas de marzo", messages=["Informe", "Ok"])
    other = await make_conversation(user, "Otra", messages=["Enviar el e-mail", "Ok"])

    async def found(query: str) -> set[str]:
        return await search_ids(client, "/conversations", query, headers)

    assert await found("informe") == {str(mixed.id), str(clean.id), str(by_title.id)}
    assert await found("informe -ventas") == {str(clean.id)}
    assert await found("informe -VENTAS") == {str(clean.id)}
    assert await found("-ventas") == {str(clean.id), str(other.id)}
    assert await found('informe -"de ventas"') == {str(clean.id)}
    # A hyphen inside a word is no exclusion.
    assert await found("e-mail") == {str(other.id)}
