"""The SMTP settings (``ENERGYAPP_SMTP_*``, ``ENERGYAPP_MAIL_FROM``, ``ENERGYAPP_PUBLIC_URL``):
fields of :class:`energyapp.config.Settings`, kept here so that the one settings class stays
readable. Mail is on only when a relay, a sender and the app's public address are all set; by
default it is off and every feature that needs it says so (``mail_disabled``)."""

from __future__ import annotations

import re
from typing import Any, Self

import email_validator
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator


class MailSettings(BaseModel):
    # The company's relay; unset: no email is ever sent.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # STARTTLS after connecting (port 587); ``smtp_tls`` instead: TLS from the start (port 465).
    smtp_starttls: bool = True
    smtp_tls: bool = False
    # The sender of every email, a plain address (no display name).
    mail_from: str | None = None
    # The address people open the app at (``https://energyapp.empresa.cl``): the links in emails.
    public_url: str | None = None

    @field_validator(
        "smtp_host", "smtp_username", "smtp_password", "mail_from", "public_url", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `.env.example` lists them empty: an empty value means "unset", as for the data key.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = email_validator.validate_email(
                value.strip(), check_deliverability=False, allow_smtputf8=False
            )
        except email_validator.EmailNotValidError:
            raise ValueError(
                "debe ser una dirección de correo, p. ej. energyapp@empresa.cl"
            ) from None
        return parsed.normalized

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value.strip()):
            raise ValueError(
                "debe ser la dirección de la app, con http:// o https:// y sin #, "
                "p. ej. https://energyapp.empresa.cl"
            )
        return value.strip().rstrip("/")

    @property
    def mail_enabled(self) -> bool:
        """Whether the app sends email: relay, sender and public address all set."""
        return bool(self.smtp_host and self.mail_from and self.public_url)

    @model_validator(mode="after")
    def _https_in_production(self) -> Self:
        # The links in emails carry one-time tokens: over plain http anyone on the path reads
        # them. ``env`` is a field of the Settings class this one is mixed into.
        production = getattr(self, "env", None) == "production"
        if production and self.public_url and not self.public_url.startswith("https://"):
            raise ValueError(
                "ENERGYAPP_PUBLIC_URL debe empezar con https:// en producción: los enlaces de "
                "los correos llevan un código de un solo uso"
            )
        return self
