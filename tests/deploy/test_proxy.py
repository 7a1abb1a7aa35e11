"""The app behind a real Caddy started from deploy/Caddyfile: headers, caching, /metrics and the API
docs hidden, streamed answers in pieces, the smoke test script, and fail2ban reading the access log
Caddy writes."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Conversation, Message
from energyapp.core.middleware import CSP
from tests.conftest import UserFactory
from tests.deploy.conftest import (
    DEPLOY,
    METRICS_TOKEN,
    SCRIPTS,
    Proxy,
    Server,
    free_port,
    need,
    run,
    running_app,
    running_caddy,
    running_fake_ollama,
)

pytestmark = [pytest.mark.deploy, pytest.mark.postgres_only]

PASSWORD = "Clave-de-prueba-42"


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def _wait_answers_saved(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Generations go on after a client leaves; let them end before the database is emptied."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        async with sessionmaker() as session:
            streaming = await session.scalar(
                select(func.count()).select_from(Message).where(Message.status == "streaming")
            )
        if not streaming:
            return
        time.sleep(0.1)
    pytest.fail("answers still streaming after 20 s")


def _log_entries(access_log: Path, at_least: int) -> list[dict[str, Any]]:
    """Caddy writes the line once the response is finished: wait for them."""
    deadline = time.monotonic() + 10
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = access_log.read_text().splitlines() if access_log.exists() else []
        if len(lines) >= at_least:
            break
        time.sleep(0.05)
    return [json.loads(line) for line in lines]


async def test_security_headers_and_compression(caddy: Proxy) -> None:
    async with httpx.AsyncClient(base_url=caddy.url) as client:
        page = await client.get("/static/js/app.js", headers={"Accept-Encoding": "gzip"})
        api = await client.get("/config/public", headers={"Accept-Encoding": "gzip"})
        missing = await client.get("/no-such-page")
        # Production: the API's documentation and schema are not served.
        docs = [await client.get(path) for path in ("/docs", "/redoc", "/openapi.json")]
    assert page.status_code == 200 and api.status_code == 200
    assert page.headers["content-encoding"] == "gzip"
    for response in (page, api, missing, *docs):
        assert response.headers.get_list("content-security-policy") == [CSP]
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "server" not in response.headers
    # Nothing the app answers is stored, except the UI's static files.
    for response in (api, missing, *docs):
        assert response.headers.get_list("cache-control") == ["no-store"]
    assert "no-store" not in page.headers.get("cache-control", "")
    assert [response.status_code for response in docs] == [404, 404, 404]


async def test_app_down_answers_503_in_the_app_error_shape(tmp_path: Path) -> None:
    """While the app restarts, Caddy answers for it: JSON the UI can show, same headers (after
    trying for lb_try_duration to reach an instance)."""
    with running_caddy([free_port()], tmp_path, ready_path=None) as proxy:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{proxy.url}/auth/login", json={})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.headers.get_list("content-security-policy") == [CSP]
    assert "server" not in response.headers
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert "Intente de nuevo" in body["detail"]


async def test_metrics_are_not_served_publicly(caddy: Proxy, app_server: Server) -> None:
    async with httpx.AsyncClient() as client:
        direct = await client.get(f"{app_server.url}/metrics")
        assert direct.status_code == 200
        assert "# HELP" in direct.text
        # Were Caddy's rule gone, the app itself would refuse what Caddy relays...
        relayed = {"X-Forwarded-For": "203.0.113.7"}
        response = await client.get(f"{app_server.url}/metrics", headers=relayed)
        assert response.status_code == 401 and "# HELP" not in response.text
        # ...unless it carries the metrics token, as a Prometheus elsewhere would.
        token = {**relayed, "Authorization": f"Bearer {METRICS_TOKEN}"}
        response = await client.get(f"{app_server.url}/metrics", headers=token)
        assert response.status_code == 200 and "# HELP" in response.text
        for path in ("/metrics", "/metrics/", "/metrics?format=text", "/%6Detrics", "/metrics/x"):
            response = await client.get(f"{caddy.url}{path}")
            assert response.status_code == 404, path
            assert "# HELP" not in response.text, path
            # The app's 404 for an unknown path, not an empty answer that tells it apart.
            assert response.json() == {
                "detail": "No se encontró el recurso solicitado.",
                "code": "not_found",
            }, path
            assert response.headers["content-type"] == "application/json", path


async def test_a_streamed_answer_arrives_in_pieces(caddy: Proxy, make_user: UserFactory) -> None:
    """Each token event crosses Caddy as the app writes it, even when the client accepts gzip
    (a buffering proxy would deliver the whole answer at once, at the end)."""
    user = await make_user(password=PASSWORD)
    async with httpx.AsyncClient(base_url=caddy.url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {await _login(client, user.email)}"}
        headers["Accept-Encoding"] = "gzip"
        start = time.perf_counter()
        arrivals: list[tuple[float, bytes]] = []
        async with client.stream(
            "POST", "/chat", json={"message": "Cuéntame algo breve."}, headers=headers
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in response.headers
            async for chunk in response.aiter_raw():
                arrivals.append((time.perf_counter() - start, chunk))
    token_times = [t for t, chunk in arrivals if b"event: token" in chunk]
    done_time = next(t for t, chunk in arrivals if b"event: done" in chunk)
    # 24 tokens at 25 per second: about a second of answer, in many separate pieces.
    assert len(token_times) >= 5, arrivals
    assert done_time - token_times[0] >= 0.4, (token_times, done_time)
    assert len({round(t, 2) for t in token_times}) >= 5


async def test_smoke_test_passes_through_caddy(
    caddy: Proxy, make_user: UserFactory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    user = await make_user(email="humo@alvaradomazzei.cl", password=PASSWORD)
    result = run(
        [SCRIPTS / "smoke_test.sh", caddy.url],
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "SMOKE_EMAIL": user.email, "SMOKE_PASSWORD": PASSWORD},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert steps == [
        "ok   health",
        "ok   login",
        "ok   auth/me",
        "ok   chat",
        "ok   conversation listed",
        "ok   clean-up",
    ]
    assert f"smoke test passed: {caddy.url}" in result.stdout
    async with sessionmaker() as session:
        left = await session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.user_id == user.id)
        )
    assert left == 0, "the smoke test deletes its conversation"


async def test_smoke_test_names_the_step_that_failed(caddy: Proxy, make_user: UserFactory) -> None:
    user = await make_user(password=PASSWORD)
    env = {"PATH": "/usr/bin:/bin", "SMOKE_EMAIL": user.email, "SMOKE_PASSWORD": "incorrecta-1"}
    wrong = run([SCRIPTS / "smoke_test.sh", caddy.url], timeout=60, env=env)
    assert wrong.returncode == 1
    assert "ok   health" in wrong.stdout
    assert "FAILED: login: POST /auth/login answered 401" in wrong.stderr

    down = run([SCRIPTS / "smoke_test.sh", "http://127.0.0.1:9"], timeout=60, env=env)
    assert down.returncode == 1
    assert "FAILED: health: no answer from http://127.0.0.1:9" in down.stderr
    assert "head:" not in down.stderr  # no complaint about a body file never written


async def test_access_log_leaves_a_shared_links_token_out(
    caddy: Proxy, make_user: UserFactory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A shared link's token is the capability to read a conversation: the app's log writes
    /shared/[redactado] (logging.redact_text), and so must Caddy's, kept 14 days and read by
    fail2ban."""
    user = await make_user(password=PASSWORD)
    before = len(_log_entries(caddy.access_log, 0))
    async with httpx.AsyncClient(base_url=caddy.url, timeout=30) as client:
        bearer = {"Authorization": f"Bearer {await _login(client, user.email)}"}
        async with client.stream("POST", "/chat", json={"message": "Hola"}, headers=bearer) as r:
            assert r.status_code == 200
            await r.aread()
        await _wait_answers_saved(sessionmaker)
        listed = await client.get("/conversations", headers=bearer)
        conversation_id = listed.json()["items"][0]["id"]
        shared = await client.put(f"/conversations/{conversation_id}/share", headers=bearer)
        token = shared.json()["token"]
        assert (await client.get(f"/shared/{token}", headers=bearer)).status_code == 200
        assert (await client.head(f"/shared/{token}?x=1", headers=bearer)).status_code == 200
        copied = await client.post(f"/shared/{token}/copy", headers=bearer)
        assert copied.status_code == 201
    entries = _log_entries(caddy.access_log, before + 6)[before:]
    uris = [e["request"]["uri"] for e in entries]
    assert "/shared/[redactado]" in uris and "/shared/[redactado]/copy" in uris, uris
    assert "/shared/[redactado]?x=1" in uris, uris
    assert token not in caddy.access_log.read_text(), "Caddy must not log a shared link's token"


