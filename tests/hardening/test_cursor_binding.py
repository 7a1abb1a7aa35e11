"""A list cursor works only on the request that could have produced it: the same list, parent
object, filters and viewer. Replayed anywhere else it is 422 ``invalid_cursor``, so a later page
can never be reached without its first one (and the audit the first one records)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.apikeys.models import ApiKey
from energyapp.audit.models import AuditEvent
from energyapp.conversations.models import Conversation, Message
from energyapp.core import dates
from energyapp.db import utcnow
from energyapp.feedback.models import MessageFeedback
from energyapp.folders.models import Folder
from energyapp.sharing.models import SharedLink
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory
from tests.hardening.conftest import list_operations

PAGING = {"limit", "cursor"}


@dataclass
class ListCase:
    """How to read one list with at least two pages under every binding."""

    viewer: str
    # Another person allowed to read the same list (None: nobody else can open it at all).
    other_viewer: str | None
    filters: dict[str, str] = field(default_factory=dict)
    # Two parents for the path parameter (two conversations the viewer may read).
    parents: tuple[str, str] | None = None


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    cases: dict[str, ListCase]
    supervisor_conversation: Conversation
    worker_conversations: tuple[Conversation, Conversation]


@pytest.fixture
async def world(
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> World:
    admin = await make_user("admin", full_name="Persona Admin")
    admin2 = await make_user("admin", full_name="Persona Admin Dos")
    supervisor = await make_user("supervisor", full_name="Persona Supervisora")
    worker = await make_user("trabajador", full_name="Persona Trabajadora")
    worker2 = await make_user("trabajador", full_name="Otra Trabajadora")
    texts = ["uno", "dos", "tres"]
    first = await make_conversation(worker, "Tarifa de invierno", texts)
    second = await make_conversation(worker, "Tarifa de verano", texts)
    for title in ("Archivo uno", "Archivo dos"):
        await make_conversation(worker, title, archived=True)
    await make_conversation(worker2, "Ajena")
    own = await make_conversation(supervisor, "Propia", texts)
    async with sessionmaker() as session:
        # The worker's two tariffs filed in a folder ("Carpetas"), for the folder filter.
        folder = Folder(user_id=worker.id, name="Tarifas")
        session.add(folder)
        await session.flush()
        folder_id = str(folder.id)
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_((first.id, second.id)))
            .values(folder_id=folder.id)
        )
        session.add_all(
            AuditEvent(action="prueba.cursor", actor_id=admin.id, target_type="user")
            for _ in range(3)
        )
        session.add_all(
            ApiKey(
                user_id=worker.id,
                name=f"Clave {n}",
                prefix="ea_abcde",
                digest=secrets.token_hex(32),
                expires_at=utcnow() + timedelta(days=90),
            )
            for n in range(3)
        )
        # Two answers of the worker rated 👎, for the "Uso" tab's list.
        answers = await session.scalars(
            select(Message.id).where(
                Message.conversation_id.in_((first.id, second.id)), Message.role == "assistant"
            )
        )
        session.add_all(
            MessageFeedback(message_id=answer, user_id=worker.id, rating="down")
            for answer in answers.all()
        )
        # The worker's shared links ("Enlaces compartidos").
        session.add_all(
            SharedLink(
                token=secrets.token_urlsafe(32),
                conversation_id=conversation.id,
                user_id=worker.id,
                leaf_message_id=conversation.current_leaf_id,
            )
            for conversation in (first, second)
        )
        await session.commit()
    people = {
        "admin": admin,
        "admin2": admin2,
        "supervisor": supervisor,
        "worker": worker,
        "worker2": worker2,
    }
    headers = {name: await auth_headers(user) for name, user in people.items()}
    parents = (str(first.id), str(second.id))
    today = dates.local_today().isoformat()
    # Not the defaults (the last 30 days up to today), so that dropping either changes the list.
    recently = (dates.local_today() - timedelta(days=2)).isoformat()
    tomorrow = (dates.local_today() + timedelta(days=1)).isoformat()
    cases = {
        "/conversations": ListCase(
            "worker",
            "worker2",
            filters={"q": "tarifa", "archived": "true", "folder_id": folder_id},
        ),
        "/conversations/{conversation_id}/messages": ListCase("worker", None, parents=parents),
        "/shares": ListCase("worker", "worker2"),
        "/admin/users": ListCase("admin", "admin2", filters={"q": "persona", "role": "trabajador"}),
        "/admin/conversations": ListCase(
            "supervisor", "admin", filters={"user_id": str(worker.id)}
        ),
        "/admin/conversations/{conversation_id}/messages": ListCase(
            "supervisor", "admin", parents=parents
        ),
        "/admin/api-keys": ListCase("supervisor", "admin", filters={"q": "persona"}),
        "/admin/usage/ratings/down": ListCase(
            "supervisor", "admin", filters={"from": recently, "to": tomorrow}
        ),
        "/admin/audit": ListCase(
            "admin",
            "admin2",
            filters={
                "actor_id": str(admin.id),
                "action": "prueba.cursor",
                "q": "Persona Admin",
                "from": today,
                "to": today,
                "outcome": "success",
            },
        ),
    }
    return World(headers, cases, own, (first, second))


async def _cursor(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, str]
) -> str:
    response = await client.get(url, params={**params, "limit": 1}, headers=headers)
    assert response.status_code == 200, (url, params, response.text)
    cursor = response.json()["next_cursor"]
    assert cursor, (url, params)
    return str(cursor)


async def _replay(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    params: dict[str, str],
    cursor: str,
) -> httpx.Response:
    return await client.get(url, params={**params, "limit": 1, "cursor": cursor}, headers=headers)


def _assert_refused(response: httpx.Response, context: str) -> None:
    assert response.status_code == 422, f"{context}: {response.status_code} {response.text}"
    assert response.json()["code"] == "invalid_cursor", context


def _parameters(app: FastAPI, path: str) -> tuple[set[str], set[str]]:
    """The query and path parameters the OpenAPI schema declares for a list."""
    operation = app.openapi()["paths"][path]["get"]
    declared = operation.get("parameters", [])
    query = {p["name"] for p in declared if p["in"] == "query"} - PAGING
    return query, {p["name"] for p in declared if p["in"] == "path"}


async def test_every_list_binds_its_cursor_to_parent_filters_and_viewer(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    # A new list, filter or parent must be added here: the matrix below then covers it.
    assert set(world.cases) == {path for _method, path in list_operations(app)}
    for path, case in world.cases.items():
        query_names, path_names = _parameters(app, path)
        assert set(case.filters) == query_names, f"{path}: a filter without a case"
        assert (case.parents is not None) == bool(path_names), path

        headers = world.headers[case.viewer]
        url = path.format(conversation_id=case.parents[0]) if case.parents else path
        plain = await _cursor(client, url, headers, {})
        again = await _replay(client, url, headers, {}, plain)
        assert again.status_code == 200, f"{path}: {again.text}"

        for name, value in case.filters.items():
            filtered = await _cursor(client, url, headers, {name: value})
            assert (await _replay(client, url, headers, {name: value}, filtered)).is_success
            _assert_refused(
                await _replay(client, url, headers, {}, filtered), f"{path}: {name} dropped"
            )
            _assert_refused(
                await _replay(client, url, headers, {name: value}, plain), f"{path}: {name} added"
            )

        if case.parents:
            elsewhere = path.format(conversation_id=case.parents[1])
            _assert_refused(
                await _replay(client, elsewhere, headers, {}, plain), f"{path}: other parent"
            )

        if case.other_viewer is not None:
            other = world.headers[case.other_viewer]
            assert (await client.get(url, headers=other)).status_code == 200, path
            _assert_refused(await _replay(client, url, other, {}, plain), f"{path}: other viewer")


async def test_own_messages_cursor_does_not_open_a_workers_conversation(
    client: httpx.AsyncClient, world: World
) -> None:
    """The replay the issue describes: a supervisor pages their own conversation, then uses the
    cursor on a worker's conversation to skip the audited first page."""
    headers = world.headers["supervisor"]
    mine = world.supervisor_conversation.id
    theirs = world.worker_conversations[0].id
    for own_list in (f"/conversations/{mine}/messages", f"/admin/conversations/{mine}/messages"):
        cursor = await _cursor(client, own_list, headers, {})
        response = await _replay(
            client, f"/admin/conversations/{theirs}/messages", headers, {}, cursor
        )
        _assert_refused(response, own_list)
    # Nor does a cursor of the admin list open the caller's own list, or the other way round.
    admin_cursor = await _cursor(client, f"/admin/conversations/{mine}/messages", headers, {})
    _assert_refused(
        await _replay(client, f"/conversations/{mine}/messages", headers, {}, admin_cursor),
        "admin list onto own list",
    )


async def test_a_filtered_cursor_does_not_page_another_user(
    client: httpx.AsyncClient, world: World
) -> None:
    """A filtered admin list's cursor never pages an unknown user: the binding names it."""
    headers = world.headers["supervisor"]
    worker_id = world.cases["/admin/conversations"].filters["user_id"]
    cursor = await _cursor(client, "/admin/conversations", headers, {"user_id": worker_id})
    response = await _replay(
        client, "/admin/conversations", headers, {"user_id": str(uuid.uuid4())}, cursor
    )
    _assert_refused(response, "another user_id")
