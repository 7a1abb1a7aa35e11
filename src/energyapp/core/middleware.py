"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers streams and costs per request)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from energyapp.core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from energyapp.core.text import UNSTORABLE
from energyapp.errors import error_response_for, unhandled_error_response
from energyapp.logging import request_id_var

access_logger = logging.getLogger("energyapp.access")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# Swagger UI and ReDoc load their own scripts; the strict CSP applies to everything else.
_CSP_EXEMPT = ("/docs", "/redoc")
# Tokens, profiles, conversations, errors: no answer of the app may be kept by a browser or a
# proxy (ASVS 8.2.1). The UI's files under /static hold nothing private and stay cacheable.
_NO_STORE = (b"cache-control", b"no-store")
_STATIC_PREFIX = "/static/"
# A client's own X-Request-ID is kept (to find its requests in the logs) when it looks like an
# id: no spaces, quotes or other characters that would make log lines ambiguous to read or grep.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestContextMiddleware:
    """Request id, access log line, metrics, security and cache headers for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        if incoming and _CLIENT_REQUEST_ID.fullmatch(incoming):
            request_id = incoming
        else:
            request_id = secrets.token_hex(8)
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status_holder = [500]
        path: str = scope["path"]

        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_SECURITY_HEADERS)
                if not path.startswith(_CSP_EXEMPT):
                    headers.append((b"content-security-policy", CSP.encode()))
                if not path.startswith(_STATIC_PREFIX):
                    headers = [h for h in headers if h[0].lower() != _NO_STORE[0]]
                    headers.append(_NO_STORE)
                message["headers"] = headers
                _observe(scope, status_holder[0], time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:
                raise  # a stream that failed midway: nothing else can be sent
            # Answered here, not by Starlette's handler outside this middleware, which would
            # send it without the headers above and log it without the request id.
            await unhandled_error_response(path, exc)(scope, receive, send_wrapper)
        finally:
            elapsed_ms = (time.perf_counter() - start) * 1000
            access_logger.info(
                "%s %s %s",
                scope["method"],
                path,
                status_holder[0],
                extra={"status": status_holder[0], "duration_ms": round(elapsed_ms, 2)},
            )
            request_id_var.reset(token)


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS, a refused preflight answered in the app's error shape (it is plain text
    there: "Disallowed CORS origin")."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        if (
            headers is None
            or scope["method"] != "OPTIONS"
            or "origin" not in headers
            or "access-control-request-method" not in headers
        ):
            await super().__call__(scope, receive, send)
            return
        response = self.preflight_response(request_headers=headers)
        if response.status_code != 200:
            refused = error_response_for(scope["path"], 400, "cors_refused", _CORS_REFUSED)
            for name, value in response.headers.items():
                if name not in ("content-length", "content-type"):
                    refused.headers[name] = value
            response = refused
        await response(scope, receive, send)


_CORS_REFUSED = "Solicitud entre orígenes no permitida (CORS): origen, método o cabeceras."


def _observe(scope: Scope, status: int, seconds: float) -> None:
    route = scope.get("route")
    template = getattr(route, "path", None) or "unmatched"
    method = scope["method"]
    HTTP_REQUESTS.labels(method, template, str(status)).inc()
    HTTP_LATENCY.labels(method, template).observe(seconds)


class BodySizeLimitMiddleware:
    """Refuse bodies above ``max_bytes`` with 413, before they are read whole.

    A declared ``Content-Length`` is checked before anything is read; a chunked body is counted
    as it arrives and refused as soon as it passes the limit. FastAPI turns any error while it
    reads a body into its own 400, so the refusal is decided here: once the limit is passed,
    whatever the app tries to answer is dropped and the 413 is sent instead.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit():
                await _too_large(scope, receive, send, 400)
                return
            if int(length) > self.max_bytes:
                await _too_large(scope, receive, send, 413)
                return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # the app's answer to a body it could not read; the 413 replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if too_large and not started:
            await _too_large(scope, receive, send, 413)


