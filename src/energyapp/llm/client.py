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

import aiohttp
import pydantic_core

from energyapp.core.text import storable

# Codes are stable: the chat domain turns them into statuses and Spanish messages.
UNAVAILABLE = "llm_unavailable"  # nothing answers at the URL (refused, DNS, connect timeout)
MODEL_MISSING = "model_missing"  # 404 from Ollama: the model is not pulled
LLM_ERROR = "llm_error"  # 5xx, an error line mid-stream, a malformed stream
TIMEOUT = "llm_timeout"  # no token for ``token_timeout`` seconds
DISCONNECTED = "llm_disconnected"  # the connection dropped mid-answer (Ollama died)
_DEFAULT_WAIT = 5.0
# The family the project's stand-in Ollama gives its models (``details.families`` of
# ``/api/tags``): how the app, and through it the web UI, tells synthetic answers from a model's.
STAND_IN_FAMILY = "stand-in"
# What the stand-in answers on ``/api/version``: how ``/health`` tells it from a real Ollama.
STAND_IN_VERSION = "0.0.0-energyapp-stand-in"


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

    @property
    def stand_in(self) -> bool:
        """Served by the project's stand-in Ollama (synthetic answers), not by a real model."""
        families = self.details.get("families")
        return isinstance(families, list) and STAND_IN_FAMILY in families


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
        # pydantic-core's parser: a quarter of json.loads' time, and a stream has a line per token.
        data = pydantic_core.from_json(line)
    except ValueError:
        raise LLMError(LLM_ERROR, "respuesta malformada de Ollama (NDJSON inválido)") from None
    if not isinstance(data, dict):
        raise LLMError(LLM_ERROR, "respuesta malformada de Ollama (no es un objeto)")
    if "error" in data:
        raise LLMError(LLM_ERROR, str(data["error"]))
    message = data.get("message")
    holder = message if isinstance(message, dict) else data
    # What no database stores is dropped (core.text.storable): a NUL, which a model can write
    # escaped as \u0000, would fail the save of the answer, its title or a /v1 conversation.
    text = storable(str(holder.get("content" if holder is message else "response") or ""))
    if not data.get("done"):
        return text, None
    return text, ChatStats(
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
    output_format: str | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``output_format``: Ollama's ``format``, ``"json"`` or a JSON schema the answer follows."""
    payload: dict[str, Any] = {"model": model, "messages": list(messages), "stream": stream}
    if options:
        payload["options"] = options
    if output_format is not None:
        payload["format"] = output_format
    if keep_alive is not None:
        payload["keep_alive"] = keep_alive
    return payload


def new_session(*, connect_timeout: float, max_connections: int = 256) -> aiohttp.ClientSession:
    """The pooled HTTP client for every Ollama server (create it inside the running loop).

    aiohttp rather than httpx on this path: its pool stays cheap with many answers streaming
    at once, where httpx's scans every pooled connection per request.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(total=None, connect=connect_timeout),
        raise_for_status=False,
        auto_decompress=False,
    )


def _timeout(session: aiohttp.ClientSession, read: float) -> aiohttp.ClientTimeout:
    # sock_read bounds the wait for each piece of the body: for a stream, "no token for N s".
    return aiohttp.ClientTimeout(total=None, connect=session.timeout.connect, sock_read=read)


def _apply(stats: ChatStats, final: ChatStats) -> None:
    stats.prompt_tokens = final.prompt_tokens
    stats.completion_tokens = final.completion_tokens
    stats.total_duration_ns = final.total_duration_ns
    stats.done_reason = final.done_reason


def _failure(exc: BaseException, base_url: str, read_timeout: float) -> LLMError:
    """The :class:`LLMError` for an aiohttp failure (order matters: the timeouts and the
    connection errors are subclasses of one another)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return LLMError(UNAVAILABLE, f"no se pudo conectar a {base_url}: {exc}")
    if isinstance(exc, TimeoutError):
        return LLMError(TIMEOUT, f"sin respuesta de Ollama durante {read_timeout:g} s")
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError
    ):
        return LLMError(DISCONNECTED, f"la conexión con Ollama se cortó: {exc}")
    return LLMError(LLM_ERROR, f"error HTTP con Ollama: {exc}")


_CLIENT_ERRORS = (aiohttp.ClientError, TimeoutError)


def _parse_lines(lines: list[bytes], stats: ChatStats) -> tuple[list[str], bool, LLMError | None]:
    """(text pieces, final line seen, error line) of the complete lines of one read. The text
    before an error line is still delivered; ``stats`` is filled from a final line."""
    pieces: list[str] = []
    finished = False
    for line in lines:
        if not line.strip():
            continue
        try:
            text, final = parse_chat_line(line)
        except LLMError as exc:
            return pieces, finished, exc
        if text:
            pieces.append(text)
        if final is not None:
            _apply(stats, final)
            finished = True
    return pieces, finished, None


