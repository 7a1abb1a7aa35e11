"""The plain ASGI plumbing the stand-in Ollama's two modes share: bodies in, JSON out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.types import Receive, Send

NDJSON = [(b"content-type", b"application/x-ndjson")]
JSON = [(b"content-type", b"application/json; charset=utf-8")]


def now() -> str:
    """Ollama's ``created_at``: UTC, ISO 8601 with a ``Z``."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def json_or_none(body: bytes) -> dict[str, Any] | None:
    """The body's JSON object ({} when empty), or None when it is not one."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def send_bytes(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, data: dict[str, Any]) -> None:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    await send_bytes(send, status, body, JSON)
