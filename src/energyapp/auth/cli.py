"""`energyapp reset-password` and `reset-2fa` (registered in ``energyapp/cli.py``): account
recovery from the server's console, for when no administrator can sign in (auth/recovery.py).
Both are audited with no actor and ``details.via = "console"``."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth import recovery, two_factor, two_factor_policy
from energyapp.cli_session import fail, with_session


def reset_password(
    email: Annotated[str, typer.Argument(help="Correo de la cuenta")],
    base_url: Annotated[
        str | None,
        typer.Option(help="Dirección pública de la app (https://...): imprime el enlace completo"),
    ] = None,
) -> None:
    """Print a one-time link (24 h) that sets a new password for EMAIL; earlier links of the
    account stop working. Hand it to the person yourself: whoever has it sets the password."""
    if base_url is not None and not base_url.startswith(("https://", "http://")):
        raise fail("--base-url debe empezar con https:// (o http://).", 2)

    async def _issue(session: AsyncSession) -> recovery.IssuedLink:
        return await recovery.issue_from_console(session, email)

    link = with_session(_issue)
    target = f"{base_url.rstrip('/')}{link.path}" if base_url else link.path
    typer.echo(f"Enlace para restablecer la contraseña de {link.user.email}:")
    typer.echo(target)
    expires = link.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    typer.echo(f"Vence el {expires} y sirve una sola vez. Entréguelo personalmente.")


def reset_2fa(email: Annotated[str, typer.Argument(help="Correo de la cuenta")]) -> None:
    """Remove the 2FA of EMAIL (lost phone and recovery codes) and close its sessions; if 2FA
    is required of the account, the next login leads through its setup."""

    async def _reset(session: AsyncSession) -> bool:
        user = await two_factor.reset_from_console(session, email)
        return await two_factor_policy.is_required(session, user)

    required = with_session(_reset)
    typer.echo(f"{email}: verificación en dos pasos restablecida; sus sesiones fueron cerradas.")
    if required:
        typer.echo("Se le exige 2FA: la configurará de nuevo en su próximo inicio de sesión.")
