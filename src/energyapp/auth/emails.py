"""The account emails (a password-reset link, an address-verification link) and their delivery.

A request that sends one commits its rows first and answers; the email goes out afterwards
(:func:`deliver`, run as the response's background task), so no transaction waits on the relay
and a known address answers as fast as an unknown one. When the relay fails, the link it
carried is deleted (nobody received it), the failure is logged without address or token and
counted in ``energyapp_mail_failures_total``."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import PasswordReset
from energyapp.core import mail, metrics
from energyapp.core.mail_settings import MailSettings

logger = logging.getLogger("energyapp.auth.emails")

RESET_SUBJECT = "EnergyApp: restablecer su contraseña"
RESET_TEXT = """Hola, {name}:

Alguien (probablemente usted) pidió restablecer la contraseña de su cuenta de EnergyApp
({email}). Para elegir una nueva, abra este enlace dentro de las próximas {hours} horas:

{url}

El enlace sirve una sola vez. Si usted no lo pidió, ignore este correo: su contraseña no cambia.

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


def reset_email(
    settings: MailSettings, *, to: str, name: str, path: str, hours: int, link_id: uuid.UUID
) -> Outgoing:
    url = f"{settings.public_url}{path}"
    text = RESET_TEXT.format(name=name, email=to, hours=hours, url=url)
    return Outgoing("password_reset", to, RESET_SUBJECT, text, link_id)


async def deliver(
    sessionmaker: async_sessionmaker[AsyncSession], settings: MailSettings, email: Outgoing
) -> None:
    """Send ``email``; when the relay fails, delete its link and log and count the failure."""
    try:
        await mail.send(settings, email.to, email.subject, email.text)
    except mail.MailError as exc:
        metrics.MAIL_FAILURES.labels(kind=email.kind).inc()
        # Neither the address nor the link: the link id is enough to find the audit row.
        logger.warning(
            "email not sent",
            extra={"kind": email.kind, "error": str(exc), "link_id": str(email.link_id)},
        )
        async with sessionmaker() as session:
            await session.execute(delete(PasswordReset).where(PasswordReset.id == email.link_id))
            await session.commit()
        return
    logger.info("email sent", extra={"kind": email.kind, "link_id": str(email.link_id)})
