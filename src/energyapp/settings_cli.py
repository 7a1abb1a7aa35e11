"""`energyapp settings get NAME` (registered in ``energyapp/cli.py``): one setting as the app
itself resolves it, for the deployment scripts (scripts/lib.sh's ``app_setting``,
scripts/backup.sh). A script that re-read one of the sources (a grep of ``.env``) missed a value
set in the settings file, or the one an ``ENERGYAPP_*`` variable overrides."""

from __future__ import annotations

import difflib
import json
from typing import Annotated

import typer

from energyapp.config import Settings, SettingsError, get_settings

settings_app = typer.Typer(help="Ajustes, tal como la app los lee.", no_args_is_help=True)
_PREFIX = "energyapp_"


@settings_app.command("get")
def settings_get(
    name: Annotated[str, typer.Argument(help="El ajuste: db_url o ENERGYAPP_DB_URL")],
) -> None:
    """Print setting NAME as the app resolves it (defaults < settings file < .env < ENERGYAPP_*
    variables, from the current directory's .env): text as it is, an unset value as an empty
    line, lists and maps as JSON, secret fields masked. For scripts: the value of db_url may
    hold a password, so capture it, never log it."""
    field = name.strip().lower().removeprefix(_PREFIX)
    if field not in Settings.model_fields:
        close = difflib.get_close_matches(field, list(Settings.model_fields), n=1)
        hint = f" (¿quiso decir {close[0]}?)" if close else ""
        message = f"Error: {name} no es un ajuste{hint}; están en docs/configuration.md."
        typer.echo(message, err=True)
        raise typer.Exit(2)
    try:
        settings = get_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    value = settings.model_dump(mode="json", include={field})[field]
    if value is None:
        typer.echo("")
    elif isinstance(value, str):
        typer.echo(value)
    else:
        typer.echo(json.dumps(value, ensure_ascii=False))
