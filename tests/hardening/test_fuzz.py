"""Property-based fuzzing of the whole API from its OpenAPI schema (schemathesis), as each role.

Every generated request must get a documented status (never a 5xx), with the documented content
type, a body matching the response schema and ``Cache-Control: no-store``. Every generated JSON
body is also sent again in another encoding ``json.loads`` would decode (a UTF-8 BOM, UTF-16,
UTF-32), which must be refused with 400 ``invalid_encoding``. ``make test`` runs a few examples
per operation and role; ``make fuzz`` (``ENERGYAPP_FUZZ_EXAMPLES``) runs many more.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation.case import Case
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import AuthSession, User
from energyapp.auth.security import create_access_token
from energyapp.config import Settings
from energyapp.conversations.models import Conversation, Message
from energyapp.db import utcnow
from energyapp.main import create_app
from tests import log_scan
from tests.conftest import make_settings
from tests.hardening.conftest import ROLES, Actor

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("ENERGYAPP_FUZZ_EXAMPLES", "4"))


def not_stored(_ctx: Any, response: schemathesis.Response, _case: Case) -> bool | None:
    """No answer of the API may be kept by a browser or a proxy (ASVS 8.2.1)."""
    sent = response.headers.get("cache-control")
    if sent != ["no-store"]:
        raise AssertionError(f"Cache-Control {sent!r}, expected exactly ['no-store']")
    return None


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    not_stored,
]
# What json.loads(bytes) decodes besides BOM-less UTF-8; the app refuses all of them.
OTHER_ENCODINGS = ("utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le")


@pytest.fixture(scope="module")
def ollama_url() -> Iterator[str]:
    """The stand-in Ollama as a real process (the fuzz test drives the app synchronously)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "energyapp.llm.fake_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/version", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(autouse=True)
def _fuzzed_passwords_are_no_secrets() -> Iterator[None]:
    """The fuzzer sends one random text as a password and as a model id in a path, which the
    access log rightly shows: the passwords it makes up are no one's secret, so the log scan
    leaves them out (it still checks every other password, token and TOTP secret)."""
    before = set(log_scan.PASSWORDS)
    yield
    log_scan.PASSWORDS.intersection_update(before)


@pytest.fixture
def settings(db_url: str, ollama_url: str) -> Settings:
    return make_settings(
        db_url,
        ollama_url=ollama_url,
        chat_rate_limit_per_minute=100_000,
        write_rate_limit_per_minute=100_000,
        login_max_failures_per_ip=100_000,
        login_max_failures_per_account=100_000,
        max_active_per_user=100,
    )


async def _seed(sessionmaker: async_sessionmaker[AsyncSession], user: User) -> dict[str, list[str]]:
    """Objects owned by the fuzzing user, so generated ids sometimes hit real rows."""
    async with sessionmaker() as session:
        conversation = Conversation(user_id=user.id, title="Semilla", message_count=2)
        session.add(conversation)
        await session.flush()
        question = Message(
            conversation_id=conversation.id, user_id=user.id, role="user", content="hola"
        )
        answer = Message(
            conversation_id=conversation.id,
            user_id=user.id,
            role="assistant",
            content="**respuesta**",
            model="qwen2.5:3b-instruct",
        )
        session.add_all([question, answer])
        await session.commit()
    return {
        "conversation_id": [str(conversation.id)],
        "assistant_message_id": [str(answer.id)],
        "user_id": [str(user.id)],
    }


@pytest.fixture
async def seeded(
    actors: dict[str, Actor], sessionmaker: async_sessionmaker[AsyncSession]
) -> dict[str, dict[str, list[str]]]:
    ids = {role: await _seed(sessionmaker, actor.user) for role, actor in actors.items()}
    everyone = [str(actor.user.id) for actor in actors.values()]
    for role_ids in ids.values():
        role_ids["user_id"] = everyone
    return ids


