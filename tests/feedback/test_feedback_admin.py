"""The ratings in the admin "Uso" tab: 👍/👎 per Santiago day and the answers rated 👎 with
their comments, within the viewer's scope, keyset-paginated; a trabajador gets 403."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.conversations.models import Conversation, Message
from energyapp.feedback.models import MessageFeedback
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory

RATINGS = "/admin/usage/ratings"
POOR = "/admin/usage/ratings/down"


async def _rate(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    headers: dict[str, str],
    conversation: Conversation,
    rating: str,
    comment: str | None = None,
) -> uuid.UUID:
    async with sessionmaker() as session:
        answer = await session.scalar(
            select(Message.id).where(
                Message.conversation_id == conversation.id, Message.role == "assistant"
            )
        )
    response = await client.put(
        f"/conversations/{conversation.id}/messages/{answer}/feedback",
        json={"rating": rating, "comment": comment},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert answer is not None
    return answer


async def _rated_by(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    person: User,
    rating: str,
    comment: str | None = None,
) -> tuple[Conversation, uuid.UUID]:
    conversation = await make_conversation(person, messages=["Pregunta", "Respuesta"])
    answer = await _rate(
        client, sessionmaker, await auth_headers(person), conversation, rating, comment
    )
    return conversation, answer


async def test_counts_and_poor_answers_within_scope(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker = await make_user(full_name="Juan Pérez")
    boss = await make_user(role="supervisor", full_name="Sara Jefa")
    admin = await make_user(role="admin", full_name="Ana Admin")
    bad, bad_answer = await _rated_by(
        client, sessionmaker, auth_headers, make_conversation, worker, "down",
        "<b>Inventó</b> una norma",
    )  # fmt: skip
    await _rated_by(client, sessionmaker, auth_headers, make_conversation, worker, "up")
    await _rated_by(client, sessionmaker, auth_headers, make_conversation, admin, "down", "Lenta")
    await _rated_by(client, sessionmaker, auth_headers, make_conversation, boss, "up")

    as_admin = await auth_headers(admin)
    counts = (await client.get(RATINGS, headers=as_admin)).json()
    assert counts["totals"] == {"up": 2, "down": 2}
    assert [(i["up"], i["down"]) for i in counts["items"]] == [(2, 2)]
    listed = (await client.get(POOR, headers=as_admin)).json()["items"]
    assert [i["comment"] for i in listed] == ["Lenta", "<b>Inventó</b> una norma"]
    mine = listed[1]
    assert mine["message_id"] == str(bad_answer)
    assert mine["conversation_id"] == str(bad.id)
    assert (mine["full_name"], mine["email"], mine["model"]) == (
        "Juan Pérez", worker.email, "llama3.1:8b"
    )  # fmt: skip
    assert mine["user_id"] == str(worker.id)

    # A supervisor: the workers' and its own, not an admin's.
    as_boss = await auth_headers(boss)
    counts = (await client.get(RATINGS, headers=as_boss)).json()
    assert counts["totals"] == {"up": 2, "down": 1}
    listed = (await client.get(POOR, headers=as_boss)).json()["items"]
    assert [i["comment"] for i in listed] == ["<b>Inventó</b> una norma"]
    # The row's link opens the conversation in the viewer.
    opened = await client.get(f"/admin/conversations/{bad.id}/messages", headers=as_boss)
    assert opened.status_code == 200

    # A trabajador: 403, before anything else.
    as_worker = await auth_headers(worker)
    for url in (RATINGS, POOR, f"{POOR}?from=x"):
        refused = await client.get(url, headers=as_worker)
        assert refused.status_code == 403
        assert refused.json()["code"] == "forbidden"


async def test_reassigned_conversation_needs_both_in_scope(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # A worker's 👎 on a conversation now an admin's: the supervisor counts the worker's rating
    # (as usage counts what the worker caused) but cannot list a conversation it cannot open.
    worker = await make_user()
    admin = await make_user(role="admin")
    boss = await make_user(role="supervisor")
    conversation, _ = await _rated_by(
        client, sessionmaker, auth_headers, make_conversation, worker, "down", "Mal"
    )
    async with sessionmaker() as session:
        row = await session.get(Conversation, conversation.id)
        assert row is not None
        row.user_id = admin.id
        await session.commit()
    as_boss = await auth_headers(boss)
    assert (await client.get(RATINGS, headers=as_boss)).json()["totals"] == {"up": 0, "down": 1}
    assert (await client.get(POOR, headers=as_boss)).json()["items"] == []
    as_admin = await auth_headers(admin)
    assert len((await client.get(POOR, headers=as_admin)).json()["items"]) == 1


async def test_days_are_santiago_days_and_the_period_filters(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    worker = await make_user()
    admin = await auth_headers(await make_user(role="admin"))
    moments = {
        # 2026-11-03 01:30 UTC is 2 November, 22:30 in Santiago (UTC-3).
        datetime(2026, 11, 3, 1, 30, tzinfo=UTC): "down",
        datetime(2026, 11, 3, 4, 0, tzinfo=UTC): "up",
        datetime(2026, 11, 3, 12, 0, tzinfo=UTC): "down",
        datetime(2026, 10, 1, 12, 0, tzinfo=UTC): "down",  # out of the period
    }
    async with sessionmaker() as session:
        for moment, rating in moments.items():
            conversation = await make_conversation(worker, messages=["P", "R"])
            answer = await session.scalar(
                select(Message.id).where(
                    Message.conversation_id == conversation.id, Message.role == "assistant"
                )
            )
            assert answer is not None
            session.add(
                MessageFeedback(
                    message_id=answer, user_id=worker.id, rating=rating, comment=str(moment),
                    created_at=moment, updated_at=moment,
                )
            )  # fmt: skip
        await session.commit()
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    counts = (await client.get(RATINGS, params=period, headers=admin)).json()
    assert counts["from"] == "2026-11-01"
    assert [(i["day"], i["up"], i["down"]) for i in counts["items"]] == [
        ("2026-11-02", 0, 1),
        ("2026-11-03", 1, 1),
    ]
    # Keyset pages of one, newest first; a cursor is bound to its period.
    first = (await client.get(POOR, params={**period, "limit": 1}, headers=admin)).json()
    assert first["items"][0]["comment"] == str(datetime(2026, 11, 3, 12, 0, tzinfo=UTC))
    assert first["next_cursor"]
    second = await client.get(
        POOR, params={**period, "limit": 1, "cursor": first["next_cursor"]}, headers=admin
    )
    assert second.json()["items"][0]["comment"] == str(datetime(2026, 11, 3, 1, 30, tzinfo=UTC))
    assert second.json()["next_cursor"] is None
    replayed = await client.get(
        POOR,
        params={"from": "2026-10-01", "to": "2026-11-30", "cursor": first["next_cursor"]},
        headers=admin,
    )
    assert replayed.status_code == 422
    assert replayed.json()["code"] == "invalid_cursor"
    reversed_ = await client.get(
        POOR, params={"from": "2026-11-30", "to": "2026-11-01"}, headers=admin
    )
    assert reversed_.status_code == 422
    assert reversed_.json()["code"] == "invalid_range"
