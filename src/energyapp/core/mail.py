"""Sending email through the operator's SMTP relay (settings in core/mail_settings.py).

Plain-text messages, one recipient each. A send is bounded by :data:`SEND_TIMEOUT` as a whole
and fails with :class:`MailError` whatever went wrong (relay unreachable, refused, slow), so a
caller has one error to handle. Never call it while a database transaction is open: commit
first, then send (a slow relay would otherwise hold the transaction and its locks)."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from energyapp.core.mail_settings import MailSettings

SEND_TIMEOUT = 10.0


class MailError(Exception):
    """An email could not be handed to the relay. ``str()`` names the kind of failure only:
    never the recipient, the message or the relay's credentials."""


def _message(settings: MailSettings, to: str, subject: str, text: str) -> EmailMessage:
    assert settings.mail_from is not None  # noqa: S101 - callers check mail_enabled
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rsplit("@", 1)[-1])
    message.set_content(text, charset="utf-8")
    return message


async def send(settings: MailSettings, to: str, subject: str, text: str) -> None:
    """Hand one plain-text email to the relay; :class:`MailError` when mail is off or it fails."""
    if not settings.mail_enabled or settings.smtp_host is None:
        raise MailError("mail_disabled")
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        async with asyncio.timeout(SEND_TIMEOUT):  # the whole exchange, not each step
            await aiosmtplib.send(
                _message(settings, to, subject, text),
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password,
                use_tls=settings.smtp_tls,
                # Implicit TLS already encrypts: STARTTLS applies to a plain connection only.
                start_tls=settings.smtp_starttls and not settings.smtp_tls,
                timeout=SEND_TIMEOUT,
            )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise MailError(type(exc).__name__) from None
