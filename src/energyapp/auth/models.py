"""Accounts and the state behind sessions: refresh tokens, 2FA challenges, recovery codes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from energyapp.core.roles import Role, role_check
from energyapp.db import Base, UTCDateTime, new_id, utcnow


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(role_check(), name="role_valid"),
        Index("ix_users_last_active", "last_active_at", "id"),
        Index("ix_users_role_last_active", "role", "last_active_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Stored normalised (trimmed, lower-case), so the unique index is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            native_enum=False,
            create_constraint=False,  # the named check constraint above
            length=20,
            values_callable=lambda roles: [role.value for role in roles],
        ),
        default=Role.TRABAJADOR,
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Sealed with the data keyring, never in clear (auth/totp_secrets.py).
    totp_secret: Mapped[str | None] = mapped_column(String(255), default=None)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Highest TOTP time step accepted so far: a code at or below it is a replay.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Set by an admin: the next login leads through 2FA setup (auth/required_2fa.py).
    require_2fa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # An administrator's switch: off, the user can neither create nor use API keys.
    api_keys_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Null until the first sign-in (the admin panel shows "nunca"). No Python-side default, so
    # an insert names the column only when it is set.
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the person proved owning the address (auth/verification.py). Accounts an admin, the
    # console or the seed create count as verified at creation; a self-registration leaves it
    # null, and with mail on such an account cannot sign in until its emailed link is opened.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    # Denormalised counters for the admin list; conversations/counters.py is their only writer.
    conversation_count: Mapped[int] = mapped_column(Integer, default=0)
    message_count: Mapped[int] = mapped_column(Integer, default=0)


# The table itself, for Core statements (lists, authentication, the chat's writes).
USERS: Table = User.__table__  # type: ignore[assignment]


class AuthSession(Base):
    """One login (the refresh-token family). Access tokens carry its id as ``sid``; once it is
    revoked (logout, logout-all, password change, refresh-token reuse) they stop working too."""

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # absolute lifetime
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)


class RefreshToken(Base):
    """One opaque refresh token of a session; only its SHA-256 is stored."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # idle limit of this token
    # Set when the token is spent: by its rotation, or when a retry of its predecessor within
    # the grace replaced it before it was ever used (auth/sessions.py).
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The token its rotation issued (moved on by each retry within the grace); None while
    # unspent and for a token replaced unused, which therefore never earns a retry itself. No
    # foreign key: rows are pruned independently, and a missing successor only means no grace.
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


class LoginChallenge(Base):
    """The second step of a login with 2FA: single use, short-lived, few attempts."""

    __tablename__ = "login_challenges"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # "verify": the code step of a 2FA login; "setup": 2FA is required but not yet set up.
    purpose: Mapped[str] = mapped_column(String(16), default="verify", server_default="verify")


class Role2FAPolicy(Base):
    """Whether everyone with a role must use 2FA (a role without a row does not)."""

    __tablename__ = "role_2fa_policies"

    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    require_2fa: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class OneTimeLink:
    """The columns of a one-time link sent to or handed to a person (auth/links.py): only the
    token's SHA-256 is stored; it expires, and is spent once."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PasswordReset(OneTimeLink, Base):
    """A link that sets a new password (auth/recovery.py): handed over by an administrator, or
    emailed to a person who asked for it (auth/email_recovery.py)."""

    __tablename__ = "password_resets"

    # The administrator who issued it; null when it came from the console or by email.
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class EmailVerification(OneTimeLink, Base):
    """A link proving that a self-registered person owns the address (auth/verification.py)."""

    __tablename__ = "email_verifications"
