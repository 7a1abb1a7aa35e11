"""No answer of the app may be kept by a browser or a proxy (ASVS 8.2.1): every response outside
/static carries exactly one ``Cache-Control: no-store``; the UI's static files stay cacheable."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.conftest import UserFactory
from tests.hardening.conftest import Actor

PASSWORD = "Contrasena-segura-1"


def assert_no_store(response: httpx.Response, context: str) -> None:
    assert response.headers.get_list("cache-control") == ["no-store"], (
        f"{context}: {response.status_code} {response.headers.get_list('cache-control')}"
    )


async def test_tokens_and_private_data_are_not_stored(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user(password=PASSWORD)
    login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.status_code == 200 and "refresh_token" in login.json()
    assert_no_store(login, "login")
    tokens = login.json()
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert_no_store(refreshed, "refresh")
    headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    created = await client.post("/conversations", json={"title": "Privada"}, headers=headers)
    assert created.status_code == 201
    answers = {"create conversation": created}
    conversation = created.json()["id"]
    for url in (
        "/auth/me",
        "/conversations",
        f"/conversations/{conversation}",
        f"/conversations/{conversation}/messages",
        f"/conversations/{conversation}/export?format=json",
        f"/conversations/{conversation}/export?format=md",
    ):
        answers[url] = await client.get(url, headers=headers)
        assert answers[url].status_code == 200, url
    for context, response in answers.items():
        assert_no_store(response, context)


async def test_errors_and_service_routes_are_not_stored(
    client: httpx.AsyncClient, app: FastAPI, actors: dict[str, Actor]
) -> None:
    limit = app.state.settings.max_body_bytes
    json_type = {"Content-Type": "application/json"}
    answers = {
        "401": await client.get("/auth/me"),
        "404": await client.get("/no-existe"),
        "not static": await client.get("/staticx/index.html"),
        "422": await client.post("/auth/login", json={}),
        "invalid encoding": await client.post(
            "/auth/login", content='{"email": "a"}'.encode("utf-16-le"), headers=json_type
        ),
        "413": await client.post("/auth/login", content=b"x" * (limit + 1), headers=json_type),
        "403": await client.get("/admin/users", headers=actors["trabajador"].headers),
        "health": await client.get("/health"),
        "metrics": await client.get("/metrics"),
        "public config": await client.get("/config/public"),
        "openapi": await client.get("/openapi.json"),
        "docs": await client.get("/docs"),
        "root redirect": await client.get("/"),
    }
    for context, response in answers.items():
        assert response.status_code < 500, context
        assert_no_store(response, context)


async def test_static_assets_stay_cacheable(client: httpx.AsyncClient) -> None:
    for path in ("/static/index.html", "/static/", "/static/js/api.js", "/static/logo.svg"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "no-store" not in response.headers.get("cache-control", ""), path
        assert response.headers["etag"] and response.headers["last-modified"], path
        again = await client.get(path, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304, path