class _Driver:
    """The app served in-process from a thread of its own, so Hypothesis (synchronous) can call
    it: the event loop, the lifespan and the client all live in that thread."""

    def __init__(self, portal: BlockingPortal, app: FastAPI, settings: Settings) -> None:
        self.portal = portal
        self.app = app
        self.settings = settings
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=30
        )

    def request(self, **kwargs: Any) -> httpx.Response:
        async def _send() -> httpx.Response:
            return await self.client.request(**kwargs)

        return self.portal.call(_send)

    def fresh_headers(self, user: User) -> dict[str, str]:
        """A new session for ``user`` (a fuzzed logout-all or password change ends the old)."""

        async def _open() -> uuid.UUID:
            maker: async_sessionmaker[AsyncSession] = self.app.state.sessionmaker
            async with maker() as session:
                auth_session = AuthSession(user_id=user.id, expires_at=utcnow() + timedelta(days=1))
                session.add(auth_session)
                await session.commit()
                return auth_session.id

        sid = self.portal.call(_open)
        token, _ = create_access_token(self.settings, user.id, sid)
        return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with LifespanManager(app):  # built inside the loop: it detects the async library
        yield


@contextlib.contextmanager
def _driven(app: FastAPI, settings: Settings) -> Iterator[_Driver]:
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(_lifespan(app)):
        driver = _Driver(portal, app, settings)
        try:
            yield driver
        finally:
            portal.call(driver.client.aclose)


def _runner(
    driver: _Driver, operation: Any, known: dict[str, list[str]], actor: Actor
) -> Callable[[], None]:
    headers = dict(actor.headers)

    @seed(20261126)
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), data=st.data())
    def run(case: Case, data: st.DataObject) -> None:
        nonlocal headers
        for name in list(case.path_parameters or {}):
            if name in known and data.draw(st.booleans()):
                case.path_parameters[name] = data.draw(st.sampled_from(known[name]))
        kwargs: dict[str, Any] = case.as_transport_kwargs(
            base_url="http://testserver", headers=headers
        )
        for key in ("verify", "cert", "allow_redirects", "follow_redirects", "timeout"):
            kwargs.pop(key, None)
        cookies = kwargs.pop("cookies", None)
        if cookies:  # httpx deprecates per-request cookies: send them as the header they are
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Cookie": cookie}
        response = driver.request(**kwargs)
        if response.status_code == 401 and response.json().get("code") in (
            "session_revoked",
            "account_disabled",
        ):
            headers = driver.fresh_headers(actor.user)
        case.validate_response(response, checks=CHECKS)
        if "json" in kwargs:
            _assert_other_encoding_refused(
                driver, kwargs, data.draw(st.sampled_from(OTHER_ENCODINGS))
            )

    return run  # type: ignore[no-any-return]


def _assert_other_encoding_refused(driver: _Driver, kwargs: dict[str, Any], encoding: str) -> None:
    """The same request with its JSON body in ``encoding``: refused before any route reads it."""
    again = {key: value for key, value in kwargs.items() if key != "json"}
    again["content"] = json.dumps(kwargs["json"]).encode(encoding)
    response = driver.request(**again)
    context = f"{kwargs['method']} {kwargs['url']} in {encoding}: {response.status_code}"
    assert response.status_code == 400, f"{context} {response.text[:300]}"
    body = response.json()
    # The OpenAI-compatible API (/v1) answers in OpenAI's error shape.
    code = body["error"]["code"] if response.url.path.startswith("/v1/") else body["code"]
    assert code == "invalid_encoding", context
    assert response.headers.get_list("cache-control") == ["no-store"], context


@pytest.mark.parametrize("role", ROLES)
def test_api_conforms_to_its_schema(
    role: str,
    settings: Settings,
    actors: dict[str, Actor],
    seeded: dict[str, dict[str, list[str]]],
) -> None:
    app = create_app(settings)
    with _driven(app, settings) as driver:
        schema = schemathesis.openapi.from_dict(
            driver.request(method="GET", url="/openapi.json").json()
        )
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 25
        failures: list[str] = []
        for operation in operations:
            try:
                _runner(driver, operation, seeded[role], actors[role])()
            except Exception as exc:  # collect every operation's failure, report them together
                failures.append(f"{operation.label}: {str(exc)[:1500]}")
        assert not failures, "\n\n".join(failures)
