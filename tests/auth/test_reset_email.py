"""Self-service password reset by email (auth/email_recovery.py), through a real SMTP server:
the emailed link sets a new password; the answer is the same 202 for an unknown or
deactivated address (and nothing is sent); limits per IP and per address; a relay that is
down still answers 202 and leaves no link behind; without mail, 409 ``mail_disabled``; neither
the token nor the address reaches a log line."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.email_recovery import ACCEPTED
from energyapp.auth.models import PasswordReset, User
from energyapp.core import mail, metrics
from tests import log_scan
from tests.auth.conftest import AuditFn, ClientFactory, LoginFn, own_address
from tests.conftest import UserFactory
from tests.mail_server import MailServer, free_port, link_token

NEW_PASSWORD = "Valdivia-llueve-siempre-9"


async def _ask(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/auth/password-reset/request", json={"email": email})


async def _links(sessionmaker: async_sessionmaker[AsyncSession], user: User) -> int:
    async with sessionmaker() as session:
        query = select(func.count()).where(PasswordReset.user_id == user.id)
        return int(await session.scalar(query) or 0)


async def test_the_emailed_link_sets_a_new_password(
    mail_client: httpx.AsyncClient,
    mail_server: MailServer,
    make_user: UserFactory,
    login: LoginFn,
    audit_events: AuditFn,
) -> None:
    user = await make_user(email="olvido.correo@alvaradomazzei.cl", full_name="Olga Correo")
    lines_before = len(log_scan.LINES)
    asked = await _ask(mail_client, " Olvido.Correo@alvaradomazzei.cl ")
    assert asked.status_code == 202
    assert asked.json() == {"detail": ACCEPTED}

    (message,) = mail_server.to(user.email)
    assert message["From"] == "energyapp@alvaradomazzei.cl"
    assert message["Subject"] == "EnergyApp: restablecer su contraseña"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hola, Olga Correo:" in text and "24 horas" in text
    token = link_token(message)
    assert f"https://energyapp.example.cl/#/restablecer/{token}" in text

    reset = await mail_client.post(
        "/auth/password-reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204
    assert "access_token" in await login(user.email, NEW_PASSWORD)
    (issued,) = await audit_events("password_reset_link_created")
    assert issued.actor_id is None
    assert issued.details == {"link_id": issued.details["link_id"], "via": "email"}
    logged = "\n".join(log_scan.LINES[lines_before:])
    assert token not in logged and user.email not in logged
    assert '"kind": "password_reset"' in logged  # the sending itself is logged


async def test_with_mail_a_spent_link_says_to_ask_for_one_at_the_login(
    mail_client: httpx.AsyncClient,
) -> None:
    """No administrator is needed for a new link when the server sends email."""
    checked = await mail_client.post("/auth/password-reset/check", json={"token": "x" * 43})
    assert checked.status_code == 400
    assert checked.json() == {
        "detail": "El enlace ya no es válido: pida uno nuevo con «¿Olvidó su contraseña?» al "
        "iniciar sesión.",
        "code": "reset_link_invalid",
    }


async def test_unknown_and_deactivated_addresses_get_the_same_answer_and_no_email(
    mail_client: httpx.AsyncClient,
    mail_server: MailServer,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    inactive = await make_user(email="baja@alvaradomazzei.cl", is_active=False)
    known = await make_user(email="activa@alvaradomazzei.cl")
    answers = [
        await _ask(mail_client, address)
        for address in ("nadie@alvaradomazzei.cl", inactive.email, "no es un correo", known.email)
    ]
    assert [a.status_code for a in answers] == [202] * 4
    assert len({a.text for a in answers}) == 1
    assert [m["To"] for m in mail_server.messages] == [known.email]
    assert await _links(sessionmaker, inactive) == 0


async def test_requests_are_limited_per_address_and_per_ip(
    make_client: ClientFactory, mail_server: MailServer, make_user: UserFactory
) -> None:
    user = await make_user()
    limits = {"login_max_failures_per_account": 2, "login_max_failures_per_ip": 4}
    async with make_client(**mail_server.settings(), **limits) as client:
        own_address(client)
        assert [(await _ask(client, user.email)).status_code for _ in range(3)] == [202, 202, 429]
        third = await _ask(client, user.email)
        assert third.json()["code"] == "too_many_attempts"
        assert len(mail_server.to(user.email)) == 2
    async with make_client(**mail_server.settings(), **limits) as client:
        own_address(client)
        codes = [
            (await _ask(client, f"p{i}-{user.id}@alvaradomazzei.cl")).status_code for i in range(5)
        ]
        assert codes == [202, 202, 202, 202, 429]


async def test_a_relay_that_is_down_still_answers_202_and_leaves_no_link(
    make_client: ClientFactory,
    mail_server: MailServer,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    failures = metrics.MAIL_FAILURES.labels(kind="password_reset")
    before = failures._value.get()
    lines_before = len(log_scan.LINES)
    down = {**mail_server.settings(), "smtp_port": free_port()}  # nothing listens there
    async with make_client(**down) as client:
        asked = await _ask(own_address(client), user.email)
    assert asked.status_code == 202 and asked.json() == {"detail": ACCEPTED}
    assert await _links(sessionmaker, user) == 0
    assert failures._value.get() == before + 1
    logged = "\n".join(log_scan.LINES[lines_before:])
    assert "email not sent" in logged and user.email not in logged


async def test_without_mail_the_answer_says_to_ask_an_administrator(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    asked = await _ask(client, user.email)
    assert asked.status_code == 409
    assert asked.json() == {
        "detail": "Este servidor no envía correos. Pida a un administrador un enlace para "
        "restablecer su contraseña.",
        "code": "mail_disabled",
    }
    assert (await client.get("/config/public")).json()["mail_enabled"] is False


async def test_public_config_says_mail_is_on(mail_client: httpx.AsyncClient) -> None:
    assert (await mail_client.get("/config/public")).json()["mail_enabled"] is True


async def test_a_relay_that_never_answers_is_given_up_after_the_timeout(
    make_client: ClientFactory,
    mail_server: MailServer,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mail, "SEND_TIMEOUT", 0.5)
    user = await make_user()
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hung = {**mail_server.settings(), "smtp_port": silent.getsockname()[1]}
        async with make_client(**hung) as client:
            started = time.monotonic()
            asked = await _ask(own_address(client), user.email)
            elapsed = time.monotonic() - started
    assert asked.status_code == 202
    assert elapsed < 5
    assert await _links(sessionmaker, user) == 0
