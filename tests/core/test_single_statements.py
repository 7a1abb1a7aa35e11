"""``SingleStatements``: a pooled autocommit connection, returned without SQLAlchemy's shielded
task where the return does no I/O, and returned in every case."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from energyapp.db import SingleStatements, autocommit, create_engine


async def test_the_connection_goes_back_to_the_pool(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=2, max_overflow=0)
    single = autocommit(engine)
    try:
        for _ in range(5):  # more than the pool holds: each one came back
            async with SingleStatements(single) as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        with pytest.raises(RuntimeError):
            async with SingleStatements(single) as conn:
                await conn.execute(text("SELECT 1"))
                raise RuntimeError("the work failed")
        async with SingleStatements(single) as conn:
            await conn.close()  # closed early, as POST /chat does before a slow step
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with asyncio.timeout(5):
            async with SingleStatements(single) as conn, SingleStatements(single) as other:
                assert conn is not other
    finally:
        await engine.dispose()


async def test_the_return_is_awaited_directly_only_where_it_does_no_io(
    engine: AsyncEngine,
) -> None:
    """asyncpg in autocommit mode has no transaction to roll back when a connection returns;
    anything else (a transaction that may need a rollback, aiosqlite's thread) keeps
    SQLAlchemy's shielded return."""
    direct = SingleStatements(autocommit(engine))
    assert direct._shielded is (engine.dialect.driver != "asyncpg")
    assert SingleStatements(engine)._shielded is True


@pytest.mark.postgres_only
async def test_a_cancelled_statement_still_returns_its_connection(db_url: str) -> None:
    """A stop or a shutdown cancels an answer's task in the middle of a statement: the
    connection goes back to the pool all the same, and the pool stays usable."""
    engine = create_engine(db_url, pool_size=1, max_overflow=0)
    single = autocommit(engine)
    try:
        started = asyncio.Event()

        async def slow() -> None:
            async with SingleStatements(single) as conn:
                started.set()
                await conn.execute(text("SELECT pg_sleep(5)"))

        task = asyncio.create_task(slow())
        await started.wait()
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5), SingleStatements(single) as conn:  # the only connection
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
