"""Verified addresses at registration (auth/verification.py), through a real SMTP server: with
mail on, a new account signs in only after opening the emailed link (403 ``email_not_verified``
after the right password, never before it); a link works once; a new one replaces it and is
sent again on request with the same 202 for any address; without mail nothing changes; a stale
unverified account gives its address up, a fresh one is taken back with a password reset."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import EmailVerification, User
from energyapp.auth.verification import RESENT
from energyapp.conversations.models import Conversation
from energyapp.core.migrate import upgrade
from energyapp.db import create_engine, utcnow
from tests import log_scan
from tests.auth.conftest import PASSWORD, AuditFn, ClientFactory, LoginFn, own_address
from tests.conftest import HeadersFactory, UserFactory
from tests.mail_server import MailServer, free_port, link_token

GOOD_PASSWORD = "Tren-de-cobre-42"
NOT_VERIFIED = {
    "detail": "Falta confirmar su correo: abra el enlace que le enviamos al registrarse. "
    "Si no lo encuentra, pida uno nuevo.",
    "code": "email_not_verified",
}


def _body(email: str, password: str = GOOD_PASSWORD) -> dict[str, Any]:
    return {"email": email, "password": password, "full_name": "Vera Verifica"}


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


async def _verify(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/verify-email", json={"token": token})


async def _resend(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/auth/verify-email/resend", json={"email": email})


async def test_a_new_account_signs_in_after_opening_the_emailed_link(
    mail_client: httpx.AsyncClient, mail_server: MailServer, audit_events: AuditFn
) -> None:
    email = "vera@inacapmail.cl"
    lines_before = len(log_scan.LINES)
    registered = await mail_client.post("/auth/register", json=_body(email))
    assert registered.status_code == 201
    assert registered.json()["email"] == email
    (message,) = mail_server.to(email)
    assert message["Subject"] == "EnergyApp: confirme su correo"
    token = link_token(message)
    text_body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"https://energyapp.example.cl/#/verificar/{token}" in text_body
    assert "48 horas" in text_body

    wrong = await _login(mail_client, email, "no-es-la-clave-1")
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
    refused = await _login(mail_client, email, GOOD_PASSWORD)
    assert refused.status_code == 403 and refused.json() == NOT_VERIFIED
    failed = await audit_events("login_failed")
    assert [e.details["reason"] for e in failed] == ["invalid_credentials", "email_not_verified"]
    assert (await _verify(mail_client, token)).status_code == 204
    signed_in = await _login(mail_client, email, GOOD_PASSWORD)
    assert signed_in.status_code == 200 and "access_token" in signed_in.json()
    again = await _verify(mail_client, token)
    assert again.status_code == 400 and again.json()["code"] == "verification_link_invalid"
    (verified,) = await audit_events("email_verified")
    assert verified.details == {"link_id": verified.details["link_id"]}
    logged = "\n".join(log_scan.LINES[lines_before:])
    assert token not in logged


async def test_the_login_refusal_is_audited_with_its_reason(
    mail_client: httpx.AsyncClient, mail_server: MailServer, audit_events: AuditFn
) -> None:
    email = "auditada@inacapmail.cl"
    assert (await mail_client.post("/auth/register", json=_body(email))).status_code == 201
    assert (await _login(mail_client, email, GOOD_PASSWORD)).status_code == 403
    (failed,) = await audit_events("login_failed")
    assert failed.details == {"email": email, "reason": "email_not_verified"}


async def test_resend_answers_alike_and_replaces_the_link(
    mail_client: httpx.AsyncClient, mail_server: MailServer, make_user: UserFactory
) -> None:
    email = "reenvio@alvaradomazzei.cl"
    verified = await make_user(email="verificada@alvaradomazzei.cl")
    assert (await mail_client.post("/auth/register", json=_body(email))).status_code == 201
    first = link_token(mail_server.to(email)[0])
    answers = [
        await _resend(mail_client, address)
        for address in (email, "nadie@alvaradomazzei.cl", verified.email)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert {a.json()["detail"] for a in answers} == {RESENT}
    assert [m["To"] for m in mail_server.messages] == [email, email]
    second = link_token(mail_server.to(email)[1])
    assert (await _verify(mail_client, first)).status_code == 400  # replaced
    assert (await _verify(mail_client, second)).status_code == 204


async def test_resend_is_limited_per_address(
    make_client: ClientFactory, mail_server: MailServer
) -> None:
    address = f"x-{secrets.token_hex(4)}@alvaradomazzei.cl"
    async with make_client(**mail_server.settings(), login_max_failures_per_account=2) as client:
        codes = [(await _resend(own_address(client), address)).status_code for _ in range(3)]
    assert codes == [202, 202, 429]


async def test_a_link_works_once_at_once_and_only_for_its_own_kind(
    mail_client: httpx.AsyncClient, mail_server: MailServer, audit_events: AuditFn
) -> None:
    """Two simultaneous openings of one verification link: one verifies, the other is refused;
    a verification token is no reset token and a reset token no verification token."""
    email = "doble@alvaradomazzei.cl"
    assert (await mail_client.post("/auth/register", json=_body(email))).status_code == 201
    asked = await mail_client.post("/auth/password-reset/request", json={"email": email})
    assert asked.status_code == 202
    verify_mail, reset_mail = mail_server.to(email)
    verify_token, reset_token = link_token(verify_mail), link_token(reset_mail)
    as_reset = {"token": verify_token, "new_password": GOOD_PASSWORD}
    crossed = await mail_client.post("/auth/password-reset", json=as_reset)
    assert crossed.status_code == 400 and crossed.json()["code"] == "reset_link_invalid"
    crossed = await _verify(mail_client, reset_token)
    assert crossed.status_code == 400 and crossed.json()["code"] == "verification_link_invalid"
    both = await asyncio.gather(
        _verify(mail_client, verify_token), _verify(mail_client, verify_token)
    )
    assert sorted(r.status_code for r in both) == [204, 400]
    assert len(await audit_events("email_verified")) == 1


async def test_an_expired_link_is_refused(
    mail_client: httpx.AsyncClient,
    mail_server: MailServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    email = "tarde@alvaradomazzei.cl"
    assert (await mail_client.post("/auth/register", json=_body(email))).status_code == 201
    token = link_token(mail_server.to(email)[0])
    async with sessionmaker() as session:
        await session.execute(
            update(EmailVerification).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    refused = await _verify(mail_client, token)
    assert refused.status_code == 400 and refused.json()["code"] == "verification_link_invalid"


async def test_without_mail_registration_signs_in_as_before(client: httpx.AsyncClient) -> None:
    own_address(client)
    email = "sincorreo@alvaradomazzei.cl"
    assert (await client.post("/auth/register", json=_body(email))).status_code == 201
    assert (await _login(client, email, GOOD_PASSWORD)).status_code == 200
    resend = await _resend(client, email)
    assert resend.status_code == 409 and resend.json() == {
        "detail": "Este servidor no envía correos: su cuenta no necesita confirmar el correo.",
        "code": "mail_disabled",
    }


async def test_accounts_made_by_others_are_verified(
    mail_client: httpx.AsyncClient, make_user: UserFactory, login: LoginFn
) -> None:
    user = await make_user()
    assert user.email_verified_at is not None
    assert "access_token" in await login(user.email, PASSWORD)


async def test_a_relay_that_is_down_leaves_the_account_to_ask_again(
    make_client: ClientFactory,
    mail_server: MailServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    email = "caida@alvaradomazzei.cl"
    down = {**mail_server.settings(), "smtp_port": free_port()}
    async with make_client(**down) as client:
        registered = await own_address(client).post("/auth/register", json=_body(email))
        assert registered.status_code == 201
    async with sessionmaker() as session:
        assert (await session.scalars(select(EmailVerification))).all() == []
    async with make_client(**mail_server.settings()) as client:
        assert (await _resend(own_address(client), email)).status_code == 202
        assert (await _verify(client, link_token(mail_server.to(email)[0]))).status_code == 204


async def _age(sessionmaker: async_sessionmaker[AsyncSession], email: str, hours: int) -> None:
    """Make the account ``hours`` old, and its verification links as if sent at registration."""
    created = utcnow() - timedelta(hours=hours)
    async with sessionmaker() as session:
        user_id = await session.scalar(
            update(User).where(User.email == email).values(created_at=created).returning(User.id)
        )
        await session.execute(
            update(EmailVerification)
            .where(EmailVerification.user_id == user_id)
            .values(created_at=created, expires_at=created + timedelta(hours=48))
        )
        await session.commit()


async def test_a_stale_unverified_account_gives_its_address_up(
    mail_client: httpx.AsyncClient,
    mail_server: MailServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    audit_events: AuditFn,
) -> None:
    email = "colega@alvaradomazzei.cl"
    squat = await mail_client.post("/auth/register", json=_body(email, "Ocupa-la-direccion-1"))
    assert squat.status_code == 201
    await _age(sessionmaker, email, 47)
    taken = await mail_client.post("/auth/register", json=_body(email))
    assert taken.status_code == 409 and taken.json()["code"] == "email_taken"
    await _age(sessionmaker, email, 49)
    owner = await mail_client.post("/auth/register", json=_body(email))
    assert owner.status_code == 201 and owner.json()["id"] != squat.json()["id"]
    (_, replacing) = await audit_events("register")
    assert replacing.details == {"replaced_unverified_user": squat.json()["id"]}
    assert (await _verify(mail_client, link_token(mail_server.to(email)[-1]))).status_code == 204
    assert (await _login(mail_client, email, GOOD_PASSWORD)).status_code == 200


async def test_an_unverified_account_with_a_live_link_or_given_data_keeps_its_address(
    mail_client: httpx.AsyncClient,
    mail_server: MailServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Old and never verified, but its owner asked for a new link an hour ago, or an
    administrator gave it a role or a conversation: a registration does not delete it."""
    resent, promoted, given = (f"{who}@alvaradomazzei.cl" for who in ("tarde", "jefa", "heredera"))
    for email in (resent, promoted, given):
        squat = await mail_client.post("/auth/register", json=_body(email, "Ocupa-la-direccion-1"))
        assert squat.status_code == 201
        await _age(sessionmaker, email, 49)
    assert (await _resend(mail_client, resent)).status_code == 202
    async with sessionmaker() as session:
        await session.execute(update(User).where(User.email == promoted).values(role="supervisor"))
        owner = await session.scalar(select(User).where(User.email == given))
        assert owner is not None
        session.add(Conversation(user_id=owner.id, title="Traspasada"))
        owner.conversation_count = 1
        await session.commit()
    for email in (resent, promoted, given):
        taken = await mail_client.post("/auth/register", json=_body(email))
        assert (taken.status_code, taken.json()["code"]) == (409, "email_taken"), email
    assert (await _verify(mail_client, link_token(mail_server.to(resent)[-1]))).status_code == 204
    assert (await _login(mail_client, resent, "Ocupa-la-direccion-1")).status_code == 200


