"""HTTP routes of address verification (auth/verification.py): the emailed link, and a new
one when it was lost. Registration itself is ``POST /auth/register`` (auth/router.py)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from energyapp.auth import emails, verification
from energyapp.auth.schemas import EmailAccepted, EmailRequest, VerifyEmailRequest
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.db import SessionDep

router = APIRouter(tags=["auth"])


@router.post("/auth/verify-email", status_code=status.HTTP_204_NO_CONTENT)
async def verify_email(
    body: VerifyEmailRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> Response:
    """Open the emailed link (once): the account's address is verified and it can sign in."""
    await verification.verify(session, settings, limiter, request, body.token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/verify-email/resend", status_code=status.HTTP_202_ACCEPTED)
async def resend_verification(
    body: EmailRequest,
    request: Request,
    background: BackgroundTasks,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> EmailAccepted:
    """A new link (48 h) for an unverified account of that address, if any: the same 202 either
    way. 409 ``mail_disabled`` when the server sends no email."""
    compose = await verification.resend(settings, limiter, request, body.email)
    emails.compose_later(background, request, settings, compose)
    return EmailAccepted(detail=verification.RESENT)
