"""One error type for the whole app and the handlers that render every error as
``{"detail": "<Spanish message>", "code": "<stable_code>"}``."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("energyapp.errors")


class ErrorBody(BaseModel):
    """Shape of every error response."""

    detail: str
    code: str


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    detail = "Solicitud inválida."
    # True when the request's database changes must be committed although the request fails
    # (a failed login's audit row, a 2FA attempt counted, a stolen refresh family revoked).
    keep_changes = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.detail
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.headers = headers or {}
        super().__init__(self.detail)


_E = TypeVar("_E", bound=AppError)


def kept(error: _E) -> _E:
    """Mark an error so the request's database changes are committed before it is returned."""
    error.keep_changes = True
    return error


class Unauthorized(AppError):
    status_code = 401
    code = "not_authenticated"
    detail = "Debe iniciar sesión para continuar."

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    detail = "No tiene permiso para realizar esta acción."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    detail = "No se encontró el recurso solicitado."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    detail = "El recurso ya existe o cambió mientras tanto."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    detail = "La solicitud es demasiado grande."


class Unprocessable(AppError):
    status_code = 422
    code = "validation_error"
    detail = "Los datos enviados no son válidos."


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    detail = "Demasiadas solicitudes. Espere un momento e intente de nuevo."

    def __init__(
        self, detail: str | None = None, *, code: str | None = None, retry_after: int = 60
    ) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail, code=code, headers={"Retry-After": str(self.retry_after)})


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    detail = "El servicio no está disponible en este momento. Intente de nuevo en unos segundos."

    def __init__(
        self, detail: str | None = None, *, code: str | None = None, retry_after: int = 5
    ) -> None:
        super().__init__(detail, code=code, headers={"Retry-After": str(max(1, retry_after))})


_STATUS_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Solicitud inválida."),
    401: ("not_authenticated", "Debe iniciar sesión para continuar."),
    403: ("forbidden", "No tiene permiso para realizar esta acción."),
    404: ("not_found", "No se encontró el recurso solicitado."),
    405: ("method_not_allowed", "Método HTTP no permitido para esta ruta."),
    409: ("conflict", "El recurso ya existe o cambió mientras tanto."),
    413: ("payload_too_large", "La solicitud es demasiado grande."),
    415: ("unsupported_media_type", "Tipo de contenido no soportado: envíe JSON."),
    422: ("validation_error", "Los datos enviados no son válidos."),
    429: ("too_many_requests", "Demasiadas solicitudes. Espere un momento."),
    500: ("internal_error", "Ocurrió un error interno. Intente de nuevo más tarde."),
    503: ("service_unavailable", "El servicio no está disponible en este momento."),
    507: ("storage_full", "El servidor se quedó sin espacio para guardar los datos."),
}

VALIDATION_MESSAGES = {
    "missing": "es obligatorio",
    "string_too_short": "es demasiado corto",
    "string_too_long": "es demasiado largo",
    "extra_forbidden": "no está permitido",
    "uuid_parsing": "no es un identificador válido",
    "int_parsing": "debe ser un número entero",
    "less_than_equal": "es demasiado grande",
    "greater_than_equal": "es demasiado pequeño",
    "value_error": "no es válido",
    "literal_error": "no es un valor permitido",
    "enum": "no es un valor permitido",
    "bool_parsing": "debe ser verdadero o falso",
    "bool_type": "debe ser verdadero o falso",
    "int_type": "debe ser un número entero",
    "string_type": "debe ser texto",
    "model_attributes_type": "debe ser un objeto JSON",
    "dict_type": "debe ser un objeto JSON",
    "date_parsing": "no es una fecha válida (use AAAA-MM-DD)",
    "date_from_datetime_parsing": "no es una fecha válida (use AAAA-MM-DD)",
    "date_from_datetime_inexact": "no es una fecha válida (use AAAA-MM-DD)",
    "date_type": "no es una fecha válida (use AAAA-MM-DD)",
}


def error_response(
    status_code: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status_code, content={"detail": detail, "code": code}, headers=headers
    )


