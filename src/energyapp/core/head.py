"""HEAD wherever GET is (RFC 9110 §9.3.2): the status and headers a GET would get, no body.

FastAPI routes a HEAD only to routes that list it, and listing it on every GET route would
double each operation in the OpenAPI schema. So one middleware, installed by ``create_app``
inside the others, passes a HEAD down as a GET (the handler, its checks and its side effects
run once, as for a GET), forwards the response's status and headers and ends the body at once;
whatever body the app still sends is dropped. The middlewares outside it (access log, metrics,
security headers, CORS) see the HEAD as it came. It also makes a 405's ``Allow`` list HEAD
wherever it lists GET.

A route whose GET would start something long-lived checks :func:`is_head` first: the chat's
event stream (``GET /chat/{id}/stream``) answers a HEAD with the stream's headers after the same
access checks, without following the answer (no broker subscription, no stream counted), and
the ZIP export (``GET /conversations/export``) and the admin CSV exports answer without building,
counting or auditing, and a HEAD on someone else's messages or instructions in the admin viewer
is not audited as a reading (``admin/service._record_viewed``)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The scope key that marks a HEAD passed down as a GET.
HEAD_KEY = "energyapp.head"


def is_head(request: Request) -> bool:
    """Whether ``request`` came as a HEAD (its ``method`` reads GET here)."""
    return bool(request.scope.get(HEAD_KEY))


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] != "HEAD":
            await self.app(scope, receive, _allowing_head(send))
            return
        ended = False
        inner = {**scope, "method": "GET", HEAD_KEY: True}

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.start":
                # The matched route, for the metrics outside, which label by its template.
                if "route" in inner:
                    scope["route"] = inner["route"]
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                ended = True
            elif message["type"] != "http.response.body" or not ended:
                await send(message)

        await self.app(inner, receive, headers_only)


def _allowing_head(send: Send) -> Send:
    """A 405's ``Allow`` lists HEAD where it lists GET (routes declare GET only)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 405:
            headers = MutableHeaders(scope=message)
            allowed = [method.strip() for method in headers.get("allow", "").split(",")]
            if "GET" in allowed and "HEAD" not in allowed:
                allowed.insert(allowed.index("GET") + 1, "HEAD")
                headers["allow"] = ", ".join(allowed)
        await send(message)

    return sending