async def stream_chat(
    session: aiohttp.ClientSession,
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
    finished = False
    try:
        async with session.post(
            f"{base_url}/api/chat", json=payload, timeout=_timeout(session, token_timeout)
        ) as response:
            try:
                if response.status != 200:
                    raise _status_error(response.status, await response.read())
                buffer = b""
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    if b"\n" not in buffer:
                        continue
                    *lines, buffer = buffer.split(b"\n")
                    pieces, finished, failure = _parse_lines(lines, stats)
                    if pieces:
                        yield pieces[0] if len(pieces) == 1 else "".join(pieces)
                    if failure is not None:
                        raise failure  # after the text that came before it in the same read
                    if finished:
                        # Read the end of the body (the last chunk marker) so the connection
                        # goes back to the pool: a new connection per answer costs a handshake.
                        await response.content.read()
                        return
                if buffer.strip():
                    text, final = parse_chat_line(buffer)
                    if text:
                        yield text
                    if final is not None:
                        _apply(stats, final)
                        finished = True
                        return
                raise LLMError(DISCONNECTED, "Ollama cerró la respuesta antes de terminarla")
            finally:
                if not finished:
                    response.close()  # stopped, failed or abandoned: drop the connection
    except _CLIENT_ERRORS as exc:
        raise _failure(exc, base_url, token_timeout) from None


async def chat_once(
    session: aiohttp.ClientSession,
    base_url: str,
    payload: dict[str, Any],
    *,
    read_timeout: float,
) -> tuple[str, ChatStats]:
    """A non-streamed ``/api/chat`` call (``stream: false``): the whole text and its stats."""
    try:
        async with session.post(
            f"{base_url}/api/chat",
            json=dict(payload, stream=False),
            timeout=_timeout(session, read_timeout),
        ) as response:
            body = await response.read()
            status = response.status
    except _CLIENT_ERRORS as exc:
        raise _failure(exc, base_url, read_timeout) from None
    if status != 200:
        raise _status_error(status, body)
    text, final = parse_chat_line(body)
    return text, final or ChatStats()


async def warm_up(
    session: aiohttp.ClientSession,
    base_url: str,
    model: str,
    *,
    options: dict[str, Any],
    keep_alive: str | None,
    wait_s: float = 300.0,
) -> None:
    """Load ``model`` with ``options`` (a ``/api/generate`` without a prompt only loads it), so
    that the first user does not pay the load; raises :class:`LLMError`."""
    payload: dict[str, Any] = {"model": model, "options": options, "stream": False}
    if keep_alive is not None:
        payload["keep_alive"] = keep_alive
    try:
        async with session.post(
            f"{base_url}/api/generate", json=payload, timeout=_timeout(session, wait_s)
        ) as response:
            body = await response.read()
            status = response.status
    except _CLIENT_ERRORS as exc:
        raise _failure(exc, base_url, wait_s) from None
    if status != 200:
        raise _status_error(status, body)


async def _get(session: aiohttp.ClientSession, url: str, wait_s: float) -> tuple[int, bytes]:
    timeout = aiohttp.ClientTimeout(total=wait_s)
    async with session.get(url, timeout=timeout) as response:
        return response.status, await response.read()


async def list_models(session: aiohttp.ClientSession, base_url: str) -> list[ModelInfo]:
    """The models a server offers (``GET /api/tags``)."""
    try:
        status, body = await _get(
            session, f"{base_url}/api/tags", session.timeout.connect or _DEFAULT_WAIT
        )
    except _CLIENT_ERRORS as exc:
        raise LLMError(UNAVAILABLE, f"no se pudo consultar {base_url}: {exc}") from None
    if status != 200:
        raise _status_error(status, body)
    try:
        entries = json.loads(body)["models"]
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


async def ollama_version(
    session: aiohttp.ClientSession, base_url: str, wait_s: float = 1.5
) -> str | None:
    """The version an Ollama server (real or stand-in) reports on ``/api/version``; None when
    nothing answers there."""
    try:
        status, body = await _get(session, f"{base_url.rstrip('/')}/api/version", wait_s)
    except _CLIENT_ERRORS:
        return None
    if status != 200:
        return None
    try:
        return str(json.loads(body)["version"])
    except (ValueError, KeyError, TypeError):
        return ""  # something answers, without a version


@dataclass(slots=True)
class LoadedModel:
    """A model an Ollama server holds in memory (``GET /api/ps``)."""

    name: str
    size: int  # bytes in memory
    expires_at: str | None  # when it unloads (RFC 3339, as Ollama says it)


async def loaded_models(
    session: aiohttp.ClientSession, base_url: str, wait_s: float = 1.5
) -> list[LoadedModel] | None:
    """The models a server holds in memory; None when it does not answer ``/api/ps``."""
    try:
        status, body = await _get(session, f"{base_url.rstrip('/')}/api/ps", wait_s)
        entries = json.loads(body)["models"] if status == 200 else None
        if not isinstance(entries, list):
            return None
        return [  # a malformed entry (a size that is no number) is a malformed answer
            LoadedModel(
                name=str(entry.get("name") or entry.get("model")),
                size=int(entry.get("size") or 0),
                expires_at=str(entry["expires_at"]) if entry.get("expires_at") else None,
            )
            for entry in entries
            if isinstance(entry, dict)
        ]
    except (*_CLIENT_ERRORS, ValueError, KeyError, TypeError):
        return None
