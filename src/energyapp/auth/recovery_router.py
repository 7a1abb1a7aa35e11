"""HTTP routes of account recovery (auth/recovery.py): an administrator issues a one-time
password-reset link; the person checks it and sets a new password with it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from energyapp.auth import email_recovery, emails, recovery
from energyapp.auth.deps import AdminUser, ChangesLimited
from energyapp.auth.schemas import (
    EmailAccepted,
    EmailRequest,
    PasswordResetRequest,
    ResetLinkAccount,
    ResetLinkOut,
    ResetTokenRequest,
)
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.db import SessionDep

router = APIRouter(tags=["auth"])


@router.post(
    "/admin/users/{user_id}/password-reset",
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    dependencies=[ChangesLimited],  # an admin action, counted like the others
)
async def create_reset_link(
    user_id: uuid.UUID, admin: AdminUser, request: Request, session: SessionDep
) -> ResetLinkOut:
    """Admin only: a one-time link (24 h) to set a new password for another account; earlier
    links of that account stop working. Shown once: hand it to the person yourself."""
    link = await recovery.issue_link(session, admin, user_id, request)
    return ResetLinkOut(token=link.token, path=link.path, expires_at=link.expires_at)


@router.post("/auth/password-reset/check")
async def check_reset_link(
    body: ResetTokenRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> ResetLinkAccount:
    """Whose account a link is for; 400 ``reset_link_invalid`` when unknown, used or expired."""
    user = await recovery.check_link(session, settings, limiter, request, body.token)
    return ResetLinkAccount(email=user.email, full_name=user.full_name)


@router.post("/auth/password-reset", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(
    body: PasswordResetRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> Response:
    """Set a new password with a link (once); every session of the account is closed."""
    await recovery.reset_password(
        session, settings, limiter, request, token=body.token, new_password=body.new_password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/password-reset/request", status_code=status.HTTP_202_ACCEPTED)
async def request_reset_email(
    body: EmailRequest,
    request: Request,
    background: BackgroundTasks,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> EmailAccepted:
    """Email a one-time link (24 h) to the address's active account, if there is one: the same
    202 either way. 409 ``mail_disabled`` when the server sends no email."""
    compose = await email_recovery.request_reset(settings, limiter, request, body.email)
    emails.compose_later(background, request, settings, compose)
    return EmailAccepted(detail=email_recovery.ACCEPTED)
