"""What the `energyapp` commands share (``cli.py`` and the commands of the domains, such as
``auth/cli.py``): the settings, a failure's message and exit code, and a database session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth import service as auth_service
from energyapp.config import Settings, SettingsError, get_settings
from energyapp.core.db_errors import describe_db_error
from energyapp.db import DatabaseUrlError, create_engine, create_sessionmaker, settle
from energyapp.errors import AppError

T = TypeVar("T")


def settings_or_exit() -> Settings:
    """The settings, or their error on stderr and exit code 2."""
    try:
        return get_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Say ``message`` on stderr; the exit to raise."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def with_session(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``fn`` in one transaction, committed when it returns. Sessions or API keys it ended
    (``auth_service.announce_credentials_ended``) are announced to the app's processes, whose
    streams of those people then end at once, when Redis is set (``chat/console.py``)."""

    async def _one(sessionmaker: async_sessionmaker[AsyncSession]) -> T:
        ended: set[uuid.UUID] = set()
        async with sessionmaker(info={auth_service.CREDENTIALS_ENDED: ended.add}) as session:
            result = await fn(session)
            await session.commit()
            settle(session, committed=True)
        if ended:
            from energyapp.chat import console  # Redis only when something ended

            warning = await console.announce_credentials_ended(settings_or_exit(), ended)
            if warning:
                typer.echo(f"Aviso: {warning}", err=True)
        return result

    return with_sessionmaker(_one)


def with_sessionmaker(fn: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """Run ``fn`` with a sessionmaker on the configured database (for work in many
    transactions), turning the expected failures into a message and an exit code."""
    settings = settings_or_exit()

    async def _run() -> T:
        engine = create_engine(settings.db_url)
        try:
            return await fn(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(_run())
    except AppError as exc:
        raise fail(exc.detail) from None
    except DatabaseUrlError as exc:
        raise fail(str(exc), 2) from None
    except (OSError, SQLAlchemyError) as exc:
        raise fail(describe_db_error(exc, settings.db_url) or str(exc)) from None
