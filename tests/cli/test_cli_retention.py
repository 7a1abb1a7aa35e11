"""`energyapp retention run --dry-run` leaves no trace of a temporary chat: an ordinary
conversation is listed with its title (the admin running the policy sees what goes), a temporary
chat only by its id, its age and its messages, never its title, nor its owner."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Conversation
from energyapp.db import utcnow
from tests.cli.conftest import run_cli
from tests.conftest import UserFactory
from tests.conversations.test_retention import _cli_env


async def _conversation(
    sessionmaker: async_sessionmaker[AsyncSession],
    user_id: object,
    title: str,
    hours_ago: float,
    *,
    temporary: bool = False,
) -> Conversation:
    conversation = Conversation(
        user_id=user_id,
        title=title,
        title_source="user",
        temporary=temporary,
        message_count=0,
        updated_at=utcnow() - timedelta(hours=hours_ago),
    )
    async with sessionmaker() as session:
        session.add(conversation)
        await session.commit()
    return conversation


async def test_dry_run_prints_no_title_of_a_temporary_chat(
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    db_url: str,
    tmp_path: Path,
) -> None:
    ana = await make_user(email="ana.temporal@alvaradomazzei.cl")
    secret = await _conversation(
        sessionmaker, ana.id, "Mi consulta médica privada", 30, temporary=True
    )
    kept = await _conversation(sessionmaker, ana.id, "Otra consulta reciente", 1, temporary=True)
    old = await _conversation(sessionmaker, ana.id, "Informe de turno antiguo", 24 * 40)

    env = _cli_env(db_url, tmp_path, ENERGYAPP_LOG_LEVEL="DEBUG")  # a title logged shows too
    preview = await asyncio.to_thread(run_cli, ["retention", "run", "--dry-run"], env)
    assert preview.returncode == 0, preview.stderr
    printed = preview.stdout + preview.stderr
    assert "Mi consulta médica privada" not in printed  # nor logged
    assert "Otra consulta reciente" not in printed
    [line] = [row for row in preview.stdout.splitlines() if str(secret.id) in row]
    assert "chat temporal" in line and "hace 30 h" in line and ana.email not in line
    assert str(kept.id) not in printed  # not expired yet
    # An ordinary conversation keeps its line: id, day, owner, messages, title.
    [ordinary] = [row for row in preview.stdout.splitlines() if str(old.id) in row]
    assert "«Informe de turno antiguo»" in ordinary and ana.email in ordinary
    assert "se eliminarían 2 conversaciones (1 chat temporal)" in preview.stdout
