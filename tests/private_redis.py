"""A Redis server of a test's own, which the test can restart (the shared one must never be)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from energyapp.core.redis import async_redis
from tests.llm.stand_in import free_port


@contextlib.asynccontextmanager
async def private_redis() -> AsyncIterator[tuple[str, Callable[[], Awaitable[None]]]]:
    """``(url, restart)``: a restart kills the server (its data is gone) and starts a new one on
    the same port, and returns once it answers."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--loglevel", "warning"]
    processes = [await asyncio.create_subprocess_exec(*command)]
    url = f"redis://127.0.0.1:{port}/0"

    async def up() -> None:
        client = async_redis(url)
        try:
            for _ in range(100):
                with contextlib.suppress(Exception):
                    if await client.ping():
                        return
                await asyncio.sleep(0.05)
            raise AssertionError("redis-server did not start")
        finally:
            await client.aclose()

    async def restart() -> None:
        processes[-1].kill()
        await processes[-1].wait()
        processes.append(await asyncio.create_subprocess_exec(*command))
        await up()

    await up()
    try:
        yield url, restart
    finally:
        processes[-1].kill()
        await processes[-1].wait()
