"""Routes that check who is calling before they complain about the body.

FastAPI parses a JSON body before it solves any dependency, so a malformed body is a 422 even
for a caller the route's dependencies would refuse (401 without a session, 403 for a role that
may not call it): a worker probing ``PATCH /admin/users/{id}`` learnt the route reads JSON
instead of being told it may not use it, as every other request of theirs to ``/admin`` is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _json_invalid(error: RequestValidationError) -> bool:
    return any(e.get("type") == "json_invalid" for e in error.errors())


class CallerFirstRoute(APIRoute):
    """A route whose dependencies (authentication, role) judge the caller before a malformed
    JSON body does.

    Only a body that is not JSON at all costs anything: the dependencies are then solved again
    with no body, so a refused caller gets their 401/403 and an allowed one the JSON error. A
    route whose body is optional keeps FastAPI's order, since running it without a body would
    run the endpoint.
    """

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        body = self.body_field
        if body is None or not body.field_info.is_required():
            return handler

        async def caller_first(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                if not _json_invalid(error):
                    raise
                # The body is required, so this run stops at the missing body at the latest.
                with contextlib.suppress(RequestValidationError):
                    await handler(Request(request.scope, _no_body))
                raise error from None

        return caller_first
