"""HTTP routes of the auth domain: thin, the logic lives in ``service`` and ``two_factor``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from energyapp.auth import emails, required_2fa, service, sessions, two_factor, verification
from energyapp.auth.deps import AdminUser, ChangesLimited, CurrentUser
from energyapp.auth.schemas import (
    ChangePasswordRequest,
    CodeRequest,
    Disable2FARequest,
    LoginRequest,
    LogoutRequest,
    PasswordRequest,
    ProfileUpdate,
    RecoveryCodes,
    RefreshRequest,
    RegisterRequest,
    RequiredSetupDone,
    SetupConfirmRequest,
    SetupTokenRequest,
    TokenPair,
    TwoFactorChallenge,
    TwoFactorSetup,
    TwoFactorSetupChallenge,
    UserOut,
    Verify2FARequest,
)
from energyapp.config import Settings
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.db import SessionDep

router = APIRouter(tags=["auth"])


def _pair(tokens: sessions.IssuedTokens, settings: Settings) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        user=UserOut.of(tokens.user, settings),
    )


@router.post("/auth/login", response_model=TokenPair | TwoFactorChallenge | TwoFactorSetupChallenge)
async def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> TokenPair | TwoFactorChallenge | TwoFactorSetupChallenge:
    """Email and password → the tokens, a 2FA challenge for accounts with 2FA, or a setup
    challenge for accounts required to use 2FA that have not set it up."""
    result = await sessions.login(
        session, settings, limiter, request, email=body.email, password=body.password
    )
    if isinstance(result, sessions.IssuedChallenge):
        if result.purpose == required_2fa.SETUP:
            return TwoFactorSetupChallenge(
                setup_token=result.challenge_token, expires_in=result.expires_in
            )
        return TwoFactorChallenge(
            challenge_token=result.challenge_token, expires_in=result.expires_in
        )
    return _pair(result, settings)


@router.post("/auth/required-2fa/start")
async def start_required_2fa(
    body: SetupTokenRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> TwoFactorSetup:
    """Login of a user required to use 2FA: a new secret, its URI and QR code."""
    pending = await required_2fa.start(session, settings, request, setup_token=body.setup_token)
    return TwoFactorSetup(
        secret=pending.secret, otpauth_uri=pending.otpauth_uri, qr_svg=pending.qr_svg
    )


@router.post("/auth/required-2fa/confirm")
async def confirm_required_2fa(
    body: SetupConfirmRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> RequiredSetupDone:
    """The first code turns 2FA on and signs in; the recovery codes are shown only now."""
    done = await required_2fa.confirm(
        session, settings, limiter, request, setup_token=body.setup_token, code=body.code
    )
    pair = _pair(done.tokens, settings)
    return RequiredSetupDone(**pair.model_dump(), recovery_codes=done.recovery_codes)


@router.post("/auth/verify-2fa")
async def verify_2fa(
    body: Verify2FARequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> TokenPair:
    """Second login step: a 6-digit TOTP code or a recovery code."""
    tokens = await two_factor.verify_login(
        session,
        settings,
        limiter,
        request,
        challenge_token=body.challenge_token,
        code=body.code,
    )
    return _pair(tokens, settings)


@router.post("/auth/refresh")
async def refresh(
    body: RefreshRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> TokenPair:
    """Spend a refresh token for a new pair (rotation; reuse ends the whole session)."""
    return _pair(await sessions.refresh(session, settings, request, body.refresh_token), settings)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: LogoutRequest, request: Request, session: SessionDep) -> Response:
    """End the session of this refresh token (its access tokens stop working too)."""
    await sessions.logout(session, request, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_all(user: CurrentUser, request: Request, session: SessionDep) -> Response:
    """End every session of the caller, this one included."""
    await sessions.logout_all(session, request, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me")
async def me(user: CurrentUser, settings: SettingsDep) -> UserOut:
    return UserOut.of(user, settings)


@router.patch("/auth/me", dependencies=[ChangesLimited])
async def update_me(
    body: ProfileUpdate,
    user: CurrentUser,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> UserOut:
    """Edit the caller's own profile (only the name: role, status and 2FA are not its to set)."""
    await service.update_profile(session, request, user, full_name=body.full_name)
    return UserOut.of(user, settings)


@router.post("/auth/register", status_code=status.HTTP_201_CREATED)
async def register(
    body: RegisterRequest,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> UserOut:
    """Create a ``trabajador`` account for an address of an allowed domain. With mail on, the
    account signs in only after opening the link emailed to the address."""
    user, outgoing = await verification.register(
        session,
        settings,
        limiter,
        request,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
    )
    emails.send_later(background, request, settings, outgoing)
    return UserOut.of(user, settings)


@router.post("/auth/setup-2fa")
async def setup_2fa(
    body: PasswordRequest,
    user: CurrentUser,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> TwoFactorSetup:
    """Start 2FA setup (password required again): the secret, its URI and a QR code."""
    secret, uri, svg = await two_factor.start_setup(
        session, settings, limiter, request, user, password=body.password
    )
    return TwoFactorSetup(secret=secret, otpauth_uri=uri, qr_svg=svg)


@router.post("/auth/setup-2fa/confirm")
async def confirm_2fa(
    body: CodeRequest,
    user: CurrentUser,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> RecoveryCodes:
    """Enable 2FA with a first code; the 10 recovery codes are shown only in this answer."""
    codes = await two_factor.confirm_setup(
        session, settings, limiter, request, user, code=body.code
    )
    return RecoveryCodes(recovery_codes=codes)


@router.post("/auth/disable-2fa", status_code=status.HTTP_204_NO_CONTENT)
async def disable_2fa(
    body: Disable2FARequest,
    user: CurrentUser,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> Response:
    await two_factor.disable(
        session, settings, limiter, request, user, password=body.password, code=body.code
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/change-password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: ChangePasswordRequest,
    user: CurrentUser,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> Response:
    """New password; every other session of the account is closed."""
    await service.change_password(
        session,
        settings,
        limiter,
        request,
        user,
        current_session_id=request.state.session_id,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/admin/users/{user_id}/reset-2fa",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["admin"],
    dependencies=[ChangesLimited],  # an admin action, counted like the others
)
async def reset_2fa(
    user_id: uuid.UUID, admin: AdminUser, request: Request, session: SessionDep
) -> Response:
    """Admin only: remove a user's 2FA (lost phone) and close the user's sessions."""
    await two_factor.admin_reset(session, request, admin, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
