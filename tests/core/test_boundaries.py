"""The layout's rules that a reader relies on: ``core/`` imports no domain, and the removed
shortcuts around SQLAlchemy, FastAPI and Starlette stay removed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_database

SRC = Path(__file__).resolve().parents[2] / "src" / "energyapp"
DOMAINS = ("admin", "audit", "auth", "chat", "conversations", "health", "instructions", "llm")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_core_imports_no_domain() -> None:
    for path in sorted((SRC / "core").glob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            assert not (parts[0] == "energyapp" and len(parts) > 1 and parts[1] in DOMAINS), (
                f"{path.name} imports {name}"
            )


def test_no_shortcut_under_the_libraries_comes_back() -> None:
    removed = ("DirectStatement", "SingleStatements", "DirectChatRoute", "_chat_body")
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for name in removed:
            assert name not in text, f"{name} in {path.relative_to(SRC)}"
        # Nothing reaches the driver connection under SQLAlchemy.
        assert "driver_connection" not in text and "dbapi_connection" not in text, path


def test_modules_stay_small() -> None:
    for path in SRC.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= 420, f"{path.relative_to(SRC)} has {lines} lines"


def test_the_performance_document_stays_a_current_state() -> None:
    """docs/performance.md holds the current figures and their commands, not a diary."""
    doc = SRC.parents[1] / "docs" / "performance.md"
    lines = len(doc.read_text().splitlines())
    assert lines <= 250, f"docs/performance.md has {lines} lines"


def test_nothing_waits_in_a_way_that_loses_a_cancellation() -> None:
    """On Python 3.11 ``asyncio.wait_for`` loses a cancel that lands as its awaitable completes,
    and so does redis-py under a ``socket_timeout`` (core/redis.py): bounds use
    ``asyncio.timeout``, and async Redis clients come from ``core.redis.async_redis``."""
    factory = SRC / "core" / "redis.py"
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            called = ast.unparse(node.func)
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            assert called != "asyncio.wait_for", f"asyncio.wait_for in {where}"
            if path != factory:
                assert not re.search(r"(^|\.)(Redis|StrictRedis)(\.from_url)?$", called), (
                    f"a Redis client built in {where}, not through core.redis.async_redis"
                )


def test_rows_are_locked_through_the_public_helper() -> None:
    """``db.for_update``/``db.get_for_update`` mark a locking select with an execution option,
    which SQLite's lock hook reads; a bare ``with_for_update`` elsewhere would lock nothing on
    SQLite, and SQLAlchemy's private ``_for_update_arg`` is no API to read."""
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert "_for_update_arg" not in text, path
        if path.name != "db.py":
            assert "with_for_update" not in text, path.relative_to(SRC)
