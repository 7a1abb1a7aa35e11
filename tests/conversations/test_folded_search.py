"""Searches ignore case and accents on both databases (conversations and the admin user list),
and the conversation list says which conversations have an answer running."""

from __future__ import annotations

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Message
from energyapp.core import search
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory, search_ids

SPELLINGS = ("MANTENCIÓN", "mantencion", "Mantención", "mantención", "MANTENCION")


def test_fold_drops_case_and_accents() -> None:
    assert {search.fold(s) for s in SPELLINGS} == {"mantencion"}
    assert search.fold("GONZÁLEZ Muñoz, Pingüino Ñandú") == "gonzalez munoz, pinguino nandu"


async def test_conversation_search_ignores_case_and_accents(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    by_title = await make_conversation(user, "Plan de MANTENCIÓN anual")
    by_message = await make_conversation(
        user, "Sin pistas", messages=["¿Cuándo toca la mantencion del transformador?", "En marzo."]
    )
    await make_conversation(user, "Otra cosa", messages=["mantener la calma"])
    expected = {str(by_title.id), str(by_message.id)}
    for spelling in SPELLINGS:
        assert await search_ids(client, "/conversations", spelling, headers) == expected, spelling
    # Accents in the query fold too, on a word stored without them.
    assert await search_ids(client, "/conversations", "CUÁNDO", headers) == {str(by_message.id)}


async def test_admin_user_search_ignores_case_and_accents(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await make_user("admin")
    headers = await auth_headers(admin)
    accented = await make_user(full_name="Pedro González Muñoz")
    plain = await make_user(full_name="Ana Gonzalez")
    await make_user(full_name="Luis Pérez")
    expected = {str(accented.id), str(plain.id)}
    for spelling in ("GONZÁLEZ", "gonzalez", "González", "GONZALEZ"):
        assert await search_ids(client, "/admin/users", spelling, headers) == expected, spelling
    assert await search_ids(client, "/admin/users", "MUNOZ", headers) == {str(accented.id)}
    # LIKE's wildcards stay literal after folding.
    assert await search_ids(client, "/admin/users", "%", headers) == set()


async def test_list_says_which_conversation_is_running(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    idle = await make_conversation(user, "Quieta", messages=["hola", "hola"])
    busy = await make_conversation(user, "Ocupada", messages=["pregunta", ""])
    async with sessionmaker() as session:
        await session.execute(
            update(Message)
            .where(Message.conversation_id == busy.id, Message.role == "assistant")
            .values(status="streaming")
        )
        await session.commit()

    items = (await client.get("/conversations", headers=headers)).json()["items"]
    assert {item["id"]: item["running"] for item in items} == {
        str(idle.id): False,
        str(busy.id): True,
    }
    # The single conversation keeps its shape (the flag is the list's).
    single = (await client.get(f"/conversations/{busy.id}", headers=headers)).json()
    assert "running" not in single


async def test_user_search_folds_enye_and_acute_together(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    admin = await make_user("admin")
    headers = await auth_headers(admin)
    user = await make_user(full_name="Jorge Ñúñez")
    assert await search_ids(client, "/admin/users", "nunez", headers) == {str(user.id)}


async def test_conversation_search_folds_before_stemming(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    # PostgreSQL's Spanish stemmer stems "información" to "inform" but leaves "informacion"
    # whole, and keeps "ü": a worker who types without accents (or with them, on text written
    # without) found nothing. Both databases must find both spellings.
    user = await make_user()
    headers = await auth_headers(user)
    accented = await make_conversation(
        user, "Instalación eléctrica", messages=["¿Dónde está la información del cigüeñal?", "Ok."]
    )
    plain = await make_conversation(
        user, "Instalacion nueva", messages=["Pido informacion del ciguenal", "Ok."]
    )
    both = {str(accented.id), str(plain.id)}
    for query in (
        "instalacion",
        "INSTALACIÓN",
        "información",
        "INFORMACION",
        "ciguenal",
        "CIGÜEÑAL",
    ):
        assert await search_ids(client, "/conversations", query, headers) == both, query
    assert await search_ids(client, "/conversations", "ELÉCTRICA", headers) == {str(accented.id)}


async def test_quotes_group_words_on_both_databases(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    # Web-search quotes (docs: "frase exacta") found nothing on SQLite, which looked for the
    # quote characters themselves.
    user = await make_user()
    headers = await auth_headers(user)
    wanted = await make_conversation(user, "Tarifa del año nuevo", messages=["Hola", "Ok."])
    other = await make_conversation(user, "Otra tarifa", messages=["Hola", "Ok."])
    assert await search_ids(client, "/conversations", '"año nuevo"', headers) == {str(wanted.id)}
    # A quote left open (typing in progress) is no word either.
    assert await search_ids(client, "/conversations", '"tarifa', headers) == {
        str(wanted.id),
        str(other.id),
    }
