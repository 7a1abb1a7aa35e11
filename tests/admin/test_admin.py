"""Admin panel behaviour: scoped lists, reassignment, user changes, audit trail, usage."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession, User
from energyapp.conversations.models import Message
from energyapp.core import dates
from energyapp.db import utcnow
from energyapp.usage.models import UsageEvent
from tests.admin.conftest import audit_events as _events
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory


async def _reload(sessionmaker: async_sessionmaker[AsyncSession], user: User) -> User:
    async with sessionmaker() as session:
        fresh = await session.get(User, user.id)
        assert fresh is not None
        return fresh


async def test_users_list_scope_order_and_counters(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    now = utcnow()
    admin = await make_user("admin", last_active_at=now - timedelta(hours=1))
    supervisor = await make_user("supervisor", last_active_at=now - timedelta(hours=3))
    other_supervisor = await make_user("supervisor", last_active_at=now)
    worker_a = await make_user(
        "trabajador", full_name="Ana Pérez", last_active_at=now - timedelta(hours=2)
    )
    worker_b = await make_user("trabajador", email="bruno@alvaradomazzei.cl", last_active_at=now)
    await make_conversation(worker_a, messages=["a", "b", "c"])
    await make_conversation(worker_a, messages=["d"])

    as_admin = await client.get("/admin/users", headers=await auth_headers(admin))
    assert as_admin.status_code == 200
    ids = [u["id"] for u in as_admin.json()["items"]]
    assert set(ids) == {
        str(u.id) for u in (admin, supervisor, other_supervisor, worker_a, worker_b)
    }
    times = [u["last_active_at"] for u in as_admin.json()["items"]]
    assert times == sorted(times, reverse=True)
    ana = next(u for u in as_admin.json()["items"] if u["id"] == str(worker_a.id))
    assert (ana["conversation_count"], ana["message_count"]) == (2, 4)
    assert set(ana) == {
        "id",
        "email",
        "full_name",
        "role",
        "is_active",
        "totp_enabled",
        "require_2fa",
        "api_keys_enabled",
        "created_at",
        "last_active_at",
        "last_login_at",
        "email_verified_at",
        "conversation_count",
        "message_count",
    }

    sup_headers = await auth_headers(supervisor)
    as_supervisor = await client.get("/admin/users", headers=sup_headers)
    assert [u["id"] for u in as_supervisor.json()["items"]] == [
        str(worker_b.id),
        str(worker_a.id),
        str(supervisor.id),
    ]
    admins_for_supervisor = await client.get(
        "/admin/users", params={"role": "admin"}, headers=sup_headers
    )
    assert admins_for_supervisor.json()["items"] == []
    by_name = await client.get("/admin/users", params={"q": "ana pérez"}, headers=sup_headers)
    assert [u["id"] for u in by_name.json()["items"]] == [str(worker_a.id)]
    by_email = await client.get("/admin/users", params={"q": "BRUNO@"}, headers=sup_headers)
    assert [u["id"] for u in by_email.json()["items"]] == [str(worker_b.id)]
    hidden = await client.get(
        "/admin/users", params={"q": other_supervisor.email}, headers=sup_headers
    )
    assert hidden.json()["items"] == []
    bad_role = await client.get("/admin/users", params={"role": "jefe"}, headers=sup_headers)
    assert bad_role.status_code == 422


async def test_users_walk_while_inserting(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await make_user("admin", last_active_at=utcnow() - timedelta(days=400))
    headers = await auth_headers(admin)
    now = utcnow()
    async with sessionmaker() as session:
        originals = [
            User(
                email=f"u{i}@alvaradomazzei.cl",
                full_name=f"U {i}",
                password_hash="x",
                last_active_at=now - timedelta(minutes=i // 20),
            )
            for i in range(250)
        ]
        session.add_all(originals)
        await session.commit()

    async def insert() -> None:
        for i in range(40):
            async with sessionmaker() as session:
                moment = now if i % 2 else now - timedelta(minutes=i % 12)
                session.add(
                    User(
                        email=f"n{i}@alvaradomazzei.cl",
                        full_name="N",
                        password_hash="x",
                        last_active_at=moment,
                    )
                )
                await session.commit()
            await asyncio.sleep(0)

    async def walk() -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 17}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/admin/users", params=params, headers=headers)).json()
            seen += [u["id"] for u in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return seen
            await asyncio.sleep(0)

    seen, _ = await asyncio.gather(walk(), insert())
    assert len(seen) == len(set(seen))
    assert {str(u.id) for u in originals} | {str(admin.id)} <= set(seen)


async def test_admin_conversations_scope_and_audit(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await make_user("admin")
    supervisor = await make_user("supervisor")
    worker = await make_user("trabajador")
    admin_conv = await make_conversation(admin, "admin")
    sup_conv = await make_conversation(supervisor, "sup")
    worker_convs = [await make_conversation(worker, f"w{i}") for i in range(3)]
    sup_headers = await auth_headers(supervisor)

    everything = await client.get("/admin/conversations", headers=sup_headers)
    ids = [c["id"] for c in everything.json()["items"]]
    assert str(admin_conv.id) not in ids
    assert set(ids) == {str(sup_conv.id)} | {str(c.id) for c in worker_convs}
    item = everything.json()["items"][0]
    assert item["owner_email"] == worker.email
    assert item["user_id"] == str(worker.id)

    own = await client.get(
        "/admin/conversations", params={"user_id": str(supervisor.id)}, headers=sup_headers
    )
    assert [c["id"] for c in own.json()["items"]] == [str(sup_conv.id)]
    first = await client.get(
        "/admin/conversations",
        params={"user_id": str(worker.id), "limit": 2},
        headers=sup_headers,
    )
    assert [c["id"] for c in first.json()["items"]] == [str(c.id) for c in worker_convs[::-1][:2]]
    second = await client.get(
        "/admin/conversations",
        params={"user_id": str(worker.id), "limit": 2, "cursor": first.json()["next_cursor"]},
        headers=sup_headers,
    )
    assert [c["id"] for c in second.json()["items"]] == [str(worker_convs[0].id)]

    events = await _events(sessionmaker, "conversations.listed")
    # The full list and the worker's first page; not the supervisor's own list, nor page two.
    assert [(e.actor_id, e.target_id) for e in events] == [
        (supervisor.id, None),
        (supervisor.id, str(worker.id)),
    ]


async def test_viewing_messages_is_audited(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    supervisor = await make_user("supervisor")
    worker = await make_user("trabajador")
    theirs = await make_conversation(worker, messages=["uno", "dos", "tres"])
    mine = await make_conversation(supervisor, messages=["propio"])
    headers = await auth_headers(supervisor)

    page = await client.get(
        f"/admin/conversations/{theirs.id}/messages", params={"limit": 2}, headers=headers
    )
    assert page.status_code == 200
    assert [m["content"] for m in page.json()["items"]] == ["uno", "dos"]
    assert page.json()["items"][0]["user_id"] == str(worker.id)
    rest = await client.get(
        f"/admin/conversations/{theirs.id}/messages",
        params={"cursor": page.json()["next_cursor"]},
        headers=headers,
    )
    assert [m["content"] for m in rest.json()["items"]] == ["tres"]
    await client.get(f"/admin/conversations/{mine.id}/messages", headers=headers)

    # Every page of someone else's conversation is recorded, the first one and each
    # continuation; reading one's own is not.
    events = await _events(sessionmaker, "conversation.viewed")
    assert [(e.actor_id, e.target_id) for e in events] == [(supervisor.id, str(theirs.id))] * 2
    assert [e.details for e in events] == [
        {"owner_id": str(worker.id), "continuation": False},
        {"owner_id": str(worker.id), "continuation": True},
    ]
    assert all(e.ip is not None for e in events)


async def test_a_head_on_someone_elses_messages_is_not_audited(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A HEAD (a link checker, a download manager's probe) gets the status a GET would, after
    the same scope checks, and no body: no conversation was read, so the trail says none was."""
    admin = await auth_headers(await make_user("admin"))
    theirs = await make_conversation(await make_user("trabajador"), messages=["uno"])
    base = f"/admin/conversations/{theirs.id}"
    for path in (f"{base}/messages", f"{base}/instructions"):
        head = await client.head(path, headers=admin)
        assert (head.status_code, head.content) == (200, b"")
    assert (
        await client.head(f"/admin/conversations/{uuid.uuid4()}/messages", headers=admin)
    ).status_code == 404
    assert await _events(sessionmaker, "conversation.viewed") == []
    for path in (f"{base}/messages", f"{base}/instructions"):
        assert (await client.get(path, headers=admin)).status_code == 200
    assert len(await _events(sessionmaker, "conversation.viewed")) == 2


