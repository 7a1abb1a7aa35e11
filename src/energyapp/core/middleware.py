"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers streams and costs per request)."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from energyapp.core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from energyapp.errors import error_response
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


class RequestContextMiddleware:
    """Request id, access log line, metrics and security headers for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and len(incoming) <= 64 else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status_holder = [500]
        path: str = scope["path"]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_SECURITY_HEADERS)
                if not path.startswith(_CSP_EXEMPT):
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
                _observe(scope, status_holder[0], time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
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


def _observe(scope: Scope, status: int, seconds: float) -> None:
    route = scope.get("route")
    template = getattr(route, "path", None) or "unmatched"
    method = scope["method"]
    HTTP_REQUESTS.labels(method, template, str(status)).inc()
    HTTP_LATENCY.labels(method, template).observe(seconds)


class BodySizeLimitMiddleware:
    """Refuse bodies above ``max_bytes`` with 413, before they are read whole."""

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

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(scope, receive, send, 413)


class _BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send, status: int) -> None:
    if status == 400:
        response = error_response(400, "bad_request", "Cabecera Content-Length inválida.")
    else:
        response = error_response(
            413, "payload_too_large", "La solicitud es demasiado grande para ser procesada."
        )
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def header_value(scope: dict[str, Any], name: str) -> str | None:
    return _header(scope, name.lower().encode())