class _BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send, status: int) -> None:
    path = scope.get("path", "")
    if status == 400:
        response = error_response_for(path, 400, "bad_request", "Cabecera Content-Length inválida.")
    else:
        response = error_response_for(
            path, 413, "payload_too_large", "La solicitud es demasiado grande para ser procesada."
        )
    await response(scope, receive, send)


# What no database stores (NUL, lone surrogates) is refused at the door, the same way on every
# backend and every field.
_JSON_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class JsonTextGuardMiddleware:
    """Refuse, with a clean 4xx, JSON bodies the app would mishandle (not BOM-less UTF-8, nested
    too deep, text no database can store) and query strings carrying a NUL.

    Runs inside ``BodySizeLimitMiddleware``, so the body it buffers is already bounded. The body
    is then replayed to the app unchanged; later ``receive`` calls (disconnect detection of a
    streaming answer) go to the server as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query.lower() or b"\x00" in query:
            await _bad_text(scope, receive, send)
            return
        content_type = (_header(scope, b"content-type") or "").lower()
        if scope["method"] not in _JSON_METHODS or (content_type and "json" not in content_type):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away before sending the body
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = _json_text_problem(body, content_type)
        if problem is not None:
            status, code, detail = problem
            response = error_response_for(scope.get("path", ""), status, code, detail)
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# Deeper than any request body of the API needs (serde_json's default): checked on the parsed
# document, so the limit does not depend on how deep the stack already is when the app parses it.
MAX_JSON_DEPTH = 128
_INVALID_ENCODING = (
    400,
    "invalid_encoding",
    "El cuerpo de la solicitud debe ser JSON codificado en UTF-8, sin BOM.",
)
_TOO_DEEP = (400, "json_too_deep", "El JSON enviado tiene demasiados niveles de anidación.")
_FORBIDDEN_CHARACTERS = (
    422,
    "invalid_characters",
    "El texto contiene caracteres de control o Unicode inválido (p. ej., el carácter nulo).",
)
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\";\s]+)", re.IGNORECASE)


def _json_text_problem(body: bytes, content_type: str) -> tuple[int, str, str] | None:
    """(status, code, detail) when the body cannot be accepted as text, None otherwise.

    Malformed JSON is left to the app (its 422 names the position); only what the app would
    mishandle is decided here: bytes that are not BOM-less UTF-8, nesting too deep to parse, and
    characters no database stores.
    """
    if not body:
        return None
    text = _utf8_json_text(body, content_type)
    if text is None:
        return _INVALID_ENCODING
    if "\\u" not in text and text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        # NUL and lone surrogates can only arrive as \u escapes (raw ones are not UTF-8 or not
        # JSON), and so few brackets cannot nest too deeply: no need to parse the body twice.
        return None
    try:
        document = json.loads(text)
    except RecursionError:
        return _TOO_DEEP
    except ValueError:
        return None
    return _document_problem(document)


def _utf8_json_text(body: bytes, content_type: str) -> str | None:
    """The body's text when it is BOM-less UTF-8, the only encoding the guard reads.

    The app parses the raw bytes with ``json.loads``, which would also take a UTF-8 BOM, UTF-16
    or UTF-32 (told apart by the NUL bytes of the first characters). Refusing all of these, and a
    declared charset other than UTF-8, means the app decodes exactly the text checked here.
    """
    declared = _CHARSET.search(content_type)
    if declared and declared.group(1).lower() not in ("utf-8", "utf8"):
        return None
    if json.detect_encoding(body) != "utf-8":
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _document_problem(document: Any) -> tuple[int, str, str] | None:
    pending: list[tuple[Any, int]] = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if UNSTORABLE.search(value):
                return _FORBIDDEN_CHARACTERS
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return _TOO_DEEP
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
    return None


async def _bad_text(scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response_for(
        scope.get("path", ""),
        422,
        "invalid_characters",
        "La dirección contiene caracteres no permitidos (carácter nulo).",
    )
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None
