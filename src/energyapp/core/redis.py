"""The async Redis client every part of the app that shares state through Redis uses.

It sets no ``socket_timeout``, on purpose. With one, redis-py bounds each command's write with
``asyncio.wait_for``, and on Python 3.11 ``wait_for`` loses a cancellation that arrives as the
write completes (CPython gh-86296; 3.12 rebuilt ``wait_for`` on ``asyncio.timeout``). The chat
runtime cancels tasks that talk to Redis all the time: a stop, a title preempted by a user, a
watcher that leaves, a drain. A lost cancellation leaves such a task running, e.g. an answer the
user stopped. ``tests/core/test_redis_client.py`` fails on a client that loses them.

What stays bounded without it, by the kernel instead: connecting (``socket_connect_timeout``,
built on ``asyncio.timeout``); a refused or reset connection fails at once; a peer gone behind a
network partition, by ``TCP_USER_TIMEOUT`` (sent data unacknowledged for 10 s closes the
connection) and TCP keepalive (a reply that never comes: 10 s idle, then 3 probes 3 s apart).
What is left unbounded: a Redis whose host answers TCP but whose process never replies (stopped).

A command that fails on a dead connection is sent again on a new one, twice at most, after a short
wait. ``Redis.from_url`` sets no retry (the constructor's default of three is lost on that path),
so after a Redis restart each connection left in the pool failed its next command: questions
were refused with ``broker_unavailable`` and the rate limits counted per process until every
stale connection had failed once. A command whose connection broke after Redis ran it but before
its reply came (a narrow window) runs twice: the queue's scripts and set writes are idempotent;
at worst a stream entry is written twice or a rate-limit hit counted twice.
"""

from __future__ import annotations

import socket
from collections.abc import Collection, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

CONNECT_TIMEOUT_SECONDS = 2.0
HEALTH_CHECK_SECONDS = 30
RETRIES = 2  # one is a new connection in place of a dead one; two ride out a restart's blink
# Linux names; a platform without one simply goes without that bound.
_TCP_OPTIONS = {
    "TCP_USER_TIMEOUT": 10_000,
    "TCP_KEEPIDLE": 10,
    "TCP_KEEPINTVL": 3,
    "TCP_KEEPCNT": 3,
}
KEEPALIVE_OPTIONS = {
    getattr(socket, name): value for name, value in _TCP_OPTIONS.items() if hasattr(socket, name)
}


def async_redis(url: str, **options: Any) -> Redis:
    """A client for ``url``; ``options`` go to redis-py (e.g. ``decode_responses``)."""
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_SECONDS)
    options.setdefault("health_check_interval", HEALTH_CHECK_SECONDS)
    # On connection and timeout errors (the default), after up to 100 ms, then up to 200 ms.
    options.setdefault("retry", Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), RETRIES))
    return Redis.from_url(
        url,
        socket_timeout=None,
        socket_keepalive=True,
        socket_keepalive_options=KEEPALIVE_OPTIONS,
        **options,
    )


async def write_back(
    redis: Redis, keys: list[str], held: Mapping[str, Collection[str]], mine: str
) -> None:
    """Make the members of the sets ``keys`` that start with ``mine`` (a process's) exactly
    those in ``held``: what the process holds is written again (a restarted Redis lost it), and
    what it gave back while Redis was away is removed. Two round trips."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.smembers(key)
        present: list[set[str]] = await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for key, members in zip(keys, present, strict=True):
            wanted = set(held.get(key, ()))
            stale = [m for m in members if m.startswith(mine) and m not in wanted]
            if stale:
                pipe.srem(key, *stale)
            if wanted - members:
                pipe.sadd(key, *(wanted - members))
        await pipe.execute()
