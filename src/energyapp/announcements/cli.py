"""`energyapp announce` (registered in ``energyapp/cli.py``): an announcement from the server's
console, such as the one ``scripts/update.sh`` can publish before a restart; also the list of
announcements and "Terminar ahora". Audited with no actor and ``details.via = "console"``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.announcements import service
from energyapp.announcements.models import Announcement
from energyapp.announcements.service import Audience, Level
from energyapp.cli_session import fail, with_session
from energyapp.core.dates import local_moment
from energyapp.db import utcnow

MAX_MINUTES = 366 * 24 * 60  # a year: far past it the end date overflows (a traceback)


def _line(row: Announcement) -> str:
    ends = local_moment(row.ends_at) if row.ends_at else "sin término"
    state = service.state_of(row, utcnow())
    return (
        f"{row.id}  {state:<10} {row.level:<7} {row.audience:<10} "
        f"{local_moment(row.starts_at)} → {ends}  {row.body.splitlines()[0][:60]}"
    )


def announce(
    text: Annotated[
        str | None, typer.Argument(help="Texto del aviso (hasta 500 caracteres)")
    ] = None,
    level: Annotated[Level, typer.Option(help="Nivel")] = "info",
    minutes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_MINUTES,
            help="Minutos que se muestra, hasta un año (omitido: sin término)",
        ),
    ] = None,
    audience: Annotated[Audience, typer.Option(help="Quiénes lo ven")] = "all",
    end: Annotated[str | None, typer.Option(help="Terminar ahora el aviso con este id")] = None,
    list_: Annotated[bool, typer.Option("--list", help="Listar los avisos")] = False,
) -> None:
    """Publish TEXT to everyone signed in (or --audience), at once, for --minutes; --list shows
    the announcements with their ids, --end ID ends one now."""
    # --level and --audience are choices (the Literal types): --help lists them, and any other
    # value exits 2 before anything runs, --list and --end included.
    if list_:
        rows = with_session(service.list_all)
        for row in rows:
            typer.echo(_line(row))
        if not rows:
            typer.echo("No hay avisos.")
        return
    if end is not None:
        _end(end)
        return
    if text is None:
        raise fail("escriba el texto del aviso, o use --list o --end ID.", 2)
    ends_at = utcnow() + timedelta(minutes=minutes) if minutes else None

    async def _create(session: AsyncSession) -> Announcement:
        return await service.create(
            session, None, body=text, level=level, audience=audience, ends_at=ends_at,
        )  # fmt: skip

    typer.echo(f"Aviso publicado: {_line(with_session(_create))}")


def _end(raw_id: str) -> None:
    try:
        announcement_id = uuid.UUID(raw_id)
    except ValueError:
        raise fail(f"id de aviso no válido: {raw_id}.", 2) from None

    async def _end_now(session: AsyncSession) -> Announcement:
        row = await service.get_for_update(session, announcement_id)
        return await service.end_now(session, None, row)

    typer.echo(f"Aviso terminado: {_line(with_session(_end_now))}")