async def test_reassign_moves_counters_and_audits(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    supervisor = await make_user("supervisor")
    old_owner = await make_user("trabajador")
    new_owner = await make_user("trabajador")
    conversation = await make_conversation(old_owner, messages=["a", "b", "c", "d"])
    await make_conversation(old_owner, messages=["e"])
    headers = await auth_headers(supervisor)

    response = await client.post(
        f"/admin/conversations/{conversation.id}/reassign",
        json={"user_id": str(new_owner.id)},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["user_id"] == str(new_owner.id)
    assert response.json()["owner_email"] == new_owner.email
    old, new = await _reload(sessionmaker, old_owner), await _reload(sessionmaker, new_owner)
    assert (old.conversation_count, old.message_count) == (1, 1)
    assert (new.conversation_count, new.message_count) == (1, 4)

    # The new owner sees it in its own list; the old one no longer does.
    mine = await client.get("/conversations", headers=await auth_headers(new_owner))
    assert [c["id"] for c in mine.json()["items"]] == [str(conversation.id)]
    gone = await client.get(
        f"/conversations/{conversation.id}", headers=await auth_headers(old_owner)
    )
    assert gone.status_code == 404
    # Usage stays with whoever caused the messages.
    async with sessionmaker() as session:
        causers = set(
            (
                await session.scalars(
                    select(Message.user_id).where(Message.conversation_id == conversation.id)
                )
            ).all()
        )
    assert causers == {old_owner.id}

    events = await _events(sessionmaker, "conversation.reassigned")
    assert len(events) == 1
    assert events[0].details == {
        "from_user_id": str(old_owner.id),
        "to_user_id": str(new_owner.id),
    }

    same = await client.post(
        f"/admin/conversations/{conversation.id}/reassign",
        json={"user_id": str(new_owner.id)},
        headers=headers,
    )
    assert same.status_code == 200
    assert len(await _events(sessionmaker, "conversation.reassigned")) == 1


async def test_reassign_target_rules(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await make_user("admin")
    supervisor = await make_user("supervisor")
    other_supervisor = await make_user("supervisor")
    worker = await make_user("trabajador")
    inactive = await make_user("trabajador", is_active=False)
    conversation = await make_conversation(worker, messages=["x"])
    sup_headers = await auth_headers(supervisor)
    url = f"/admin/conversations/{conversation.id}/reassign"

    for target in (admin, other_supervisor):
        out = await client.post(url, json={"user_id": str(target.id)}, headers=sup_headers)
        assert out.status_code == 404
        assert out.json()["code"] == "user_not_found"
    missing = await client.post(url, json={"user_id": str(uuid.uuid4())}, headers=sup_headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "user_not_found"
    disabled = await client.post(url, json={"user_id": str(inactive.id)}, headers=sup_headers)
    assert disabled.status_code == 422
    assert disabled.json()["code"] == "user_inactive"
    assert (await client.post(url, json={}, headers=sup_headers)).status_code == 422
    bad = await client.post(url, json={"user_id": "nadie"}, headers=sup_headers)
    assert bad.status_code == 422

    # An admin may hand it to anyone active, including another supervisor...
    admin_headers = await auth_headers(admin)
    moved = await client.post(
        url, json={"user_id": str(other_supervisor.id)}, headers=admin_headers
    )
    assert moved.status_code == 200
    # ...after which it is out of the supervisor's scope.
    hidden = await client.get(
        f"/admin/conversations/{conversation.id}/messages", headers=sup_headers
    )
    assert hidden.status_code == 404
    assert (await _reload(sessionmaker, worker)).conversation_count == 0
    assert (await _reload(sessionmaker, other_supervisor)).message_count == 1


async def test_patch_user_role_and_activation(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await make_user("admin")
    worker = await make_user("trabajador")
    headers = await auth_headers(admin)
    worker_headers = await auth_headers(worker)
    assert (await client.get("/conversations", headers=worker_headers)).status_code == 200

    promoted = await client.patch(
        f"/admin/users/{worker.id}", json={"role": "supervisor"}, headers=headers
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "supervisor"
    # The role takes effect on the next request, with the same token.
    assert (await client.get("/admin/users", headers=worker_headers)).status_code == 200

    deactivated = await client.patch(
        f"/admin/users/{worker.id}", json={"is_active": False}, headers=headers
    )
    assert deactivated.status_code == 200
    assert deactivated.json()["is_active"] is False
    refused = await client.get("/conversations", headers=worker_headers)
    assert refused.status_code == 401
    async with sessionmaker() as session:
        open_sessions = (
            await session.scalars(
                select(AuthSession).where(
                    AuthSession.user_id == worker.id, AuthSession.revoked_at.is_(None)
                )
            )
        ).all()
    assert open_sessions == []

    reactivated = await client.patch(
        f"/admin/users/{worker.id}", json={"is_active": True}, headers=headers
    )
    assert reactivated.json()["is_active"] is True

    role_events = await _events(sessionmaker, "user.role_changed")
    assert [(e.target_id, e.details) for e in role_events] == [
        (str(worker.id), {"from": "trabajador", "to": "supervisor"})
    ]
    assert len(await _events(sessionmaker, "user.deactivated")) == 1
    assert len(await _events(sessionmaker, "user.activated")) == 1

    for body in ({"role": "jefe"}, {"is_active": "tal vez"}, {"email": "x@y.cl"}):
        invalid = await client.patch(f"/admin/users/{worker.id}", json=body, headers=headers)
        assert invalid.status_code == 422, body
    missing = await client.patch(
        f"/admin/users/{uuid.uuid4()}", json={"role": "admin"}, headers=headers
    )
    assert missing.status_code == 404


async def test_last_active_admin_is_kept(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await make_user("admin")
    await make_user("admin", is_active=False)  # an inactive admin does not count
    headers = await auth_headers(admin)
    for body in ({"role": "supervisor"}, {"role": "trabajador", "is_active": True}):
        response = await client.patch(f"/admin/users/{admin.id}", json=body, headers=headers)
        assert response.status_code == 409
        assert response.json()["code"] == "last_admin"
    self_off = await client.patch(
        f"/admin/users/{admin.id}", json={"is_active": False}, headers=headers
    )
    assert self_off.status_code == 409
    assert self_off.json()["code"] == "cannot_deactivate_self"
    assert (await _reload(sessionmaker, admin)).role == "admin"

    second = await make_user("admin")
    demoted = await client.patch(
        f"/admin/users/{admin.id}", json={"role": "supervisor"}, headers=headers
    )
    assert demoted.status_code == 200
    # Now a supervisor: the admin-only endpoint answers 403 to the same token.
    again = await client.patch(
        f"/admin/users/{second.id}", json={"role": "trabajador"}, headers=headers
    )
    assert again.status_code == 403
    last = await client.patch(
        f"/admin/users/{second.id}",
        json={"is_active": False},
        headers=await auth_headers(second),
    )
    assert last.status_code == 409


async def test_audit_list_filters_and_pages(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    admin = await make_user("admin")
    worker = await make_user("trabajador")
    headers = await auth_headers(admin)
    worker_headers = await auth_headers(worker)
    conversations = [await make_conversation(worker) for _ in range(5)]
    for conversation in conversations:
        assert (
            await client.delete(f"/conversations/{conversation.id}", headers=worker_headers)
        ).status_code == 204
    await client.patch(f"/admin/users/{worker.id}", json={"role": "supervisor"}, headers=headers)

    everything = await client.get("/admin/audit", headers=headers)
    assert everything.status_code == 200
    actions = [e["action"] for e in everything.json()["items"]]
    assert actions == ["user.role_changed"] + ["conversation.deleted"] * 5
    top = everything.json()["items"][0]
    assert top["actor_id"] == str(admin.id)
    assert top["actor_email"] == admin.email
    assert top["target_type"] == "user" and top["target_id"] == str(worker.id)

    by_actor = await client.get(
        "/admin/audit", params={"actor_id": str(worker.id), "limit": 2}, headers=headers
    )
    targets = [e["target_id"] for e in by_actor.json()["items"]]
    cursor = by_actor.json()["next_cursor"]
    while cursor:
        page = await client.get(
            "/admin/audit",
            params={"actor_id": str(worker.id), "limit": 2, "cursor": cursor},
            headers=headers,
        )
        targets += [e["target_id"] for e in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert targets == [str(c.id) for c in reversed(conversations)]

    by_action = await client.get(
        "/admin/audit", params={"action": "user.role_changed"}, headers=headers
    )
    assert len(by_action.json()["items"]) == 1
    bad = await client.get("/admin/audit", params={"actor_id": "x"}, headers=headers)
    assert bad.status_code == 422


async def test_usage_by_day_and_user_within_scope(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    admin = await make_user("admin")
    supervisor = await make_user("supervisor")
    worker = await make_user("trabajador")
    await make_conversation(worker, messages=["p", "r", "p", "r"], tokens=(100, 50))
    await make_conversation(admin, messages=["p", "r"], tokens=(1000, 500))
    today = dates.local_today()  # the report's days are Santiago's

    as_admin = await client.get(
        "/admin/usage", params={"group_by": "user"}, headers=await auth_headers(admin)
    )
    assert as_admin.status_code == 200
    report = as_admin.json()
    assert report["totals"] == {
        "prompt_tokens": 1200,
        "completion_tokens": 600,
        "messages": 6,
        "answers": 3,
    }
    assert [i["user_id"] for i in report["items"]] == [str(admin.id), str(worker.id)]
    assert report["items"][1]["email"] == worker.email
    assert (report["items"][1]["messages"], report["items"][1]["answers"]) == (4, 2)
    assert report["to"] == today.isoformat()
    assert report["from"] == (today - timedelta(days=29)).isoformat()

    sup_headers = await auth_headers(supervisor)
    by_day = await client.get("/admin/usage", params={"group_by": "day"}, headers=sup_headers)
    assert by_day.json()["totals"] == {
        "prompt_tokens": 200,
        "completion_tokens": 100,
        "messages": 4,
        "answers": 2,
    }
    day_items = by_day.json()["items"]
    assert sum(i["messages"] for i in day_items) == 4
    assert all(i["user_id"] is None and i["day"] for i in day_items)
    by_user = await client.get("/admin/usage", params={"group_by": "user"}, headers=sup_headers)
    assert [i["user_id"] for i in by_user.json()["items"]] == [str(worker.id)]

    past = await client.get(
        "/admin/usage",
        params={"from": "2020-01-01", "to": "2020-01-31"},
        headers=sup_headers,
    )
    assert past.json()["items"] == []
    assert past.json()["totals"]["messages"] == 0

    for params in (
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},
        {"group_by": "month"},
        {"from": "ayer"},
    ):
        bad = await client.get("/admin/usage", params=params, headers=sup_headers)
        assert bad.status_code == 422, params


async def test_usage_by_day_has_the_average_wait_for_the_first_token(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await make_user("admin")
    await make_conversation(admin, messages=["p", "r", "p", "r", "p", "r"], tokens=(10, 5))
    async with sessionmaker.begin() as session:
        answers = (await session.scalars(select(UsageEvent).where(UsageEvent.answers == 1))).all()
        for answer, wait in zip(answers, (1200, 2500, None), strict=True):
            answer.first_token_ms = wait  # an answer that failed before its first token: None
    headers = await auth_headers(admin)
    by_day = await client.get("/admin/usage", params={"group_by": "day"}, headers=headers)
    (today,) = by_day.json()["items"]
    assert today["avg_first_token_ms"] == 1850.0
    past = await client.get(
        "/admin/usage", params={"from": "2020-01-01", "to": "2020-01-31"}, headers=headers
    )
    assert past.json()["items"] == []


async def test_usage_dates_are_bounded(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    """The ends of the ``date`` range overflowed the report's day arithmetic (a 500): every day
    a request names lies between 2000-01-01 and a year after today, else 422 ``invalid_date``."""
    headers = await auth_headers(await make_user("admin"))
    today = utcnow().date()
    out_of_range = ("9999-12-31", "0001-01-01", "0001-01-04", "1999-12-31")
    far = (today + timedelta(days=367)).isoformat()
    for params in (
        *({"to": day} for day in out_of_range),
        *({"from": day} for day in out_of_range),
        {"from": "0001-01-01", "to": "9999-12-31"},
        {"from": today.isoformat(), "to": far},
        {"to": far, "group_by": "user"},
    ):
        response = await client.get("/admin/usage", params=params, headers=headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["code"] == "invalid_date", params
        assert "01-01-2000" in response.json()["detail"], params
        # Named as the usage and audit pages name them (the API's "from"/"to" are English).
        assert "«desde»" in response.json()["detail"] or "«hasta»" in response.json()["detail"]
    # Not a date at all (year 10000, month 13): the generic validation error, still not a 500.
    for day in ("10000-01-01", "2026-13-01"):
        response = await client.get("/admin/usage", params={"to": day}, headers=headers)
        assert response.status_code == 422 and response.json()["code"] == "validation_error"
    for params in (
        {"from": "2000-01-01", "to": "2000-12-31"},
        {
            "from": (today + timedelta(days=1)).isoformat(),
            "to": (today + timedelta(366)).isoformat(),
        },
        {"to": "2000-01-01"},  # the default start (29 days earlier) is not a parameter
    ):
        response = await client.get("/admin/usage", params=params, headers=headers)
        assert response.status_code == 200, (params, response.text)


async def test_search_and_counts_do_not_leak(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    supervisor = await make_user("supervisor")
    worker = await make_user("trabajador")
    await make_conversation(worker, "Presupuesto confidencial", messages=["presupuesto secreto"])
    headers = await auth_headers(supervisor)
    own = await client.get("/conversations", params={"q": "presupuesto"}, headers=headers)
    assert own.json()["items"] == []
    users = (await client.get("/admin/users", headers=headers)).json()["items"]
    me = next(u for u in users if u["id"] == str(supervisor.id))
    assert (me["conversation_count"], me["message_count"]) == (0, 0)


async def test_two_admins_demoting_each_other_leave_one_admin(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The last-admin rule locks the active admins: two demotions sent together cannot both
    pass (they did on SQLite, where ``SELECT ... FOR UPDATE`` locked nothing)."""
    for _ in range(3):
        async with sessionmaker() as session:  # the survivor of the last round steps down
            await session.execute(update(User).values(role="trabajador"))
            await session.commit()
        first, second = await make_user("admin"), await make_user("admin")
        answers = await asyncio.gather(
            client.patch(
                f"/admin/users/{second.id}",
                json={"role": "trabajador"},
                headers=await auth_headers(first),
            ),
            client.patch(
                f"/admin/users/{first.id}",
                json={"role": "trabajador"},
                headers=await auth_headers(second),
            ),
        )
        # The loser is refused by the rule, as the deadlock's victim (PostgreSQL: db_busy), or
        # as no admin any more when its request starts after the winner's.
        codes = sorted(r.json()["code"] if r.status_code != 200 else "ok" for r in answers)
        assert codes in (["last_admin", "ok"], ["db_busy", "ok"], ["forbidden", "ok"]), codes
        roles = [(await _reload(sessionmaker, user)).role for user in (first, second)]
        assert sorted(roles) == ["admin", "trabajador"]


async def test_one_conversation_reassigned_twice_at_once_keeps_the_counters(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The conversation row is locked while it moves: each reassignment moves the counters
    from the owner it found, so the owners' counts always add up."""
    admin = await make_user("admin")
    headers = await auth_headers(admin)
    for _ in range(3):
        owner, one, other = [await make_user() for _ in range(3)]
        conversation = await make_conversation(owner, "compartida", messages=["a", "b", "c"])
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/admin/conversations/{conversation.id}/reassign",
                    json={"user_id": str(target.id)},
                    headers=headers,
                )
                for target in (one, other)
            )
        )
        # Both are served, one after the other (PostgreSQL answered the second 404: the row it
        # had waited for no longer matched the owner it had joined).
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        people = [await _reload(sessionmaker, user) for user in (owner, one, other)]
        assert sum(p.conversation_count for p in people) == 1
        assert sum(p.message_count for p in people) == 3
        assert min(p.conversation_count for p in people) == 0
