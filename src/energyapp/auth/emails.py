"""The account emails (a password-reset link, an address-verification link) and their delivery.

A registration commits its rows first and answers; the email goes out afterwards
(:func:`deliver`, run as the response's background task), so no transaction waits on the relay.
A request for an email by address (a reset, a new verification link) answers before even
looking the address up (:func:`compose_later`), so a known address answers like an unknown one.
When the relay fails, the link it carried is deleted (nobody received it), the failure is logged
without address or token and counted in ``energyapp_mail_failures_total``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import BackgroundTasks
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from energyapp.auth.models import EmailVerification, PasswordReset
from energyapp.core import mail
from energyapp.core.mail_settings import MailSettings

logger = logging.getLogger("energyapp.auth.emails")

RESET_SUBJECT = "EnergyApp: restablecer su contraseña"
RESET_TEXT = """{greeting}

Alguien (probablemente usted) pidió restablecer la contraseña de su cuenta de EnergyApp
({email}). Para elegir una nueva, abra este enlace dentro de las próximas {hours} horas:

{url}

El enlace sirve una sola vez. Si usted no lo pidió, ignore este correo: su contraseña no cambia.

EnergyApp
"""
VERIFY_SUBJECT = "EnergyApp: confirme su correo"
VERIFY_TEXT = """{greeting}

Se creó una cuenta de EnergyApp con este correo ({email}). Para confirmar que es suyo y poder
iniciar sesión, abra este enlace dentro de las próximas {hours} horas:

{url}

Si usted no creó la cuenta, ignore este correo: sin confirmar, nadie puede usarla.

EnergyApp
"""


@dataclass(frozen=True)
class Outgoing:
    """An email to send once the request's transaction is committed, and the link row it
    carries (deleted if the email cannot be sent)."""

    kind: str  # "password_reset" or "email_verification": the log's and the metric's label
    to: str
    subject: str
    text: str
    link_id: uuid.UUID
    link_model: type[PasswordReset] | type[EmailVerification] = PasswordReset


def _greeting(name: str | None) -> str:
    # A name someone typed at registration is not the mailbox owner's word: it stays out of the
    # email (else a squatter writes a line of their choosing in a mail from the company's relay).
    return f"Hola, {name}:" if name else "Hola:"


def reset_email(
    settings: MailSettings, *, to: str, name: str | None, path: str, hours: int, link_id: uuid.UUID
) -> Outgoing:
    """``name``: ``None`` unless the account's address is verified (see :func:`_greeting`)."""
    url = f"{settings.public_url}{path}"
    text = RESET_TEXT.format(greeting=_greeting(name), email=to, hours=hours, url=url)
    return Outgoing("password_reset", to, RESET_SUBJECT, text, link_id)


def verification_email(
    settings: MailSettings, *, to: str, path: str, hours: int, link_id: uuid.UUID
) -> Outgoing:
    """No name: the account is unverified, its name typed by whoever registered it."""
    url = f"{settings.public_url}{path}"
    text = VERIFY_TEXT.format(greeting=_greeting(None), email=to, hours=hours, url=url)
    return Outgoing("email_verification", to, VERIFY_SUBJECT, text, link_id, EmailVerification)


async def deliver(
    sessionmaker: async_sessionmaker[AsyncSession], settings: MailSettings, email: Outgoing
) -> None:
    """Send ``email``; when the relay fails, delete its link and log and count the failure."""
    try:
        await mail.send(settings, email.to, email.subject, email.text)
    except mail.MailError as exc:
        # Imported here: the CLI reaches this module (through the login), and must not load
        # the metrics before `serve` has set up their multiprocess directory.
        from energyapp.core import metrics

        metrics.MAIL_FAILURES.labels(kind=email.kind).inc()
        # Neither the address nor the link: the link id is enough to find the audit row.
        logger.warning(
            "email not sent",
            extra={"kind": email.kind, "error": str(exc), "link_id": str(email.link_id)},
        )
        async with sessionmaker() as session:
            model = email.link_model
            await session.execute(delete(model).where(model.id == email.link_id))
            await session.commit()
        return
    logger.info("email sent", extra={"kind": email.kind, "link_id": str(email.link_id)})


# Finds the account an emailed request is about and issues its link, in a session of its own.
Compose = Callable[[AsyncSession], Awaitable[Outgoing | None]]


async def compose_and_deliver(
    sessionmaker: async_sessionmaker[AsyncSession], settings: MailSettings, compose: Compose
) -> None:
    """Run ``compose`` and commit, then send its email, if any."""
    async with sessionmaker() as session:
        email = await compose(session)
        await session.commit()
    if email is not None:
        await deliver(sessionmaker, settings, email)


def compose_later(
    background: BackgroundTasks, request: Request, settings: MailSettings, compose: Compose
) -> None:
    """Look the address up, issue and send its link once the answer is out: a request for an
    email (a reset, a new verification link) then does the same work and takes the same time
    whether or not an account has the address (no lookup, no write, no commit of its own)."""
    background.add_task(compose_and_deliver, request.app.state.sessionmaker, settings, compose)


def send_later(
    background: BackgroundTasks, request: Request, settings: MailSettings, email: Outgoing | None
) -> None:
    """Send ``email`` (if any) once the answer is out, which is after the session's commit."""
    if email is not None:
        background.add_task(deliver, request.app.state.sessionmaker, settings, email)
