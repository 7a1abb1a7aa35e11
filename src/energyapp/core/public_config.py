"""Public, unauthenticated settings the web UI needs before anyone logs in."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from energyapp.core.deps import SettingsDep
from energyapp.core.tokens import message_limit

router = APIRouter(tags=["service"])


class PublicConfig(BaseModel):
    demo_quick_access: bool
    registration_domains: list[str]
    max_message_chars: int
    self_service_2fa_domains: list[str]
    password_change_domains: list[str]
    # The login offers "send me a link" by email, else says to ask an administrator.
    mail_enabled: bool
    # "Chat temporal": hours after its last message a temporary chat is deleted (the banner).
    temporary_chat_hours: int


@router.get("/config/public", response_model=PublicConfig)
async def public_config(settings: SettingsDep) -> PublicConfig:
    """What the login screen and the composer show: nothing secret, nothing per user."""
    return PublicConfig(
        demo_quick_access=settings.demo_quick_access,
        registration_domains=settings.registration_domains,
        max_message_chars=message_limit(settings),
        self_service_2fa_domains=settings.self_service_2fa_domains,
        password_change_domains=settings.password_change_domains,
        mail_enabled=settings.mail_enabled,
        temporary_chat_hours=settings.temporary_chat_hours,
    )