def _is_failure(entry: dict[str, Any]) -> bool:
    uri, status = entry["request"]["uri"], entry["status"]
    return (uri.startswith("/auth/") and status in (401, 429)) or (
        uri.split("?")[0].startswith("/chat") and status == 429
    )


async def test_access_log_is_json_and_fail2ban_matches_only_failures(
    caddy: Proxy,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    need("fail2ban-regex")
    user = await make_user(password=PASSWORD)
    before = len(_log_entries(caddy.access_log, 0))
    sent = 0
    async with httpx.AsyncClient(base_url=caddy.url, timeout=30) as client:
        token = ""
        for _ in range(3):
            token = await _login(client, user.email)
            sent += 1
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/auth/me", headers=bearer)).status_code == 200
        assert (await client.get("/health")).status_code == 200
        sent += 2
        failed = []
        for _ in range(6):  # the sixth is refused by the app's own throttle: 429
            r = await client.post("/auth/login", json={"email": user.email, "password": "mala-1"})
            failed.append(r.status_code)
            sent += 1
        assert failed[:5] == [401] * 5 and failed[5] == 429, failed
        assert (await client.get("/auth/me")).status_code == 401
        assert (
            await client.post("/chat", json={"message": " "}, headers=bearer)
        ).status_code == 422
        sent += 2
        chat_statuses = []
        for _ in range(6):  # beyond the per-minute limit (and one answer at a time): 429
            async with client.stream(
                "POST", "/chat", json={"message": "Hola"}, headers=bearer
            ) as response:
                chat_statuses.append(response.status_code)
            sent += 1
            if response.status_code == 429:
                break
        assert chat_statuses[0] == 200 and chat_statuses[-1] == 429, chat_statuses
    await _wait_answers_saved(sessionmaker)

    entries = _log_entries(caddy.access_log, before + sent)[before:]
    assert len(entries) == sent
    for entry in entries:
        assert entry["logger"].startswith("http.log.access")
        assert entry["request"]["remote_ip"] == "127.0.0.1"
        assert isinstance(entry["ts"], float) and abs(entry["ts"] - time.time()) < 300
        assert isinstance(entry["status"], int)
        assert entry["request"]["headers"].get("Authorization", []) in ([], ["REDACTED"])
    raw = caddy.access_log.read_text()
    assert token not in raw and token.split(".")[2] not in raw, "Caddy must not log tokens"
    assert PASSWORD not in raw and "mala-1" not in raw
    expected = [e for e in entries if _is_failure(e)]
    assert len(expected) == 5 + 1 + 1 + 1  # wrong passwords, throttled, /auth/me, /chat 429

    # This test's lines exactly as Caddy wrote them (fail2ban must parse Caddy's bytes).
    log_copy = caddy.access_log.with_name("fail2ban-input.log")
    log_copy.write_text("\n".join(caddy.access_log.read_text().splitlines()[before:]) + "\n")
    filter_file = DEPLOY / "fail2ban" / "filter.d" / "energyapp.conf"
    result = run(
        ["fail2ban-regex", "--print-all-matched", "--print-all-missed", log_copy, filter_file],
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(
        r"Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", result.stdout
    )
    assert summary, result.stdout
    total, _ignored, matched, missed = map(int, summary.groups())
    assert (total, matched, missed) == (sent, len(expected), sent - len(expected)), result.stdout
    assert f'[{sent}] "ts":{{EPOCH}}' in result.stdout, "every line's time must be read"
    matched_section = result.stdout.split("|- Matched line(s):")[1].split("|- Missed line(s):")[0]
    matched_statuses = [int(s) for s in re.findall(r'"status":(\d+)', matched_section)]
    assert sorted(matched_statuses) == sorted(e["status"] for e in expected)
    assert all(s in (401, 429) for s in matched_statuses)
    assert "127.0.0.1" in matched_section


async def test_sigterm_saves_the_answer_being_generated(
    db_url: str,
    make_user: UserFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """What `systemctl stop energyapp` does (SIGTERM to the main process, KillMode=mixed): the
    app exits well within TimeoutStopSec and the answer it was generating is saved with its text."""
    user = await make_user(password=PASSWORD)
    with (
        running_fake_ollama(tmp_path, tokens_per_second=10, answer_tokens=400) as ollama,
        running_app(db_url, ollama, tmp_path) as app,
    ):
        async with httpx.AsyncClient(base_url=app.url, timeout=30) as client:
            bearer = {"Authorization": f"Bearer {await _login(client, user.email)}"}
            tokens = 0
            async with client.stream(
                "POST", "/chat", json={"message": "Una respuesta larga."}, headers=bearer
            ) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    tokens += line == "event: token"
                    if tokens >= 3:
                        break  # the user closes the tab; the answer goes on on the server
        time.sleep(0.5)
        started = time.monotonic()
        app.proc.send_signal(signal.SIGTERM)
        app.proc.wait(timeout=85)
        stop_seconds = time.monotonic() - started
    # uvicorn re-raises the signal after its graceful shutdown; systemd counts a SIGTERM exit as
    # a clean stop.
    assert app.proc.returncode in (0, -signal.SIGTERM), app.log.read_text()[-2000:]
    assert stop_seconds < 30, stop_seconds  # the unit allows 90 s
    async with sessionmaker() as session:
        answer = (await session.scalars(select(Message).where(Message.role == "assistant"))).one()
    assert answer.status == "interrupted"
    assert answer.content.strip(), "the partial text is kept"