# The OpenAI-compatible API answers in OpenAI's error shape (openai_api/errors.py), also when
# a guard in front of every route (size, encoding) refuses the request.
OPENAI_PATH_PREFIX = "/v1/"
OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_error_body(
    status: int, code: str, message: str, param: str | None = None
) -> dict[str, dict[str, str | None]]:
    """OpenAI's ``{"error": {...}}``, its ``type`` told by the status: the body of a ``/v1``
    error response, and the data of the event that ends a stream which failed."""
    kind = OPENAI_ERROR_TYPES.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def openai_error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    body = openai_error_body(status, code, message, param)
    return JSONResponse(status_code=status, content=body, headers=headers)


def error_response_for(path: str, status_code: int, code: str, detail: str) -> JSONResponse:
    """The error in the shape the client of ``path`` reads."""
    if path.startswith(OPENAI_PATH_PREFIX):
        return openai_error(status_code, code, detail)
    return error_response(status_code, code, detail)


def describe_validation_errors(errors: list[dict[str, Any]] | Any) -> str:
    parts: list[str] = []
    for err in list(errors)[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "solicitud"
        err_type = str(err.get("type", ""))
        if err_type == "json_invalid":  # its place is a character position, not a field
            parts.append("el cuerpo de la solicitud no es JSON válido")
            continue
        msg = VALIDATION_MESSAGES.get(err_type, "no es válido")
        if err_type == "value_error":
            # The app's own validators raise ValueError with a Spanish message; the parser's
            # other errors carry English text in their context, which a person never reads.
            ctx_error = (err.get("ctx") or {}).get("error")
            msg = str(ctx_error) if ctx_error else msg
        elif err_type == "string_too_short" and (err.get("ctx") or {}).get("min_length") == 1:
            msg = "no puede estar vacío"
        parts.append(f"{field}: {msg}")
    return "Datos inválidos: " + "; ".join(parts) + "."


async def _app_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.code, exc.detail, exc.headers)


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "validation_error", describe_validation_errors(exc.errors()))


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, detail = _STATUS_DEFAULTS.get(exc.status_code, ("http_error", "Error en la solicitud."))
    headers = dict(exc.headers) if exc.headers else None
    # Under /v1 in OpenAI's shape, also for a path no route matches (one with a line break).
    response = error_response_for(request.url.path, exc.status_code, code, detail)
    if headers:
        response.headers.update(headers)
    return response


# SQLite and PostgreSQL words for "the disk is full" and "this database is read-only".
_DISK_FULL_MARKERS = (
    "database or disk is full",
    "no space left on device",
    "could not extend file",
)
_READ_ONLY_MARKERS = ("readonly database", "read-only file system", "read only file system")

_STORAGE_FULL = (
    507,
    "storage_full",
    "El servidor se quedó sin espacio en disco y no pudo guardar los datos. "
    "Avise al administrador.",
)
_STORAGE_READ_ONLY = (
    503,
    "storage_read_only",
    "La base de datos está en modo de solo lectura y no pudo guardar los datos. "
    "Avise al administrador.",
)
_CONFLICT = (409, "conflict", "Los datos chocan con otros que ya existen o cambiaron. Recargue.")
_INVALID_DATA = (
    422,
    "invalid_data",
    "Los datos enviados no son válidos o exceden el largo permitido.",
)
_DB_UNAVAILABLE = (
    503,
    "db_unavailable",
    "La base de datos no está disponible en este momento. Intente de nuevo en unos segundos.",
)
_DB_BUSY = (
    503,
    "db_busy",
    "La base de datos está ocupada en este momento. Intente de nuevo en unos segundos.",
)
# PostgreSQL SQLSTATE (class or full code) or SQLite result-code name, first match wins.
_BY_DB_STATE: tuple[tuple[tuple[str, ...], tuple[int, str, str]], ...] = (
    (("53100", "SQLITE_FULL"), _STORAGE_FULL),
    (("25006", "SQLITE_READONLY"), _STORAGE_READ_ONLY),
    (("23", "SQLITE_CONSTRAINT"), _CONFLICT),
    (("22", "SQLITE_TOOBIG", "SQLITE_MISMATCH"), _INVALID_DATA),
    # The connection is gone or refused: the server stops, restarts or is full of clients.
    (
        ("08", "57P01", "57P02", "57P03", "53300", "SQLITE_CANTOPEN", "SQLITE_IOERR"),
        _DB_UNAVAILABLE,
    ),
    # The statement lost a race or waited too long; the same request may well succeed again.
    (("40", "55P03", "57014", "SQLITE_BUSY", "SQLITE_LOCKED"), _DB_BUSY),
)


