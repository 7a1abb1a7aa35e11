"""Which app process owns the chat runtime of a database.

Until the chat runtime is shared through Redis, one process generates every answer of a
database: its queue and its registry of live answers are in its memory. That process marks the
answers a crash left ``streaming`` as ``interrupted`` when it starts; a second process started
on the same database (by mistake, or during a restart that overlaps) must never do so, or it
would mark the first one's answers while they are being written.

Ownership is a lock that the operating system or the database releases when its holder dies:
a session-level advisory lock on PostgreSQL, held on a connection of its own, and an ``flock``
on a file beside the database on SQLite.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# pg_try_advisory_lock's key space is shared by everything using the database: a fixed,
# recognisable 64-bit key ("energyap" in ASCII).
ADVISORY_LOCK_KEY = 0x656E6572_67796170


class RuntimeOwnership(Protocol):
    async def acquire(self) -> bool:
        """Take ownership if no live process holds it; False when one does."""

    async def release(self) -> None:
        """Give ownership back (at shutdown)."""


class AdvisoryLockOwnership:
    """PostgreSQL: an advisory lock on a connection kept open for the process's lifetime."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        conn = await self._engine.connect()
        try:
            taken = bool(await conn.scalar(select(func.pg_try_advisory_lock(ADVISORY_LOCK_KEY))))
            await conn.commit()  # the lock is the session's, not the transaction's
        except BaseException:
            await conn.close()
            raise
        if not taken:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            with contextlib.suppress(Exception):  # a connection lost meanwhile has no lock
                await conn.scalar(select(func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
        finally:
            await conn.close()


class FileLockOwnership:
    """SQLite: an exclusive ``flock`` on ``<database>.owner`` (one host by nature)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock


class SoleOwnership:
    """An in-memory database is seen by its own process only."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


def ownership_for(engine: AsyncEngine) -> RuntimeOwnership:
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return AdvisoryLockOwnership(engine)
    if url.database and url.database != ":memory:":
        return FileLockOwnership(Path(url.database).expanduser().with_suffix(".owner"))
    return SoleOwnership()
