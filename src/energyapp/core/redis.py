"""The async Redis client every part of the app that shares state through Redis uses.

It sets no ``socket_timeout``, on purpose. With one, redis-py bounds each command's write with
``asyncio.wait_for``, and on Python 3.11 ``wait_for`` loses a cancellation that arrives as the
write completes (CPython gh-86296; 3.12 rebuilt ``wait_for`` on ``asyncio.timeout``). The chat
runtime cancels tasks that talk to Redis all the time: a stop, a title preempted by a user, a
watcher that leaves, a drain. A lost cancellation leaves such a task running, e.g. an answer the
user stopped. ``tests/core/test_redis_client.py`` fails on a client that loses them.

What stays bounded without it: connecting (``socket_connect_timeout``, built on
``asyncio.timeout``); a dead peer, found by TCP keepalive and by the PING of a connection idle for
``health_check_interval``; a refused or reset connection fails at once. A command that needs its
own bound says so with ``asyncio.timeout``.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

CONNECT_TIMEOUT_SECONDS = 2.0
HEALTH_CHECK_SECONDS = 30


def async_redis(url: str, **options: Any) -> Redis:
    """A client for ``url``; ``options`` go to redis-py (e.g. ``decode_responses``)."""
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_SECONDS)
    options.setdefault("health_check_interval", HEALTH_CHECK_SECONDS)
    return Redis.from_url(url, socket_timeout=None, socket_keepalive=True, **options)
