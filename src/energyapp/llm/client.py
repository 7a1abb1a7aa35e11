"""Ollama HTTP client. Knows the Ollama protocol; knows nothing about users or routes.

Ollama reports failures two ways and both end up as an :class:`LLMError`:
an HTTP status with a ``{"error": "..."}`` body (404 model not found, 503 busy, 500), and, once
a stream has started with status 200, an ``{"error": "..."}`` line in the NDJSON.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

# Codes are stable: the chat domain turns them into statuses and Spanish messages.
UNAVAILABLE = "llm_unavailable"  # nothing answers at the URL (refused, DNS, connect timeout)
MODEL_MISSING = "model_missing"  # 404 from Ollama: the model is not pulled
LLM_ERROR = "llm_error"  # 5xx, an error line mid-stream, a malformed stream
TIMEOUT = "llm_timeout"  # no token for ``token_timeout`` seconds
DISCONNECTED = "llm_disconnected"  # the connection dropped mid-answer (Ollama died)


class LLMError(Exception):
    """A failure talking to Ollama. ``code`` is one of the module constants."""

    def __init__(self, code: str, message: str, *, status_code: int | None = None) -> None:
        self.code = code
        self.message = message
        self.status_code = status_code
        super().__init__(f"{code}: {message}")


@dataclass(slots=True)
class ChatStats:
    """The final line of a stream (Ollama's counters; durations in nanoseconds)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_duration_ns: int = 0
    done_reason: str | None = None


@dataclass(slots=True)
class ModelInfo:
    name: str
    size: int = 0
    family: str | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:300] or "sin detalle"
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return str(data)[:300]


def _status_error(status: int, body: bytes) -> LLMError:
    message = _error_text(body)
    if status == 404:
        return LLMError(MODEL_MISSING, message, status_code=status)
    return LLMError(LLM_ERROR, message, status_code=status)


def parse_chat_line(line: bytes | str) -> tuple[str, ChatStats | None]:
    """One NDJSON line of ``/api/chat`` (or ``/api/generate``) → (text, final stats or None).

    Raises :class:`LLMError` for an ``{"error": ...}`` line or a line that is not JSON.
    """
    try:
        data = json.loads(line)
    except ValueError:
        raise LLMError(LLM_ERROR, "respuesta malformada de Ollama (NDJSON inválido)") from None
    if not isinstance(data, dict):
        raise LLMError(LLM_ERROR, "respuesta malformada de Ollama (no es un objeto)")
    if "error" in data:
        raise LLMError(LLM_ERROR, str(data["error"]))
    message = data.get("message")
    holder = message if isinstance(message, dict) else data
    text = holder.get("content" if holder is message else "response") or ""
    if not data.get("done"):
        return str(text), None
    return str(text), ChatStats(
        prompt_tokens=int(data.get("prompt_eval_count") or 0),
        completion_tokens=int(data.get("eval_count") or 0),
        total_duration_ns=int(data.get("total_duration") or 0),
        done_reason=data.get("done_reason"),
    )


