"""Run Alembic migrations programmatically (the CLI, tests and `make run` use this)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from energyapp.config import PROJECT_ROOT


def alembic_config(db_url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["db_url"] = db_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(db_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(db_url), revision)


def downgrade(db_url: str, revision: str) -> None:
    command.downgrade(alembic_config(db_url), revision)
