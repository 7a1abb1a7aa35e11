"""OpenAI's error shape, for the ``/v1`` routes only.

``/v1`` routes use :class:`OpenAIRoute`, which renders every failure of the route (its
dependencies included) as ``{"error": {"message", "type", "code"}}`` with the status and
headers (``Retry-After``) the app's own error carries. The rest of the app keeps its
``{"detail", "code"}`` format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from energyapp.errors import (
    ERROR_RESPONSES,
    AppError,
    classify_db_error,
    describe_validation_errors,
    openai_error,
)

logger = logging.getLogger("energyapp.openai_api")

# OpenAI's ``type`` for each status its clients tell apart (the SDK picks its exception by the
# status; the type is for people reading the body).


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str


class OpenAIErrorBody(BaseModel):
    """Shape of every ``/v1`` error."""

    error: OpenAIErrorDetail


# For OpenAPI: the ``/v1`` routes answer in OpenAI's shape, and so do the body guards in front
# of every route (size, encoding, invisible characters: ``errors.error_response_for``).
OPENAI_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorBody} for status in ERROR_RESPONSES
}


class UnsupportedParameter(AppError):
    """A request parameter the API cannot honour: OpenAI's 400 ``unsupported_parameter``, with
    the parameter's name in ``param``."""

    code = "unsupported_parameter"

    def __init__(self, param: str, detail: str) -> None:
        super().__init__(detail)
        self.param = param


NOT_JSON = (
    "El cuerpo no se leyó como JSON: envíelo con la cabecera «Content-Type: application/json» "
    '(en curl, -H "Content-Type: application/json"; en Python, requests.post(..., json=...)).'
)


def render(exc: Exception, content_type: str = "") -> JSONResponse:
    """The OpenAI-shaped answer for any exception a ``/v1`` route raises; ``content_type``
    is the request's, for a body that was not read as JSON."""
    if isinstance(exc, AppError):
        param = exc.param if isinstance(exc, UnsupportedParameter) else None
        return openai_error(exc.status_code, exc.code, exc.detail, exc.headers, param)
    if isinstance(exc, RequestValidationError):
        # OpenAI answers 400 to a body it cannot use, naming the field in ``param``.
        errors = exc.errors()
        if _unread_json(errors, content_type):
            return openai_error(400, "invalid_request", NOT_JSON)
        detail = describe_validation_errors(_with_bounds(errors))
        return openai_error(400, "invalid_request", detail, param=_field_of(errors))
    if isinstance(exc, StarletteHTTPException):
        headers = dict(exc.headers) if exc.headers else None
        return openai_error(exc.status_code, "http_error", "Error en la solicitud.", headers)
    status, code, detail = classify_db_error(exc)
    if status == 500:
        logger.error("unexpected error on /v1", exc_info=exc)
        return openai_error(500, "internal_error", detail)
    return openai_error(status, code, detail, {"Retry-After": "5"} if status == 503 else None)


_BOUNDS = {"less_than_equal": ("le", "como máximo"), "greater_than_equal": ("ge", "como mínimo")}


def _with_bounds(errors: Sequence[Any]) -> list[Any]:
    """A number out of range says its bound ("temperature: debe ser como máximo 2.0"), as
    OpenAI's "Expected a value <= 2": a script's author fixes it without the reference."""
    described = []
    for error in errors:
        bound = _BOUNDS.get(error.get("type"))
        ctx = error.get("ctx") or {}
        if bound is not None and bound[0] in ctx:
            ctx = {"error": f"debe ser {bound[1]} {ctx[bound[0]]}"}
            error = {**error, "type": "value_error", "ctx": ctx}
        described.append(error)
    return described


def _unread_json(errors: Sequence[Any], content_type: str) -> bool:
    """The body came without a JSON ``Content-Type`` (curl's ``-d`` alone, ``requests``'
    ``data=``), so FastAPI left it as bytes: "must be an object" would describe JSON the
    client did send as an object."""
    first = errors[0] if errors else {}
    whole_body = tuple(first.get("loc", ())) == ("body",) and first.get("type") != "missing"
    media = content_type.partition(";")[0].strip().lower()
    return whole_body and not (media == "application/json" or media.endswith("+json"))


def _field_of(errors: Sequence[Any]) -> str | None:
    """The request field the first error is about (``model``, ``temperature``), for OpenAI's
    ``param``; None when it is not a field of the body (JSON that does not parse)."""
    loc = tuple(errors[0].get("loc", ())) if errors else ()
    if len(loc) > 1 and loc[0] == "body" and isinstance(loc[1], str):
        return loc[1]
    return None


class OpenAIRoute(APIRoute):
    """A route whose errors take OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def _handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return render(exc, request.headers.get("content-type", ""))

        return _handle
