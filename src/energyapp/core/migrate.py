"""Run Alembic migrations programmatically (the CLI, tests and `make run` use this)."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from energyapp.config import PROJECT_ROOT, Settings
from energyapp.core.db_errors import shown_url
from energyapp.db import create_engine


def alembic_config(db_url: str, settings: Settings | None = None) -> Config:
    """``settings`` gives the data migrations their keys (default: ``get_settings()``)."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["db_url"] = db_url
    cfg.attributes["settings"] = settings
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(db_url: str, revision: str = "head", settings: Settings | None = None) -> None:
    command.upgrade(alembic_config(db_url, settings), revision)


def downgrade(db_url: str, revision: str, settings: Settings | None = None) -> None:
    command.downgrade(alembic_config(db_url, settings), revision)


def schema_problem(db_url: str, timeout: float = 5.0) -> str | None:
    """Why this release cannot serve the database's schema: never migrated, or behind this
    release's migrations (every query that meets a missing column would fail while /health is
    green). ``None`` otherwise, and also when the database does not answer within ``timeout``
    (the app starts and /health reports it) or is ahead of this release (the previous release
    runs on the newer schema after a rollback, by design)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(db_url))
    heads = set(scripts.get_heads())
    try:
        current = asyncio.run(_current_revisions(db_url, timeout))
    except (OSError, TimeoutError, SQLAlchemyError):
        return None
    where = shown_url(db_url)
    if not current:
        return (
            f"la base de datos {where} no tiene las tablas de EnergyApp: ejecute "
            "`energyapp db upgrade`"
        )
    known = {script.revision for script in scripts.walk_revisions()}
    if current == heads or not current <= known:
        return None
    return (
        f"la base de datos {where} está en la revisión {', '.join(sorted(current))} y esta versión "
        f"necesita {', '.join(sorted(heads))}: ejecute `energyapp db upgrade`"
    )


async def _current_revisions(db_url: str, seconds: float) -> set[str] | None:
    engine = create_engine(db_url)
    try:
        async with asyncio.timeout(seconds), engine.connect() as conn:
            if not await conn.run_sync(lambda c: inspect(c).has_table("alembic_version")):
                return None
            rows = await conn.scalars(text("SELECT version_num FROM alembic_version"))
            return set(rows)
    finally:
        await engine.dispose()
