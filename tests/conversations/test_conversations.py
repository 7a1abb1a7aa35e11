"""The caller's own conversations: CRUD, validation, search, export, counters and audit."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.conversations.models import Conversation, Message
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory


async def _user_counters(
    sessionmaker: async_sessionmaker[AsyncSession], user: User
) -> tuple[int, int]:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(User.conversation_count, User.message_count).where(User.id == user.id)
            )
        ).one()
    return row[0], row[1]


async def test_create_get_and_list(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    untitled = await client.post("/conversations", json={}, headers=headers)
    assert untitled.status_code == 201
    assert untitled.json()["title"] == "Nueva conversación"
    assert untitled.json()["title_source"] == "pending"
    titled = await client.post(
        "/conversations", json={"title": "  Tarifas 2026  "}, headers=headers
    )
    assert titled.status_code == 201
    body = titled.json()
    assert body["title"] == "Tarifas 2026"
    assert body["title_source"] == "user"
    assert body["message_count"] == 0
    assert body["pinned"] is False and body["archived"] is False

    got = await client.get(f"/conversations/{body['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json() == body

    listed = await client.get("/conversations", headers=headers)
    assert listed.status_code == 200
    ids = [item["id"] for item in listed.json()["items"]]
    assert ids == [body["id"], untitled.json()["id"]]
    assert listed.json()["next_cursor"] is None
    assert set(listed.json()["items"][0]) == {
        "id",
        "temporary",
        "title",
        "title_source",
        "created_at",
        "updated_at",
        "message_count",
        "pinned",
        "archived",
        "folder_id",
        "running",
    }
    assert listed.json()["items"][0]["running"] is False
    assert await _user_counters(sessionmaker, user) == (2, 0)


@pytest.mark.parametrize(
    ("title", "fragment"),
    [
        ("", "vacío"),
        ("   ", "vacío"),
        ("x" * 201, "200"),
        ("línea\nnueva", "control"),
        ("tab\there", "control"),
        ("nulo\x00", "control"),
        ("bidi\u202etexto", "control"),
        ("ad\u200dmin", "control"),  # a joiner between letters hides a spoofed word
        ("\u200d\U0001f469", "control"),
    ],
)
async def test_title_validation(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    title: str,
    fragment: str,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    created = await client.post("/conversations", json={"title": title}, headers=headers)
    assert created.status_code == 422
    # NUL is refused in every field by the JSON text guard (its own code); the rest by the
    # title rule.
    assert created.json()["code"] in ("validation_error", "invalid_characters")
    assert fragment in created.json()["detail"]
    conversation = await make_conversation(user)
    patched = await client.patch(
        f"/conversations/{conversation.id}", json={"title": title}, headers=headers
    )
    assert patched.status_code == 422
    assert fragment in patched.json()["detail"]


async def test_title_limits_accepted(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    headers = await auth_headers(await make_user())
    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # 👩‍👩‍👧, joined by ZWJ
    rainbow = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈
    for title in (
        "a",
        "ñ" * 200,
        " " + "b" * 200 + " ",
        "Énfasis ⚡ eléctrico",
        f"Familia {family}",
        f"Orgullo {rainbow}",
    ):
        response = await client.post("/conversations", json={"title": title}, headers=headers)
        assert response.status_code == 201, title
        assert response.json()["title"] == title.strip()


async def test_patch_title_pin_archive(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    conversation = await make_conversation(user, "Provisional")
    url = f"/conversations/{conversation.id}"
    renamed = await client.patch(url, json={"title": "Informe mensual"}, headers=headers)
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "Informe mensual"
    assert renamed.json()["title_source"] == "user"
    assert (
        renamed.json()["updated_at"]
        == (await client.get(url, headers=headers)).json()["updated_at"]
    )

    pinned = await client.patch(url, json={"pinned": True}, headers=headers)
    assert pinned.json()["pinned"] is True
    assert pinned.json()["title"] == "Informe mensual"

    archived = await client.patch(url, json={"archived": True}, headers=headers)
    assert archived.json()["archived"] is True
    active = await client.get("/conversations", headers=headers)
    assert active.json()["items"] == []
    only_archived = await client.get("/conversations?archived=true", headers=headers)
    assert [c["id"] for c in only_archived.json()["items"]] == [str(conversation.id)]

    unknown = await client.patch(url, json={"owner": "otro"}, headers=headers)
    assert unknown.status_code == 422
    not_bool = await client.patch(url, json={"pinned": "quizás"}, headers=headers)
    assert not_bool.status_code == 422


async def test_pinned_first_then_most_recent(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    old = await make_conversation(user, "Antigua")
    pinned_old = await make_conversation(user, "Fijada", pinned=True)
    new = await make_conversation(user, "Nueva")
    response = await client.get("/conversations", headers=headers)
    assert [c["id"] for c in response.json()["items"]] == [
        str(pinned_old.id),
        str(new.id),
        str(old.id),
    ]


async def test_messages_oldest_first_with_fields(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    conversation = await make_conversation(user, messages=["pregunta", "respuesta", "otra"])
    response = await client.get(f"/conversations/{conversation.id}/messages", headers=headers)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [m["content"] for m in items] == ["pregunta", "respuesta", "otra"]
    assert [m["role"] for m in items] == ["user", "assistant", "user"]
    # One branch: each message follows the one before and is its only version.
    assert [m["parent_id"] for m in items] == [None, items[0]["id"], items[1]["id"]]
    assert [m["sibling_ids"] for m in items] == [[m["id"]] for m in items]
    assert set(items[1]) == {
        "id",
        "role",
        "content",
        "status",
        "error_code",
        "finish_reason",
        "model",
        "created_at",
        "prompt_tokens",
        "completion_tokens",
        "duration_ms",
        "first_token_ms",
        "parent_id",
        "sibling_ids",
        "feedback",  # the caller's rating of the answer (tests/feedback)
        "yours",  # written for the caller (tests/chat/test_continuation.py)
    }
    assert items[1]["model"] == "llama3.1:8b"
    assert (items[1]["prompt_tokens"], items[1]["completion_tokens"]) == (10, 20)
    assert items[0]["status"] == "complete" and items[1]["error_code"] is None


async def test_a_failed_answer_lists_its_error_code(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The web UI explains a failed answer when its conversation is opened again."""
    user = await make_user()
    headers = await auth_headers(user)
    conversation = await make_conversation(user, messages=["pregunta", "respuesta"])
    async with sessionmaker.begin() as session:
        answer = (
            await session.execute(
                select(Message).where(
                    Message.conversation_id == conversation.id, Message.role == "assistant"
                )
            )
        ).scalar_one()
        answer.status, answer.error_code = "error", "llm_unavailable"
    response = await client.get(f"/conversations/{conversation.id}/messages", headers=headers)
    answer_out = response.json()["items"][1]
    assert (answer_out["status"], answer_out["error_code"]) == ("error", "llm_unavailable")


