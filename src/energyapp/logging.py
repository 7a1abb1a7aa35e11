"""Structured JSON logs with a request id, and a filter that keeps secrets out of them."""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

SENSITIVE_KEYS = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|totp|otp|code|api[_-]?key", re.IGNORECASE
)
_INLINE_SECRETS = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+|"
    r"((?:password|passwd|secret|token|refresh_token|access_token|code)[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"',&}]+"
)
# The password of a URL's user information (an Ollama URL behind a proxy with basic auth, a
# database or Redis URL in an error): up to the last "@" before the host, so an unencoded "@"
# in the password leaks nothing either.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/@:]*):[^\s/]*@")
# A shared conversation's link is its token (sharing/): the paths that carry it are logged
# without it (the access log, uvicorn's).
_SHARED_TOKEN = re.compile(r"(/shared/)[A-Za-z0-9_-]+")
# uvicorn adds ``color_message``: its message again, with terminal colour codes.
_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
REDACTED = "[redactado]"


def redact(value: Any, key: str = "") -> Any:
    if key and SENSITIVE_KEYS.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    def _sub(match: re.Match[str]) -> str:
        prefix = match.group(1) or match.group(2) or ""
        return prefix + REDACTED

    text = _SHARED_TOKEN.sub(rf"\1{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", _INLINE_SECRETS.sub(_sub, text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                payload[key] = redact(value, key)
        if record.exc_info:
            payload["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", *, to_file: bool = False, log_file: str = "") -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if to_file and log_file:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file after logrotate moves it.
        handlers.append(logging.handlers.WatchedFileHandler(path, encoding="utf-8"))
    formatter = JsonFormatter()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # Access lines come from our own middleware (with the request id); uvicorn's would repeat them.
    logging.getLogger("uvicorn.access").handlers = []
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