async def test_a_fresh_squatter_is_undone_by_a_password_reset(
    mail_client: httpx.AsyncClient, mail_server: MailServer
) -> None:
    email = "otra.colega@alvaradomazzei.cl"
    squat = await mail_client.post("/auth/register", json=_body(email, "Ocupa-la-direccion-1"))
    assert squat.status_code == 201
    asked = await mail_client.post("/auth/password-reset/request", json={"email": email})
    assert asked.status_code == 202
    token = link_token(mail_server.to(email)[-1])
    reset = {"token": token, "new_password": GOOD_PASSWORD}
    assert (await mail_client.post("/auth/password-reset", json=reset)).status_code == 204
    assert (await _login(mail_client, email, GOOD_PASSWORD)).status_code == 200
    assert (await _login(mail_client, email, "Ocupa-la-direccion-1")).status_code == 401


async def test_an_admin_sees_and_vouches_for_an_unverified_address(
    mail_client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    audit_events: AuditFn,
) -> None:
    """The admin API shows the address is unconfirmed; an admin (not a supervisor) marks it
    confirmed, audited, and the person then signs in; a confirmation is never taken back."""
    email = "buzon.lleno@alvaradomazzei.cl"
    registered = await mail_client.post("/auth/register", json=_body(email))
    user_url = f"/admin/users/{registered.json()['id']}"
    admin, supervisor = await make_user("admin"), await make_user("supervisor")
    as_admin = await auth_headers(admin)
    shown = await mail_client.get(user_url, headers=as_admin)
    assert shown.json()["email_verified_at"] is None
    vouch = {"email_verified": True}
    refused = await mail_client.patch(user_url, json=vouch, headers=await auth_headers(supervisor))
    assert refused.status_code == 403
    assert (await _login(mail_client, email, GOOD_PASSWORD)).json() == NOT_VERIFIED
    undo = await mail_client.patch(user_url, json={"email_verified": False}, headers=as_admin)
    assert undo.status_code == 422
    vouched = await mail_client.patch(user_url, json=vouch, headers=as_admin)
    assert vouched.status_code == 200 and vouched.json()["email_verified_at"] is not None
    again = await mail_client.patch(user_url, json=vouch, headers=as_admin)
    assert again.json()["email_verified_at"] == vouched.json()["email_verified_at"]
    (event,) = await audit_events("user.email_verified")
    assert (event.actor_id, event.target_id) == (admin.id, registered.json()["id"])
    assert (await _login(mail_client, email, GOOD_PASSWORD)).status_code == 200


