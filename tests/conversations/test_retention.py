"""Retention: a policy per role, the chat list's notice, legal holds (admin only, audited, kept
by the run and by the owner's delete), `energyapp retention run --dry-run` and a real run in
batches against backdated rows, with the counters kept right and one summary audit event."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.audit.models import AuditEvent
from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.conversations import counters
from energyapp.conversations.models import Conversation, Message
from energyapp.core.dates import local_day
from energyapp.db import utcnow
from tests.cli.test_cli import ROOT, run_cli
from tests.conftest import HeadersFactory, UserFactory, make_settings
from tests.conversations.conftest import ConversationFactory

POLICY = '{"trabajador": 30}'


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, retention_days={"trabajador": 30}, retention_warning_days=7)


def _cli_env(db_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    env |= {
        "ENERGYAPP_DB_URL": db_url,
        "ENERGYAPP_LOG_LEVEL": "WARNING",
        "_CWD": str(tmp_path),
        "ENERGYAPP_CONFIG_FILE": str(ROOT / "config" / "settings.yaml"),
        "ENERGYAPP_RETENTION_DAYS": POLICY,
        **extra,
    }
    return env


async def _titles(sessionmaker: async_sessionmaker[AsyncSession]) -> set[str]:
    async with sessionmaker() as session:
        return set((await session.scalars(select(Conversation.title))).all())


async def _events(sessionmaker: async_sessionmaker[AsyncSession], action: str) -> list[AuditEvent]:
    async with sessionmaker() as session:
        query = select(AuditEvent).where(AuditEvent.action == action)
        return list((await session.scalars(query)).all())


async def test_policy_hold_dry_run_and_run_in_batches(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    db_url: str,
    tmp_path: Path,
) -> None:
    now = utcnow()
    admin = await auth_headers(await make_user(role="admin"))
    ana = await make_user(email="ana@alvaradomazzei.cl")
    luis = await make_user(email="luis@alvaradomazzei.cl")
    boss = await make_user(role="supervisor")
    old = [
        await make_conversation(
            ana, f"Vieja {i}", ["a", "b"], updated_at=now - timedelta(days=31 + i)
        )
        for i in range(3)
    ]
    await make_conversation(luis, "Vieja de Luis", ["a"], updated_at=now - timedelta(days=90))
    held = await make_conversation(
        ana, "En juicio", ["a", "b"], updated_at=now - timedelta(days=200)
    )
    await make_conversation(ana, "Reciente", ["a", "b"], updated_at=now - timedelta(days=29))
    await make_conversation(boss, "Del supervisor", ["a"], updated_at=now - timedelta(days=400))

    placed = await client.put(
        f"/admin/conversations/{held.id}/legal-hold",
        json={"reason": "Causa laboral rol 123-2026"},
        headers=admin,
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["reason"] == "Causa laboral rol 123-2026"

    env = _cli_env(db_url, tmp_path, ENERGYAPP_RETENTION_BATCH_SIZE="2")
    preview = await asyncio.to_thread(run_cli, ["retention", "run", "--dry-run"], env)
    assert preview.returncode == 0, preview.stderr
    assert "se eliminarían 4 conversaciones" in preview.stdout
    for conversation in old:
        assert str(conversation.id) in preview.stdout
    assert local_day(old[0].updated_at) in preview.stdout  # dd-mm-aaaa, Santiago
    assert "En juicio" not in preview.stdout and "Reciente" not in preview.stdout
    assert len(await _titles(sessionmaker)) == 7  # nothing deleted
    assert await _events(sessionmaker, "retention.run") == []

    done = await asyncio.to_thread(run_cli, ["retention", "run"], env)
    assert done.returncode == 0, done.stderr
    assert "Eliminadas 4 conversaciones (7 mensajes) en 2 lotes." in done.stdout
    assert await _titles(sessionmaker) == {"En juicio", "Reciente", "Del supervisor"}
    async with sessionmaker() as session:
        orphan = select(func.count(Message.id)).where(
            Message.conversation_id.in_([c.id for c in old])
        )
        assert await session.scalar(orphan) == 0  # the messages went with them
        users = {u.email: u for u in (await session.scalars(select(User))).all()}
        # Counters followed the deletion: nothing to reconcile.
        assert await counters.reconcile(session) == counters.Reconciled(users=0, conversations=0)
    assert (users[ana.email].conversation_count, users[ana.email].message_count) == (2, 4)
    assert (users[luis.email].conversation_count, users[luis.email].message_count) == (0, 0)
    [summary] = await _events(sessionmaker, "retention.run")
    assert summary.actor_id is None
    assert summary.details == {
        "conversations": 4,
        "messages": 7,
        "batches": 2,
        "policy_days": {"trabajador": 30},
        "temporary_chat_hours": 24,
    }

    # Released, the held conversation follows the policy at the next run.
    released = await client.delete(f"/admin/conversations/{held.id}/legal-hold", headers=admin)
    assert released.status_code == 204
    again = await asyncio.to_thread(run_cli, ["retention", "run"], env)
    assert "Eliminadas 1 conversaciones" in again.stdout
    assert await _titles(sessionmaker) == {"Reciente", "Del supervisor"}


async def test_retention_off_deletes_nothing(
    make_user: UserFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    db_url: str,
    tmp_path: Path,
) -> None:
    user = await make_user()
    await make_conversation(user, "Antigua", ["a"], updated_at=utcnow() - timedelta(days=3000))
    env = _cli_env(db_url, tmp_path, ENERGYAPP_RETENTION_DAYS="{}")
    result = await asyncio.to_thread(run_cli, ["retention", "run"], env)
    assert result.returncode == 0, result.stderr
    assert "Retención desactivada" in result.stdout
    assert await _titles(sessionmaker) == {"Antigua"}


async def test_legal_hold_is_audited_and_blocks_the_owners_delete(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin_user = await make_user(role="admin")
    admin = await auth_headers(admin_user)
    owner = await make_user()
    conversation = await make_conversation(owner, "Contrato", ["a", "b"])
    url = f"/admin/conversations/{conversation.id}/legal-hold"
    missing = await client.get(url, headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "hold_not_found")
    blank = await client.put(url, json={"reason": "   "}, headers=admin)
    assert blank.status_code == 422
    await client.put(url, json={"reason": "Fiscalización DT"}, headers=admin)
    await client.put(url, json={"reason": "Fiscalización DT"}, headers=admin)  # unchanged
    changed = await client.put(url, json={"reason": "Causa 55-2026"}, headers=admin)
    assert changed.json()["created_by"] == str(admin_user.id)
    shown = await client.get(url, headers=admin)
    assert shown.json()["reason"] == "Causa 55-2026"
    events = await _events(sessionmaker, "conversation.legal_hold")
    assert [(e.details or {}).get("reason") for e in events] == [
        "Fiscalización DT",
        "Causa 55-2026",
    ]
    assert all(e.target_id == str(conversation.id) for e in events)

    owner_headers = await auth_headers(owner)
    refused = await client.delete(f"/conversations/{conversation.id}", headers=owner_headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "conversation_on_hold")
    assert await _titles(sessionmaker) == {"Contrato"}

    assert (await client.delete(url, headers=admin)).status_code == 204
    assert len(await _events(sessionmaker, "conversation.legal_hold_released")) == 1
    gone = await client.delete(url, headers=admin)
    assert (gone.status_code, gone.json()["code"]) == (404, "hold_not_found")
    deleted = await client.delete(f"/conversations/{conversation.id}", headers=owner_headers)
    assert deleted.status_code == 204


@pytest.mark.parametrize("role", ["supervisor", "trabajador"])
async def test_only_admins_place_holds(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    role: str,
) -> None:
    caller = await auth_headers(await make_user(role=role))
    worker = await make_user()
    conversation = await make_conversation(worker, "De un trabajador")  # in a supervisor's scope
    url = f"/admin/conversations/{conversation.id}/legal-hold"
    for method, body in (("GET", None), ("PUT", {"reason": "x"}), ("DELETE", None)):
        response = await client.request(method, url, json=body, headers=caller)
        assert response.status_code == 403, method
        assert response.json()["code"] == "forbidden"


async def test_chat_list_notice_names_what_will_be_deleted(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
) -> None:
    now = utcnow()
    admin = await auth_headers(await make_user(role="admin"))
    worker = await make_user()
    soon = await make_conversation(worker, "Pronto", ["a"], updated_at=now - timedelta(days=25))
    held = await make_conversation(worker, "Retenida", ["a"], updated_at=now - timedelta(days=26))
    await make_conversation(worker, "Lejos", ["a"], updated_at=now - timedelta(days=10))
    await client.put(
        f"/admin/conversations/{held.id}/legal-hold", json={"reason": "Juicio"}, headers=admin
    )
    notice = (
        await client.get("/conversations/retention", headers=await auth_headers(worker))
    ).json()
    assert notice["retention_days"] == 30 and notice["warning_days"] == 7
    assert notice["expiring_count"] == 1
    [item] = notice["expiring"]
    assert (item["id"], item["title"]) == (str(soon.id), "Pronto")
    assert item["deleted_from"].startswith(
        (soon.updated_at + timedelta(days=30)).date().isoformat()
    )
    # A role without a policy keeps everything and is warned of nothing.
    boss = await make_user(role="supervisor")
    await make_conversation(boss, "Antigua", ["a"], updated_at=now - timedelta(days=500))
    quiet = (await client.get("/conversations/retention", headers=await auth_headers(boss))).json()
    assert quiet == {"retention_days": None, "warning_days": 7, "expiring_count": 0, "expiring": []}