async def test_delete_cascades_counts_and_audits(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    keep = await make_conversation(user, messages=["a", "b"])
    doomed = await make_conversation(user, "Borrar", messages=["x", "y", "z"])
    assert await _user_counters(sessionmaker, user) == (2, 5)

    response = await client.delete(f"/conversations/{doomed.id}", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/conversations/{doomed.id}", headers=headers)).status_code == 404
    again = await client.delete(f"/conversations/{doomed.id}", headers=headers)
    assert again.status_code == 404

    assert await _user_counters(sessionmaker, user) == (1, 2)
    async with sessionmaker() as session:
        left = await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == doomed.id)
        )
        kept = await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == keep.id)
        )
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "conversation.deleted")
            )
        ).all()
    assert left == 0
    assert kept == 2
    assert len(events) == 1
    assert events[0].actor_id == user.id
    assert events[0].target_id == str(doomed.id)
    assert events[0].details is not None and events[0].details["message_count"] == 3


async def test_search_titles_and_messages(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    other = await make_user()
    headers = await auth_headers(user)
    by_title = await make_conversation(user, "Licitación subestación norte")
    by_message = await make_conversation(
        user, "Sin pistas", messages=["¿Cuál es la tarifa de la licitación?", "La tarifa es..."]
    )
    await make_conversation(user, "Otra cosa", messages=["nada que ver"])
    await make_conversation(other, "Licitación ajena", messages=["licitación secreta"])

    response = await client.get("/conversations", params={"q": "licitación"}, headers=headers)
    assert response.status_code == 200
    assert {c["id"] for c in response.json()["items"]} == {str(by_title.id), str(by_message.id)}

    both_words = await client.get(
        "/conversations", params={"q": "tarifa licitación"}, headers=headers
    )
    assert [c["id"] for c in both_words.json()["items"]] == [str(by_message.id)]

    nothing = await client.get("/conversations", params={"q": "inexistente"}, headers=headers)
    assert nothing.json() == {"items": [], "next_cursor": None}

    blank = await client.get("/conversations", params={"q": "   "}, headers=headers)
    assert len(blank.json()["items"]) == 3

    # LIKE wildcards are literal characters, not patterns.
    wildcard = await client.get("/conversations", params={"q": "%"}, headers=headers)
    assert wildcard.json()["items"] == []

    too_long = await client.get("/conversations", params={"q": "x" * 201}, headers=headers)
    assert too_long.status_code == 422


async def test_searches_are_limited_per_person(
    client: httpx.AsyncClient,
    settings: Settings,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    # A search of every message can take a second of the database's time (docs: 900-1000 ms
    # at worst on PostgreSQL); unlimited, one script could hold the connection pool.
    user, other = await make_user(), await make_user()
    headers, other_headers = await auth_headers(user), await auth_headers(other)
    for n in range(settings.search_rate_limit_per_minute):
        searched = await client.get("/conversations", params={"q": f"t{n}"}, headers=headers)
        assert searched.status_code == 200
    refused = await client.get("/conversations", params={"q": "otra"}, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    # The sidebar without a search, and other people's searches, go on.
    assert (await client.get("/conversations", headers=headers)).status_code == 200
    assert (await client.get("/conversations", params={"q": " "}, headers=headers)).is_success
    other_search = await client.get("/conversations", params={"q": "x"}, headers=other_headers)
    assert other_search.status_code == 200


@pytest.mark.postgres_only
async def test_search_uses_spanish_stemming(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    plural = await make_conversation(user, "Varias", messages=["Revisamos los contratos vigentes"])
    response = await client.get("/conversations", params={"q": "contrato"}, headers=headers)
    assert [c["id"] for c in response.json()["items"]] == [str(plural.id)]


async def test_export_markdown_and_json(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    conversation = await make_conversation(
        user, "Informe eléctrico: junio/julio", messages=["Hola", "Buenos días", "Gracias"]
    )
    md = await client.get(f"/conversations/{conversation.id}/export?format=md", headers=headers)
    assert md.status_code == 200
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    disposition = md.headers["content-disposition"]
    assert disposition.startswith(
        'attachment; filename="conversacion-informe-electrico-junio-julio.md"'
    )
    assert "filename*=UTF-8''conversacion-Informe-el%C3%A9ctrico-junio-julio.md" in disposition
    text = md.text
    assert text.startswith("# Informe eléctrico: junio/julio\n")
    assert text.index("Hola") < text.index("Buenos días") < text.index("Gracias")
    assert "## Asistente (llama3.1:8b)" in text
    assert "## Usuario" in text

    default = await client.get(f"/conversations/{conversation.id}/export", headers=headers)
    assert default.text.startswith("# Informe eléctrico")

    js = await client.get(f"/conversations/{conversation.id}/export?format=json", headers=headers)
    assert js.status_code == 200
    assert js.headers["content-disposition"].startswith("attachment; ")
    assert js.headers["content-disposition"].split(";")[1].strip().endswith('.json"')
    document = json.loads(js.content)
    assert document["format"] == "energyapp.conversation.v2"
    assert document["scope"] == "branch"
    assert document["conversation"]["id"] == str(conversation.id)
    assert [m["content"] for m in document["messages"]] == ["Hola", "Buenos días", "Gracias"]

    bad = await client.get(f"/conversations/{conversation.id}/export?format=pdf", headers=headers)
    assert bad.status_code == 422


async def test_conversation_exports_are_limited_per_person(
    client: httpx.AsyncClient,
    settings: Settings,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    # Each file is built whole in memory (with scope=tree, every version): unlimited downloads
    # were a cheap way for one account to keep the server busy.
    user, other = await make_user(), await make_user()
    headers, other_headers = await auth_headers(user), await auth_headers(other)
    conversation = await make_conversation(user, "Larga", messages=["Hola", "Buenos días"])
    url = f"/conversations/{conversation.id}/export?scope=tree"
    for _ in range(settings.conversation_exports_per_minute):
        assert (await client.get(url, headers=headers)).status_code == 200
    refused = await client.get(url, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    own = await make_conversation(other, "Otra", messages=["Hola"])
    allowed = await client.get(f"/conversations/{own.id}/export", headers=other_headers)
    assert allowed.status_code == 200


async def test_markdown_export_closes_a_code_block_left_open(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    # An answer stopped in the middle of its code used to leave the block open, and every later
    # message of the file read as code.
    user = await make_user()
    headers = await auth_headers(user)
    cut = "Así se lee el medidor:\n\n```python\nfor fila in lecturas:\n    print(fila"
    whole = "| Mes | kWh |\n|---|---|\n| Enero | 120 |\n\n````md\n```\ninterior\n```\n````"
    conversation = await make_conversation(
        user, "Código", messages=["¿Cómo leo el medidor?", cut, "¿Y en una tabla?", whole]
    )
    md = await client.get(f"/conversations/{conversation.id}/export", headers=headers)
    sections = md.text.split("\n## ")
    assert [s.split(" ·")[0] for s in sections[1:]] == [
        "Usuario", "Asistente (llama3.1:8b)", "Usuario", "Asistente (llama3.1:8b)"
    ]  # fmt: skip
    assert sections[2].rstrip().endswith("print(fila\n```")
    assert sections[4].rstrip().endswith("interior\n```\n````")  # closed: left as it is
    fences = [line for line in md.text.splitlines() if line.startswith(("```", "~~~"))]
    assert fences == ["```python", "```", "````md", "```", "```", "````"]


async def test_markdown_export_shows_attached_files_as_code_blocks(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    # The web UI sends attached files as <archivo> blocks; a Markdown reader would take them for
    # HTML (and may hide them). The export shows each under its name, in a block its text
    # cannot close, and the JSON keeps the question as sent.
    user = await make_user()
    headers = await auth_headers(user)
    question = (
        "Resuma el informe"
        '\n\n<archivo nombre="informe.md">\n# Informe\n```\ncódigo\n```\n</archivo>'
        '\n\n<archivo nombre="datos.csv">\nmes;kwh\n</archivo>'
    )
    conversation = await make_conversation(user, "Adjuntos", messages=[question, "Listo."])
    md = await client.get(f"/conversations/{conversation.id}/export", headers=headers)
    assert (
        "Resuma el informe\n\n**Archivo adjunto: informe.md**\n\n````\n# Informe\n```\n"
        "código\n```\n````\n\n**Archivo adjunto: datos.csv**\n\n```\nmes;kwh\n```\n"
    ) in md.text
    assert "<archivo" not in md.text
    as_json = await client.get(
        f"/conversations/{conversation.id}/export", params={"format": "json"}, headers=headers
    )
    assert as_json.json()["messages"][0]["content"] == question


async def test_unauthenticated_and_bad_ids(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    assert (await client.get("/conversations")).status_code == 401
    assert (await client.post("/conversations", json={})).status_code == 401
    headers = await auth_headers(await make_user())
    bad = await client.get("/conversations/no-es-un-uuid", headers=headers)
    assert bad.status_code == 422
    missing = await client.get(f"/conversations/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No se encontró la conversación.", "code": "not_found"}


async def test_conversation_rows_survive_only_for_owner(
    sessionmaker: async_sessionmaker[AsyncSession],
    make_user: UserFactory,
    make_conversation: ConversationFactory,
) -> None:
    # Sanity check of the factory itself: counters match rows.
    user = await make_user()
    await make_conversation(user, messages=["a"] * 4)
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.user_id == user.id)
        )
    assert count == 1
    assert await _user_counters(sessionmaker, user) == (1, 4)


@pytest.mark.postgres_only
async def test_rename_while_another_tab_deletes_is_a_clear_conflict(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # The rename reads the conversation, then waits on the row lock of a deletion (another tab)
    # that commits meanwhile: its UPDATE finds no row. That was a 500.
    user = await make_user()
    headers = await auth_headers(user)
    conversation = await make_conversation(user, "Borrada en otra pestaña", messages=["a", "b"])
    async with sessionmaker() as other_tab:
        await other_tab.execute(delete(Conversation).where(Conversation.id == conversation.id))
        rename = asyncio.create_task(
            client.patch(
                f"/conversations/{conversation.id}", json={"title": "Nuevo"}, headers=headers
            )
        )
        await _until_waiting_on_a_lock(sessionmaker)
        assert not rename.done()
        await other_tab.commit()
    response = await rename
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "stale_data"


async def _until_waiting_on_a_lock(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Until another connection waits on a row lock (PostgreSQL's pg_stat_activity, read in a
    fresh transaction each time: it is a snapshot per transaction). A fixed sleep let the
    deletion commit first on a loaded machine, and the rename then found nothing (404)."""
    for _ in range(400):
        async with sessionmaker() as probe:
            waiting = await probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("nothing waited on the row lock within 10 s")