async def test_a_name_typed_at_registration_stays_out_of_the_emails(
    mail_client: httpx.AsyncClient, mail_server: MailServer
) -> None:
    """Whoever registers a colleague's address chooses the account's name: neither the
    verification email nor a reset email of that unverified account carries it."""
    email = "victima@alvaradomazzei.cl"
    bait = "Soporte TI. Su cuenta será bloqueada: llame al +56 2 2999 9999 o visite https://x.cl"
    registered = await mail_client.post("/auth/register", json={**_body(email), "full_name": bait})
    assert registered.status_code == 201
    asked = await mail_client.post("/auth/password-reset/request", json={"email": email})
    assert asked.status_code == 202
    verify_mail, reset_mail = mail_server.to(email)
    for message in (verify_mail, reset_mail):
        text_body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert text_body.startswith("Hola:\r\n") and "2999" not in text_body


def test_the_migration_counts_existing_accounts_as_verified(scratch_db_url: str) -> None:
    upgrade(scratch_db_url, "0013_password_resets")
    user_id = "0b7e2a560f0d4c539a573f1f6a1d0001"
    if not scratch_db_url.startswith("sqlite"):
        user_id = "0b7e2a56-0f0d-4c53-9a57-3f1f6a1d0001"

    async def _run(*statements: str) -> list[Any]:
        engine = create_engine(scratch_db_url)
        try:
            async with engine.begin() as conn:
                rows: list[Any] = []
                for statement in statements:
                    result = await conn.execute(text(statement), {"id": user_id})
                    rows = list(result.all()) if result.returns_rows else rows
                return rows
        finally:
            await engine.dispose()

    asyncio.run(
        _run(
            "INSERT INTO users (id, email, full_name, password_hash, role, is_active, "
            "totp_enabled, created_at, updated_at, last_active_at, conversation_count, "
            "message_count) VALUES (:id, 'a@x.cl', 'A', 'h', 'trabajador', true, false, "
            "'2026-10-01 00:00:00+00:00', '2026-10-01 00:00:00+00:00', "
            "'2026-10-01 00:00:00+00:00', 0, 0)"
        )
    )
    upgrade(scratch_db_url, "head")
    ((verified, created),) = asyncio.run(_run("SELECT email_verified_at, created_at FROM users"))
    assert verified == created and verified is not None
