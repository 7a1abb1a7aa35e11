"""Statements run straight on asyncpg (core/direct.py) behave exactly as through SQLAlchemy:
same values in and out, same transactions, same exceptions, same pool recovery."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import JSON, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from energyapp.admin import service as admin_service
from energyapp.audit import service as audit_service
from energyapp.audit.models import AUDIT_EVENTS
from energyapp.auth.deps import _SESSION_USER
from energyapp.auth.models import USERS, AuthSession
from energyapp.conversations import service as conversations_service
from energyapp.core.direct import DirectStatement
from energyapp.db import UTCDateTime, autocommit, create_engine, new_id, utcnow
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory

_EVENT = insert(AUDIT_EVENTS).values(
    id=bindparam("a_id"),
    created_at=bindparam("a_at", type_=UTCDateTime),
    action="direct.test",  # a value bound in the statement itself
    target_id=bindparam("a_target"),
    details=bindparam("a_details", type_=JSON),
)
_RENAME = update(USERS).where(USERS.c.id == bindparam("b_id")).values(full_name=bindparam("name"))


async def _session_of(engine: AsyncEngine, user_id: uuid.UUID) -> uuid.UUID:
    session_id = new_id()
    async with engine.begin() as conn:
        await conn.execute(
            insert(AuthSession.__table__).values(
                id=session_id,
                user_id=user_id,
                created_at=utcnow(),
                expires_at=utcnow() + timedelta(days=1),
                last_used_at=utcnow(),
            )
        )
    return session_id


def _event(**values: Any) -> dict[str, Any]:
    return {"a_id": new_id(), "a_at": utcnow(), "a_target": "x", "a_details": None, **values}


_STORED = text("SELECT details, details IS NULL FROM audit_events WHERE action = 'direct.test'")


async def _events(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT count(*) FROM audit_events WHERE action = 'direct.test'")
        )
    return int(found or 0)


async def test_a_row_reads_the_same_as_through_sqlalchemy(
    engine: AsyncEngine, make_user: UserFactory
) -> None:
    user = await make_user(role="supervisor")
    session_id = await _session_of(engine, user.id)
    params = {"user_id": user.id, "session_id": session_id}
    statement = DirectStatement(_SESSION_USER.statement)
    async with autocommit(engine).connect() as conn:
        direct = await statement.first(conn, params)
        plain = (await conn.execute(_SESSION_USER.statement, params)).first()
        missing = await statement.first(conn, {"user_id": user.id, "session_id": new_id()})
    assert plain is not None and direct is not None
    assert dict(direct) == dict(plain._mapping)
    assert [type(value) for value in direct.values()] == [
        type(value) for value in plain._mapping.values()
    ]
    assert direct["created_at"].tzinfo is not None and direct["role"] == "supervisor"
    assert missing is None
    # The direct path is taken on PostgreSQL (compiled once), and only there.
    assert (statement._compiled is not None) == (engine.dialect.name == "postgresql")


async def test_writes_bind_literals_and_count_rows(
    engine: AsyncEngine, make_user: UserFactory
) -> None:
    user = await make_user()
    statement = DirectStatement(_EVENT)
    rename = DirectStatement(_RENAME)
    for details in (None, {"owner_id": "x", "n": [1, 2]}):
        async with autocommit(engine).connect() as conn:
            await conn.execute(_EVENT, _event(a_details=details))
            reference = (await conn.execute(_STORED)).one()
            await conn.execute(text("DELETE FROM audit_events WHERE action = 'direct.test'"))
            await statement.execute(conn, _event(a_details=details))
            stored = (await conn.execute(_STORED)).one()
            await conn.execute(text("DELETE FROM audit_events WHERE action = 'direct.test'"))
        assert stored == reference  # JSON, None included, stored as SQLAlchemy stores it
    async with autocommit(engine).connect() as conn:
        assert await statement.execute(conn, _event())
        assert await rename.execute(conn, {"b_id": user.id, "name": "Nuevo Nombre"}) == 1
        assert await rename.execute(conn, {"b_id": new_id(), "name": "Nadie"}) == 0
    assert await _events(engine) == 1
    async with engine.connect() as conn:
        assert await conn.scalar(select(USERS.c.full_name).where(USERS.c.id == user.id)) == (
            "Nuevo Nombre"
        )


async def test_in_a_transaction_the_statement_stays_inside_it(engine: AsyncEngine) -> None:
    statement = DirectStatement(_EVENT)
    async with engine.connect() as conn:
        await conn.begin()
        await statement.execute(conn, _event())
        await conn.rollback()
    assert await _events(engine) == 0
    assert statement._compiled is None  # never run directly: SQLAlchemy owns the transaction


async def test_errors_are_sqlalchemys(engine: AsyncEngine) -> None:
    statement = DirectStatement(_EVENT)
    event_id = new_id()
    async with autocommit(engine).connect() as conn:
        await statement.execute(conn, _event(a_id=event_id))
        with pytest.raises(IntegrityError):
            await statement.execute(conn, _event(a_id=event_id, a_target="y"))
        naive = datetime.now(UTC).replace(tzinfo=None)
        with pytest.raises(StatementError):  # refused by UTCDateTime, as through SQLAlchemy
            await statement.execute(conn, _event(a_at=naive))
        # The connection is still usable, and nothing was written twice or half.
        assert await statement.execute(conn, _event())
    assert await _events(engine) == 2


@pytest.mark.postgres_only
async def test_a_lost_connection_fails_once_and_the_pool_recovers(
    db_url: str, make_user: UserFactory
) -> None:
    user = await make_user()
    engine = create_engine(db_url, pool_size=2)
    statement = DirectStatement(select(USERS.c.email).where(USERS.c.id == bindparam("u")))
    try:
        reads = autocommit(engine)
        async with reads.connect() as conn:
            assert await statement.first(conn, {"u": user.id}) is not None
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        killer = await asyncpg.connect(db_url)
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        with pytest.raises(Exception) as lost:
            async with reads.connect() as conn:
                await statement.first(conn, {"u": user.id})
        assert getattr(lost.value, "connection_invalidated", False), lost.value
        async with reads.connect() as conn:  # the pool reconnects
            row = await statement.first(conn, {"u": user.id})
        assert row is not None and row["email"] == user.email
    finally:
        await engine.dispose()


def test_expanding_parameters_are_refused_at_compile_time() -> None:
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    statement = DirectStatement(select(USERS.c.id).where(USERS.c.role.in_(["admin", "x"])))
    with pytest.raises(ValueError, match="expanding"):
        statement._compile(dialect())


@pytest.mark.postgres_only
async def test_the_hot_requests_take_the_direct_path(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    make_conversation: ConversationFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A direct path that failed every time would still answer right (through SQLAlchemy), only
    slower: this fails instead. Lists, their next pages and the audited admin reads."""
    admin = await make_user(role="admin")
    worker = await make_user()
    for i in range(3):
        await make_conversation(worker, title=f"Conversación {i}", messages=["hola", "buenas"])
    worker_headers, admin_headers = await auth_headers(worker), await auth_headers(admin)
    first = await client.get("/conversations?limit=2", headers=worker_headers)
    cursor = first.json()["next_cursor"]
    conversation_id = first.json()["items"][0]["id"]
    with caplog.at_level(logging.WARNING, logger="energyapp.db"):
        for url, headers in [
            ("/auth/me", worker_headers),
            ("/conversations?limit=2", worker_headers),
            (f"/conversations?limit=2&cursor={cursor}", worker_headers),
            (f"/conversations/{conversation_id}/messages?limit=1", worker_headers),
            ("/admin/users?limit=1", admin_headers),
            ("/admin/users?limit=1&role=trabajador", admin_headers),
            (f"/admin/conversations?user_id={worker.id}", admin_headers),
            (f"/admin/conversations/{conversation_id}/messages", admin_headers),
        ]:
            assert (await client.get(url, headers=headers)).status_code == 200, url
    assert not [r for r in caplog.records if r.name == "energyapp.db"]
    compiled = [
        _SESSION_USER,
        audit_service._INSERT_EVENT,
        conversations_service._conversation_page(False, True),
        admin_service._conversation_page(True, True, False),
        admin_service._user_page(True, True, False),
    ]
    assert all(statement._compiled is not None for statement in compiled)
