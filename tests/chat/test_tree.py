"""Edit, regenerate and versions: the message tree through POST /chat, the branch listed with its
versions, switching branches, what the model is sent, export, the admin viewer and reassignment,
and the same scoping and limits as any chat."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.conversations import counters
from energyapp.conversations.models import Message
from energyapp.conversations.tree import NO_PARENT
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp, load_conversation
from tests.chat.conftest import ask as _ask
from tests.conftest import HeadersFactory, UserFactory

Asked = dict[str, str]  # meta of an answer, plus its text


async def _branch(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], conversation_id: str
) -> list[dict[str, Any]]:
    response = await http.get(f"{base}/conversations/{conversation_id}/messages", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _sent(fake: tuple[str, FakeOllama]) -> list[tuple[str, str]]:
    """What the last answer request sent to the model (title requests are not streamed)."""
    last = [r for r in fake[1].config.requests if r.get("stream") is not False][-1]
    return [(m["role"], m["content"]) for m in last["messages"][1:]]  # after the system prompt


async def _counts(
    sessionmaker: async_sessionmaker[AsyncSession], conversation_id: str, user_id: uuid.UUID
) -> tuple[int, int, int]:
    """(rows, conversation.message_count, user.message_count)."""
    async with sessionmaker() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id == uuid.UUID(conversation_id))
        )
        user = await session.get(User, user_id)
        assert user is not None
    conversation = await load_conversation(sessionmaker, conversation_id)
    return int(rows or 0), conversation.message_count, user.message_count


async def test_edit_regenerate_and_switch_branches(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app() as (base, _app):
        first = await _ask(http, base, headers, message="Primera pregunta")
        cid = first["conversation_id"]
        second = await _ask(http, base, headers, message="Segunda pregunta", conversation_id=cid)
        assert await _counts(sessionmaker, cid, user.id) == (4, 4, 4)
        assert not (await load_conversation(sessionmaker, cid)).has_versions

        # Regenerate: a new answer to the same question; the model sees the branch up to it.
        again = await _ask(
            http, base, headers, conversation_id=cid,
            parent_message_id=second["user_message_id"], regenerate=True,
        )  # fmt: skip
        assert again["user_message_id"] == second["user_message_id"]
        assert _sent(fake) == [
            ("user", "Primera pregunta"),
            ("assistant", first["text"]),
            ("user", "Segunda pregunta"),
        ]
        branch = await _branch(http, base, headers, cid)
        assert [m["id"] for m in branch] == [
            first["user_message_id"],
            first["assistant_message_id"],
            second["user_message_id"],
            again["assistant_message_id"],
        ]
        assert branch[3]["parent_id"] == second["user_message_id"]
        assert branch[3]["sibling_ids"] == [
            second["assistant_message_id"],
            again["assistant_message_id"],
        ]
        assert [len(m["sibling_ids"]) for m in branch[:3]] == [1, 1, 1]
        assert await _counts(sessionmaker, cid, user.id) == (5, 5, 5)
        assert (await load_conversation(sessionmaker, cid)).has_versions

        # Edit the second question: a sibling question under the first answer.
        edited = await _ask(
            http, base, headers, conversation_id=cid, message="Segunda, corregida",
            parent_message_id=first["assistant_message_id"],
        )  # fmt: skip
        assert _sent(fake) == [
            ("user", "Primera pregunta"),
            ("assistant", first["text"]),
            ("user", "Segunda, corregida"),
        ]
        branch = await _branch(http, base, headers, cid)
        assert [m["content"] for m in branch[:3]] == [
            "Primera pregunta",
            first["text"],
            "Segunda, corregida",
        ]
        assert branch[2]["sibling_ids"] == [second["user_message_id"], edited["user_message_id"]]
        assert branch[3]["id"] == edited["assistant_message_id"]
        assert await _counts(sessionmaker, cid, user.id) == (7, 7, 7)

        # Back to the first version of the question: its newest answer comes with it, and the
        # choice is kept by the server.
        switch = await http.put(
            f"{base}/conversations/{cid}/branch",
            json={"message_id": second["user_message_id"]},
            headers=headers,
        )
        assert switch.status_code == 204, switch.text
        branch = await _branch(http, base, headers, cid)
        assert [m["id"] for m in branch[2:]] == [
            second["user_message_id"],
            again["assistant_message_id"],
        ]

        # A new message continues the branch shown, and the model sees only that branch.
        third = await _ask(http, base, headers, message="Tercera", conversation_id=cid)
        assert _sent(fake) == [
            ("user", "Primera pregunta"),
            ("assistant", first["text"]),
            ("user", "Segunda pregunta"),
            ("assistant", again["text"]),
            ("user", "Tercera"),
        ]
        branch = await _branch(http, base, headers, cid)
        assert branch[4]["parent_id"] == again["assistant_message_id"]
        assert branch[-1]["id"] == third["assistant_message_id"]

        # Editing the first question starts a new first message: nothing before it.
        root = await _ask(
            http, base, headers, conversation_id=cid, message="Otra primera",
            parent_message_id=str(NO_PARENT),
        )  # fmt: skip
        assert _sent(fake) == [("user", "Otra primera")]
        branch = await _branch(http, base, headers, cid)
        assert [m["id"] for m in branch] == [root["user_message_id"], root["assistant_message_id"]]
        assert branch[0]["parent_id"] is None
        assert branch[0]["sibling_ids"] == [first["user_message_id"], root["user_message_id"]]

        # Re-attaching to a regenerated answer names its question.
        replay = await http.get(
            f"{base}/chat/{again['assistant_message_id']}/stream", headers=headers
        )
        assert replay.text.count(second["user_message_id"]) == 1
        assert await _counts(sessionmaker, cid, user.id) == (11, 11, 11)

        # Export: the branch shown, or every version (each one marked).
        branch_md = await http.get(f"{base}/conversations/{cid}/export", headers=headers)
        assert "Otra primera" in branch_md.text and "Primera pregunta" not in branch_md.text
        tree_md = await http.get(
            f"{base}/conversations/{cid}/export", params={"scope": "tree"}, headers=headers
        )
        for text in ("Primera pregunta", "Segunda pregunta", "Segunda, corregida", "Tercera"):
            assert text in tree_md.text
        assert tree_md.text.count("versión 1 de 2") == 3
        assert tree_md.text.index("Segunda pregunta") < tree_md.text.index("Tercera")
        assert tree_md.text.index("Tercera") < tree_md.text.index("Segunda, corregida")
        tree_json = json.loads(
            (
                await http.get(
                    f"{base}/conversations/{cid}/export",
                    params={"scope": "tree", "format": "json"},
                    headers=headers,
                )
            ).content
        )
        assert tree_json["scope"] == "tree" and len(tree_json["messages"]) == 11
        assert tree_json["current_leaf_id"] == root["assistant_message_id"]
        parents = {m["id"]: m["parent_id"] for m in tree_json["messages"]}
        assert parents[edited["user_message_id"]] == first["assistant_message_id"]

    async with sessionmaker.begin() as session:
        assert await counters.reconcile(session) == counters.Reconciled(0, 0)


async def test_edit_and_regenerate_are_scoped_and_checked(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    owner, other = await make_user(), await make_user()
    headers, other_headers = await auth_headers(owner), await auth_headers(other)
    async with live_app() as (base, _app):
        asked = await _ask(http, base, headers, message="Pregunta del dueño")
        cid = asked["conversation_id"]
        elsewhere = await _ask(http, base, other_headers, message="Pregunta de otro")

        async def refused(body: dict[str, Any], who: dict[str, str] = headers) -> dict[str, Any]:
            response = await http.post(f"{base}/chat", json=body, headers=who)
            assert response.status_code in (404, 422), response.text
            return {"status": response.status_code, **response.json()}

        # Another user's conversation: 404, for regenerate and for edit alike.
        regenerate = {"parent_message_id": asked["user_message_id"], "regenerate": True}
        edit = {"parent_message_id": asked["assistant_message_id"], "message": "Cambio"}
        for body in (regenerate, edit):
            answer = await refused({"conversation_id": cid, **body}, other_headers)
            assert (answer["status"], answer["code"]) == (404, "not_found")
            assert answer["detail"] == "No se encontró la conversación."
        # A message of another conversation, or none at all: 404.
        foreign = {"conversation_id": cid, "parent_message_id": elsewhere["user_message_id"]}
        answer = await refused({**foreign, "regenerate": True})
        assert (answer["status"], answer["code"]) == (404, "message_not_found")
        # Regenerate names a question; an edit goes under an answer; both need the conversation.
        cases = [
            ({"conversation_id": cid, "regenerate": True}, "parent_required"),
            (
                {"conversation_id": cid, "regenerate": True,
                 "parent_message_id": asked["assistant_message_id"]},
                "invalid_parent",
            ),
            (
                {"conversation_id": cid, "message": "x",
                 "parent_message_id": asked["user_message_id"]},
                "invalid_parent",
            ),
            ({"message": "x", "parent_message_id": asked["assistant_message_id"]},
             "conversation_required"),
            ({"conversation_id": cid, "regenerate": True, "parent_message_id": str(NO_PARENT)},
             "message_not_found"),
        ]  # fmt: skip
        for body, code in cases:
            answer = await refused(body)
            assert answer["code"] == code, (body, answer)
            assert answer["detail"] and answer["detail"][-1] == "."
        # The edit's text follows the message rules.
        empty = await refused({**edit, "conversation_id": cid, "message": "  "})
        assert empty["code"] == "message_empty"

        # Switching to another user's branch, or to a message not in the conversation: 404.
        switch = await http.put(
            f"{base}/conversations/{cid}/branch",
            json={"message_id": asked["user_message_id"]},
            headers=other_headers,
        )
        assert switch.status_code == 404 and switch.json()["code"] == "not_found"
        switch = await http.put(
            f"{base}/conversations/{cid}/branch",
            json={"message_id": elsewhere["user_message_id"]},
            headers=headers,
        )
        assert switch.status_code == 404 and switch.json()["code"] == "message_not_found"
    # Nothing was written by any refused request.
    assert await _counts(sessionmaker, cid, owner.id) == (2, 2, 2)


async def test_regenerate_goes_through_the_rate_limit(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    async with live_app(chat_rate_limit_per_minute=1) as (base, _app):
        asked = await _ask(http, base, headers, message="Una sola")
        body = {
            "conversation_id": asked["conversation_id"],
            "parent_message_id": asked["user_message_id"],
            "regenerate": True,
        }
        again = await http.post(f"{base}/chat", json=body, headers=headers)
    assert again.status_code == 429 and again.json()["code"] == "rate_limited"
    assert await _counts(sessionmaker, asked["conversation_id"], user.id) == (2, 2, 2)


async def test_admin_viewer_and_reassignment_keep_the_tree(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker, colleague = await make_user(), await make_user()
    headers = await auth_headers(worker)
    admin_headers = await auth_headers(await make_user("admin"))
    async with live_app() as (base, _app):
        asked = await _ask(http, base, headers, message="Pregunta")
        cid = asked["conversation_id"]
        again = await _ask(
            http, base, headers, conversation_id=cid,
            parent_message_id=asked["user_message_id"], regenerate=True,
        )  # fmt: skip
        seen = await http.get(f"{base}/admin/conversations/{cid}/messages", headers=admin_headers)
        assert seen.status_code == 200, seen.text
        items = seen.json()["items"]
        assert [m["id"] for m in items] == [asked["user_message_id"], again["assistant_message_id"]]
        assert items[1]["sibling_ids"] == [
            asked["assistant_message_id"],
            again["assistant_message_id"],
        ]
        assert items[1]["user_id"] == str(worker.id)

        moved = await http.post(
            f"{base}/admin/conversations/{cid}/reassign",
            json={"user_id": str(colleague.id)},
            headers=admin_headers,
        )
        assert moved.status_code == 200 and moved.json()["message_count"] == 3
        colleague_headers = await auth_headers(colleague)
        branch = await _branch(http, base, colleague_headers, cid)
        assert [m["id"] for m in branch] == [
            asked["user_message_id"],
            again["assistant_message_id"],
        ]
        # The new owner goes on from the branch shown, and may switch versions.
        switch = await http.put(
            f"{base}/conversations/{cid}/branch",
            json={"message_id": asked["assistant_message_id"]},
            headers=colleague_headers,
        )
        assert switch.status_code == 204
        later = await _ask(http, base, colleague_headers, message="Sigo yo", conversation_id=cid)
        branch = await _branch(http, base, colleague_headers, cid)
        assert branch[2]["parent_id"] == asked["assistant_message_id"]
        assert branch[-1]["id"] == later["assistant_message_id"]
    assert (await _counts(sessionmaker, cid, colleague.id))[:2] == (5, 5)
    async with sessionmaker() as session:
        moved_from = await session.get(User, worker.id)
        assert moved_from is not None and moved_from.message_count == 0