def _db_state(exc: BaseException) -> str:
    """PostgreSQL's SQLSTATE or SQLite's result-code name of the error SQLAlchemy wraps."""
    orig = getattr(exc, "orig", None)
    for attribute in ("sqlstate", "sqlite_errorname"):
        value = getattr(orig, attribute, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _connection_lost(exc: BaseException, state: str) -> bool:
    if getattr(exc, "connection_invalidated", False):
        return True
    if isinstance(exc, OSError | SQLAlchemyTimeoutError | InterfaceError):
        return True
    if isinstance(getattr(exc, "orig", None), OSError):
        return True
    # A driver that names no code for a failed connection (psycopg, aiosqlite's thread).
    return isinstance(exc, OperationalError) and not state


def classify_db_error(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, Spanish detail) for an exception raised by the database layer.

    Only a database that cannot be reached (or is too busy right now) is a 503; a value the
    database refuses is the client's 4xx, and any other database error is a bug: 500.
    """
    text = " ".join(str(e) for e in (exc, getattr(exc, "orig", None)) if e is not None).lower()
    if any(marker in text for marker in _DISK_FULL_MARKERS):
        return _STORAGE_FULL
    if any(marker in text for marker in _READ_ONLY_MARKERS):
        return _STORAGE_READ_ONLY
    state = _db_state(exc)
    if state:
        for prefixes, answer in _BY_DB_STATE:
            if state.startswith(prefixes):
                return answer
    if isinstance(exc, IntegrityError):
        return _CONFLICT
    if isinstance(exc, DataError):
        return _INVALID_DATA
    if _connection_lost(exc, state):
        return _DB_UNAVAILABLE
    return 500, *_STATUS_DEFAULTS[500]


async def _db_error_handler(request: Request, exc: Exception) -> JSONResponse:
    status, code, detail = classify_db_error(exc)
    if status == 500:
        logger.error("unexpected database error on %s", request.url.path, exc_info=exc)
    else:
        # Keys containing "code" are redacted from log lines (2FA codes): "db_state", "outcome".
        logger.warning(
            "database error",
            extra={
                "path": request.url.path,
                "error": type(exc).__name__,
                "db_state": _db_state(exc),
                "outcome": code,
            },
        )
    headers = {"Retry-After": "5"} if status == 503 else None
    return error_response(status, code, detail, headers)


async def _stale_data_handler(request: Request, exc: Exception) -> JSONResponse:
    """A row the request read was deleted before its change was written (another tab deleted
    the conversation being renamed): the person reloads, nothing was written."""
    logger.warning("row gone before its update", extra={"path": request.url.path})
    return error_response(
        409,
        "stale_data",
        "Lo que intentaba cambiar se eliminó mientras tanto (quizás en otra pestaña). Vuelva a "
        "cargar la página.",
    )


def unhandled_error_response(path: str, exc: BaseException) -> JSONResponse:
    """A bug: logged with its traceback, a 500 in the shape of ``path``'s client. Answered in
    ``RequestContextMiddleware`` (its headers, its request id); Starlette's runs outside it."""
    logger.error("unhandled error on %s", path, exc_info=exc)
    return error_response_for(path, 500, *_STATUS_DEFAULTS[500])


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    return unhandled_error_response(request.url.path, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(StaleDataError, _stale_data_handler)
    app.add_exception_handler(OperationalError, _db_error_handler)
    app.add_exception_handler(DBAPIError, _db_error_handler)
    app.add_exception_handler(SQLAlchemyTimeoutError, _db_error_handler)
    app.add_exception_handler(OSError, _db_error_handler)
    app.add_exception_handler(Exception, _unhandled_handler)


# For OpenAPI: the error responses every route may return.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": detail}
    for status, (_code, detail) in _STATUS_DEFAULTS.items()
    # 400/413 come from the body guards in front of every route, 503/507 from the database.
    if status in (400, 401, 403, 404, 409, 413, 422, 429, 503, 507)
}