def chat_payload(
    model: str,
    messages: Sequence[dict[str, str]],
    *,
    options: dict[str, Any] | None = None,
    keep_alive: str | None = None,
    stream: bool = True,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": model, "messages": list(messages), "stream": stream}
    if options:
        payload["options"] = options
    if keep_alive is not None:
        payload["keep_alive"] = keep_alive
    return payload


async def stream_chat(
    client: httpx.AsyncClient,
    base_url: str,
    payload: dict[str, Any],
    *,
    token_timeout: float,
    stats: ChatStats,
) -> AsyncGenerator[str, None]:
    """Yield the text pieces of a streamed ``/api/chat`` answer; fill ``stats`` at the end.

    Lines that arrive together are joined into one piece (fewer wake-ups downstream).
    Closing the generator early closes the connection, which makes Ollama stop generating.
    """
    url = f"{base_url}/api/chat"
    timeout = httpx.Timeout(client.timeout.connect, read=token_timeout, write=30, pool=None)
    try:
        async with client.stream("POST", url, json=payload, timeout=timeout) as response:
            if response.status_code != 200:
                raise _status_error(response.status_code, await response.aread())
            buffer = b""
            finished = False
            raw = response.aiter_raw()
            async for chunk in raw:
                buffer += chunk
                if b"\n" not in buffer:
                    continue
                *lines, buffer = buffer.split(b"\n")
                pieces: list[str] = []
                for line in lines:
                    if not line.strip():
                        continue
                    text, final = parse_chat_line(line)
                    if text:
                        pieces.append(text)
                    if final is not None:
                        stats.prompt_tokens = final.prompt_tokens
                        stats.completion_tokens = final.completion_tokens
                        stats.total_duration_ns = final.total_duration_ns
                        stats.done_reason = final.done_reason
                        finished = True
                if pieces:
                    yield pieces[0] if len(pieces) == 1 else "".join(pieces)
                if finished:
                    # Read the end of the body (the last chunk marker) so the connection goes
                    # back to the pool instead of being closed: a new connection per answer
                    # costs a handshake on both sides.
                    async for _ in raw:
                        pass
                    return
            if buffer.strip():
                text, final = parse_chat_line(buffer)
                if text:
                    yield text
                if final is not None:
                    stats.prompt_tokens = final.prompt_tokens
                    stats.completion_tokens = final.completion_tokens
                    stats.total_duration_ns = final.total_duration_ns
                    stats.done_reason = final.done_reason
                    return
            raise LLMError(DISCONNECTED, "Ollama cerró la respuesta antes de terminarla")
    except httpx.ReadTimeout:
        raise LLMError(TIMEOUT, f"sin tokens de Ollama durante {token_timeout:g} s") from None
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise LLMError(UNAVAILABLE, f"no se pudo conectar a {base_url}: {exc}") from None
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise LLMError(DISCONNECTED, f"la conexión con Ollama se cortó: {exc}") from None
    except httpx.HTTPError as exc:
        raise LLMError(LLM_ERROR, f"error HTTP con Ollama: {exc}") from None


async def chat_once(
    client: httpx.AsyncClient,
    base_url: str,
    payload: dict[str, Any],
    *,
    read_timeout: float,
) -> tuple[str, ChatStats]:
    """A non-streamed ``/api/chat`` call (``stream: false``): the whole text and its stats."""
    body = dict(payload, stream=False)
    try:
        response = await client.post(
            f"{base_url}/api/chat",
            json=body,
            timeout=httpx.Timeout(client.timeout.connect, read=read_timeout, write=30, pool=None),
        )
    except httpx.TimeoutException:
        raise LLMError(TIMEOUT, f"Ollama no respondió en {read_timeout:g} s") from None
    except httpx.ConnectError as exc:
        raise LLMError(UNAVAILABLE, f"no se pudo conectar a {base_url}: {exc}") from None
    except httpx.HTTPError as exc:
        raise LLMError(LLM_ERROR, f"error HTTP con Ollama: {exc}") from None
    if response.status_code != 200:
        raise _status_error(response.status_code, response.content)
    text, final = parse_chat_line(response.content)
    return text, final or ChatStats()


async def list_models(client: httpx.AsyncClient, base_url: str) -> list[ModelInfo]:
    """The models a server offers (``GET /api/tags``)."""
    try:
        response = await client.get(f"{base_url}/api/tags", timeout=client.timeout.connect)
    except httpx.HTTPError as exc:
        raise LLMError(UNAVAILABLE, f"no se pudo consultar {base_url}: {exc}") from None
    if response.status_code != 200:
        raise _status_error(response.status_code, response.content)
    try:
        data = response.json()
        entries = data["models"]
    except (ValueError, KeyError, TypeError):
        raise LLMError(LLM_ERROR, "respuesta malformada de /api/tags") from None
    models: list[ModelInfo] = []
    for entry in entries:
        details = entry.get("details") or {}
        models.append(
            ModelInfo(
                name=str(entry.get("name") or entry.get("model")),
                size=int(entry.get("size") or 0),
                family=details.get("family"),
                parameter_size=details.get("parameter_size"),
                quantization_level=details.get("quantization_level"),
                details=details,
            )
        )
    return models


async def ollama_available(client: httpx.AsyncClient, base_url: str, wait_s: float = 1.5) -> bool:
    """True when an Ollama server (real or stand-in) answers ``/api/version``."""
    try:
        response = await client.get(f"{base_url.rstrip('/')}/api/version", timeout=wait_s)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
