"""What crosses the auth API. Every request body refuses unknown fields (``extra="forbid"``), so
a ``role``, ``is_active`` or ``totp_enabled`` sent by a client is a 422, never applied."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from energyapp.auth.models import User
from energyapp.auth.passwords import MAX_LENGTH, MIN_LENGTH
from energyapp.config import Settings
from energyapp.core import text
from energyapp.core.roles import Role

# Login accepts any length up to this (policy applies to new passwords only); the body limit
# still bounds it, and argon2 hashes the whole string whatever its length.
_LOGIN_PASSWORD_MAX = 1024
# New passwords are checked by ``passwords.check_new_password`` (422 ``weak_password`` with the
# exact reason), not by field limits whose message would be generic.
_POLICY = f"{MIN_LENGTH} a {MAX_LENGTH} caracteres; no una contraseña común; distinta del correo."


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class LoginRequest(_Body):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=_LOGIN_PASSWORD_MAX)


def clean_full_name(value: str) -> str:
    """The name rule of :mod:`energyapp.core.text` (no control or invisible characters), then
    whitespace collapsed; refuses an empty result."""
    name = " ".join(text.check_visible(value, "el nombre").split())
    if not name:
        raise ValueError("no puede estar vacío")
    return name


FullName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(clean_full_name)]


class RegisterRequest(_Body):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=_LOGIN_PASSWORD_MAX, description=_POLICY)
    full_name: FullName


class ProfileUpdate(_Body):
    full_name: FullName


class Verify2FARequest(_Body):
    challenge_token: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=64)


class SetupTokenRequest(_Body):
    setup_token: str = Field(min_length=1, max_length=200)


class SetupConfirmRequest(_Body):
    setup_token: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=64)


class RefreshRequest(_Body):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutRequest(_Body):
    refresh_token: str = Field(min_length=1, max_length=200)


class PasswordRequest(_Body):
    password: str = Field(min_length=1, max_length=_LOGIN_PASSWORD_MAX)


class CodeRequest(_Body):
    code: str = Field(min_length=1, max_length=64)


class Disable2FARequest(_Body):
    password: str = Field(min_length=1, max_length=_LOGIN_PASSWORD_MAX)
    code: str = Field(min_length=1, max_length=64)


class ChangePasswordRequest(_Body):
    current_password: str = Field(min_length=1, max_length=_LOGIN_PASSWORD_MAX)
    new_password: str = Field(min_length=1, max_length=_LOGIN_PASSWORD_MAX, description=_POLICY)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    totp_enabled: bool
    can_change_password: bool
    can_setup_2fa: bool
    created_at: datetime
    last_active_at: datetime

    @classmethod
    def of(cls, user: User, settings: Settings) -> UserOut:
        domain = user.email.rsplit("@", 1)[-1]
        return cls(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            totp_enabled=user.totp_enabled,
            can_change_password=domain in settings.password_change_domains,
            can_setup_2fa=domain in settings.self_service_2fa_domains,
            created_at=user.created_at,
            last_active_at=user.last_active_at,
        )


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme, not a secret
    expires_in: int = Field(description="Seconds until the access token expires")
    user: UserOut


class TwoFactorChallenge(BaseModel):
    requires_2fa: Literal[True] = True
    challenge_token: str
    expires_in: int


class TwoFactorSetupChallenge(BaseModel):
    """The login's answer for a user required to use 2FA who has not set it up yet."""

    requires_2fa_setup: Literal[True] = True
    setup_token: str
    expires_in: int


class TwoFactorSetup(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


class RequiredSetupDone(TokenPair):
    """Tokens of the new session and the recovery codes (shown only in this answer)."""

    recovery_codes: list[str]


# --- account recovery (auth/recovery.py) ---------------------------------------------------


class ResetTokenRequest(_Body):
    token: str = Field(min_length=1, max_length=200)


class PasswordResetRequest(_Body):
    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=_LOGIN_PASSWORD_MAX, description=_POLICY)


class ResetLinkAccount(BaseModel):
    """Whose password a link sets, for its page to say."""

    email: str
    full_name: str


class ResetLinkOut(BaseModel):
    """A new link, shown once: hand ``path`` (after the server's address) to the person."""

    token: str
    path: str = Field(description="/#/restablecer/<token>: the token stays in the fragment.")
    expires_at: datetime


# --- emails (auth/email_recovery.py) -------------------------------------------------------


class EmailRequest(_Body):
    email: str = Field(min_length=1, max_length=320)


class EmailAccepted(BaseModel):
    """The same answer whether or not an account has that address."""

    detail: str


class VerifyEmailRequest(_Body):
    token: str = Field(min_length=1, max_length=200)
