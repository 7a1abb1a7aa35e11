"""Run Alembic migrations programmatically (the CLI, tests and `make run` use this)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from energyapp.config import PROJECT_ROOT, Settings


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
