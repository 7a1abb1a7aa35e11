"""Registration by domain (that cannot be fooled), the password policy, fields a user does not
own, and long multibyte passwords."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from energyapp.auth.passwords import common_passwords, password_problem
from tests.auth.conftest import AuditFn, bearer

GOOD_PASSWORD = "Tren-de-cobre-42"


def _body(email: str, password: str = GOOD_PASSWORD, **extra: Any) -> dict[str, Any]:
    return {"email": email, "password": password, "full_name": "Nueva Persona", **extra}


async def _user_count(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("ana@inacapmail.cl", "ana@inacapmail.cl"),
        ("  Ana.Perez@AlvaradoMazzei.CL ", "ana.perez@alvaradomazzei.cl"),
        ("ana+chat@inacapmail.cl", "ana+chat@inacapmail.cl"),
    ],
)
async def test_register_an_allowed_domain(
    email: str, stored: str, client: httpx.AsyncClient, audit_events: AuditFn
) -> None:
    response = await client.post("/auth/register", json=_body(email))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == stored
    assert body["role"] == "trabajador"
    assert body["totp_enabled"] is False
    assert "password_hash" not in body and GOOD_PASSWORD not in str(body)
    (event,) = await audit_events("register")
    assert str(event.actor_id) == body["id"]
    login = await client.post("/auth/login", json={"email": stored, "password": GOOD_PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("email", "status", "code"),
    [
        ("x@gmail.com", 403, "domain_not_allowed"),
        ("x@inacapmail.cl.evil.com", 403, "domain_not_allowed"),
        ("x@evil-inacapmail.cl", 403, "domain_not_allowed"),
        ("x@evilinacapmail.cl", 403, "domain_not_allowed"),
        ("x@sub.inacapmail.cl", 403, "domain_not_allowed"),
        ("x@alvaradomazzei.cl.co", 403, "domain_not_allowed"),
        ("x@evil.com@inacapmail.cl", 422, "invalid_email"),
        ("x@inacapmail.cl@evil.com", 422, "invalid_email"),
        ('"x@evil.com"@inacapmail.cl', 422, "invalid_email"),
        ('"x"@inacapmail.cl', 422, "invalid_email"),
        ("x@inacapmail.cl.", 422, "invalid_email"),
        ("x@[127.0.0.1]", 422, "invalid_email"),
        ("Nombre <x@inacapmail.cl>", 422, "invalid_email"),
        ("x@inacapmail.cl\n", 201, None),  # trailing whitespace is trimmed: a normal address
        ("x@inacapmail.cl\nBcc: y@evil.com", 422, "invalid_email"),
        ("x@inаcapmail.cl", 422, "invalid_email"),  # Cyrillic "а"
        ("x@ｉｎａｃａｐｍａｉｌ.cl", 422, "invalid_email"),  # full-width look-alike
        ("x@xn--incapmail-1yh.cl", 403, "domain_not_allowed"),  # the same, punycoded
        ("ｘ@inacapmail.cl", 422, "invalid_email"),
        ("x@inacapmail。cl", 422, "invalid_email"),  # ideographic full stop
        ("x\u200b@inacapmail.cl", 422, "invalid_email"),  # zero-width space
        ("x@INACAPMAIL.CL", 201, None),
        ("inacapmail.cl", 422, "invalid_email"),
        ("@inacapmail.cl", 422, "invalid_email"),
    ],
)
async def test_domain_tricks_are_refused(
    email: str,
    status: int,
    code: str | None,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    response = await client.post("/auth/register", json=_body(email))
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["code"] == code
        assert await _user_count(sessionmaker) == 0
    else:
        assert response.json()["email"] == "x@inacapmail.cl"


async def test_an_email_already_used_is_409_case_insensitively(client: httpx.AsyncClient) -> None:
    assert (await client.post("/auth/register", json=_body("dup@inacapmail.cl"))).status_code == 201
    again = await client.post("/auth/register", json=_body(" DUP@InacapMail.cl"))
    assert again.status_code == 409
    assert again.json()["code"] == "email_taken"


@pytest.mark.parametrize("field", ["role", "is_active", "totp_enabled", "id", "password_hash"])
async def test_fields_a_user_does_not_own_are_refused(
    field: str, client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    value: Any = {"role": "admin", "is_active": True, "totp_enabled": False}.get(field, "x")
    response = await client.post(
        "/auth/register", json=_body("campo@inacapmail.cl", **{field: value})
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["detail"]
    assert await _user_count(sessionmaker) == 0


@pytest.mark.parametrize("field", ["role", "is_active", "totp_enabled", "email"])
async def test_profile_update_refuses_fields_it_does_not_own(
    field: str,
    client: httpx.AsyncClient,
    make_user: Any,
    auth_headers: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user()
    headers = await auth_headers(user)
    value: Any = {"role": "admin", "is_active": True, "totp_enabled": True}.get(field, "a@b.cl")
    response = await client.patch(
        "/auth/me", json={"full_name": "Otro Nombre", field: value}, headers=headers
    )
    assert response.status_code == 422
    async with sessionmaker() as session:
        row = await session.get(User, user.id)
        assert row is not None
        assert (row.role, row.full_name) == ("trabajador", user.full_name)
    ok = await client.patch("/auth/me", json={"full_name": "  Otro   Nombre "}, headers=headers)
    assert ok.status_code == 200
    assert ok.json()["full_name"] == "Otro Nombre"
    assert ok.json()["role"] == "trabajador"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("corta1", "8"),
        ("x" * 129, "128"),
        ("password123", "común"),
        ("Contraseña123", "común"),
        ("QWERTYUIOP", "común"),
        ("politica@inacapmail.cl", "correo"),
        ("POLITICA@inacapmail.cl", "correo"),
    ],
)
async def test_weak_passwords_are_refused(
    password: str,
    reason: str,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    response = await client.post("/auth/register", json=_body("politica@inacapmail.cl", password))
    assert response.status_code == 422
    assert reason in response.json()["detail"]
    assert await _user_count(sessionmaker) == 0


def test_the_common_password_list_ships_with_the_package() -> None:
    words = common_passwords()
    assert len(words) > 1000
    assert {"password", "12345678", "qwertyuiop", "contraseña"} <= words
    assert all(len(w) >= 8 for w in words)
    assert password_problem("Tren-de-cobre-42", email="a@inacapmail.cl") is None


@pytest.mark.parametrize(
    "password",
    [
        "ñ" * 100,  # 200 bytes, 100 characters
        "😀" * 50,  # 200 bytes, 50 characters (4-byte UTF-8)
        "a" * 72 + "€" * 42 + "bb",  # 200 bytes, crosses bcrypt's 72-byte cut
    ],
    ids=["2-byte-chars", "4-byte-chars", "past-72-bytes"],
)
async def test_200_byte_passwords_are_hashed_whole(
    password: str, client: httpx.AsyncClient
) -> None:
    assert len(password.encode()) == 200
    response = await client.post("/auth/register", json=_body("largo@inacapmail.cl", password))
    assert response.status_code == 201, response.text
    ok = await client.post(
        "/auth/login", json={"email": "largo@inacapmail.cl", "password": password}
    )
    assert ok.status_code == 200
    # A truncated copy (what bcrypt would have compared) must not log in.
    truncated = password.encode()[:72].decode(errors="ignore")
    bad = await client.post(
        "/auth/login", json={"email": "largo@inacapmail.cl", "password": truncated}
    )
    assert bad.status_code == 401
    changed = password[:-1] + "x"
    bad_end = await client.post(
        "/auth/login", json={"email": "largo@inacapmail.cl", "password": changed}
    )
    assert bad_end.status_code == 401


async def test_too_long_password_is_422_never_500(client: httpx.AsyncClient) -> None:
    for password in ("😀" * 129, "x" * 5000):
        response = await client.post("/auth/register", json=_body("x@inacapmail.cl", password))
        assert response.status_code == 422
    login = await client.post(
        "/auth/login", json={"email": "x@inacapmail.cl", "password": "😀" * 2000}
    )
    assert login.status_code == 422


async def test_full_name_is_cleaned_and_control_characters_refused(
    client: httpx.AsyncClient,
) -> None:
    bad = await client.post(
        "/auth/register", json={**_body("n@inacapmail.cl"), "full_name": "Ana\u0000Pérez"}
    )
    assert bad.status_code == 422
    blank = await client.post(
        "/auth/register", json={**_body("n@inacapmail.cl"), "full_name": "   "}
    )
    assert blank.status_code == 422
    ok = await client.post(
        "/auth/register", json={**_body("n@inacapmail.cl"), "full_name": "  Ana   Pérez  "}
    )
    assert ok.status_code == 201
    assert ok.json()["full_name"] == "Ana Pérez"
    me = await client.post(
        "/auth/login", json={"email": "n@inacapmail.cl", "password": GOOD_PASSWORD}
    )
    assert me.status_code == 200
    assert (await client.get("/auth/me", headers=bearer(me.json()))).json()[
        "full_name"
    ] == "Ana Pérez"
