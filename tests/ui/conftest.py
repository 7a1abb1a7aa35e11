"""Browser tests: the real app under uvicorn (plus the stand-in Ollama) driven by Debian's
Chromium through Playwright. One server per run, on its own database (SQLite or PostgreSQL,
following ENERGYAPP_TEST_DB); each test gets a fresh browser context."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Route,
    expect,
    sync_playwright,
)
from sqlalchemy import update

from energyapp.auth import service as auth_service
from energyapp.auth.demo import seed_demo
from energyapp.auth.models import User
from energyapp.conversations.models import Conversation, Message
from energyapp.core.migrate import upgrade
from energyapp.db import create_engine, create_sessionmaker, utcnow
from energyapp.folders.models import Folder
from energyapp.usage.models import UsageEvent
from tests import log_scan
from tests.conftest import PG_ADMIN_URL, TEST_DB, TEST_SECRET, _pg_admin
from tests.mail_server import MailServer, running_mail_server

CHROMIUM = "/usr/bin/chromium"
DEAD_OLLAMA = "http://127.0.0.1:9"  # nothing listens there: connections are refused
ROOT = Path(__file__).resolve().parents[2]
# The README's pictures are rewritten only on request (ENERGYAPP_UPDATE_SCREENSHOTS=1); a plain
# test run still takes every screenshot, into a scratch folder, so the flow stays tested.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("ENERGYAPP_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "energyapp-screenshots"
)

T = TypeVar("T")

# Answers stream at the stand-in's pace on a shared 2-core machine: give assertions room.
expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":  # CI installs it: a missing browser is a failure
            raise pytest.UsageError(f"{CHROMIUM} missing: .ci/run must install chromium")
        skip = pytest.mark.skip(reason=f"{CHROMIUM} missing: apt-get install -y chromium")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


def _run(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking or asyncio work in a worker thread: Playwright's sync API keeps an event
    loop running in the test thread, where asyncio.run() is refused."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


def _arun(coro: Coroutine[Any, Any, T]) -> T:
    return _run(asyncio.run, coro)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    # 20 s was once too short for the app's start (imports, migrations checked, the first
    # connection) on a two-core machine running three test workers and a browser each.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


@dataclass
class LiveApp:
    base_url: str
    db_url: str
    ollama_url: str | None
    users: dict[str, str] = field(default_factory=dict)

    def create_user(self, role: str = "trabajador", **fields: Any) -> dict[str, str]:
        """Insert an account straight into the app's database; returns email and password."""
        email = fields.pop("email", f"{role}-{secrets.token_hex(4)}@alvaradomazzei.cl")
        password = fields.pop("password", "Clave-de-prueba-123")
        full_name = fields.pop("full_name", f"Usuario {role}")

        async def _create() -> str:
            engine = create_engine(self.db_url)
            try:
                async with create_sessionmaker(engine)() as session:
                    user = await auth_service.create_user(
                        session, email=email, password=password, full_name=full_name, role=role
                    )
                    for key, value in fields.items():
                        setattr(user, key, value)
                    await session.commit()
                    return str(user.id)
            finally:
                await engine.dispose()

        user_id = _arun(_create())
        return {"id": user_id, "email": email, "password": password, "full_name": full_name}

    def create_conversation(
        self,
        user_id: str,
        title: str,
        messages: list[tuple[str, str]],
        versions: dict[int, list[str]] | None = None,
        first_token_ms: int | None = None,
        last_error: str | None = None,
        days_ago: int = 0,
    ) -> str:
        """Insert a conversation with (role, content) messages straight into the database, as
        one branch; ``versions`` gives message ``i`` older versions (siblings) with those texts,
        the branch shown going through ``messages[i]``; answers waited ``first_token_ms`` for
        their first token; ``last_error``: the last message is an answer that failed with that
        error code; ``days_ago``: written that many days ago."""

        async def _create() -> str:
            engine = create_engine(self.db_url)
            try:
                async with create_sessionmaker(engine)() as session:
                    owner = uuid.UUID(user_id)
                    conv = Conversation(user_id=owner, title=title, title_source="user")
                    session.add(conv)
                    await session.flush()
                    start = utcnow() - timedelta(days=days_ago, minutes=len(messages) + 1)
                    parent: uuid.UUID | None = None
                    rows: list[Message] = []
                    for i, (role, content) in enumerate(messages):
                        texts = [*(versions or {}).get(i, []), content]
                        for n, text in enumerate(texts):
                            rows.append(
                                Message(
                                    id=uuid.uuid4(),
                                    parent_id=parent,
                                    conversation_id=conv.id,
                                    user_id=owner if role == "user" else None,
                                    role=role,
                                    content=text,
                                    status="complete",
                                    first_token_ms=first_token_ms if role == "assistant" else None,
                                    created_at=start + timedelta(minutes=i, seconds=n),
                                )
                            )
                        parent = rows[-1].id
                    if last_error is not None:
                        rows[-1].status, rows[-1].error_code = "error", last_error
                    session.add_all(rows)
                    # The ledger's rows, as migration 0024's backfill writes them: the usage
                    # report and the quota read them, not the messages.
                    session.add_all(
                        UsageEvent(
                            user_id=owner,
                            created_at=m.created_at,
                            source="web",
                            status=m.status,
                            first_token_ms=m.first_token_ms,
                            messages=1,
                            answers=int(m.role == "assistant"),
                            message_id=m.id,
                        )
                        for m in rows
                    )
                    conv.current_leaf_id = parent
                    conv.has_versions = bool(versions)
                    conv.message_count = len(rows)
                    user = await session.get(User, owner)
                    assert user is not None
                    user.conversation_count += 1
                    user.message_count += len(rows)
                    await session.commit()
                    return str(conv.id)
            finally:
                await engine.dispose()

        return _arun(_create())

    def create_folder(self, user_id: str, name: str, conversations: list[str]) -> str:
        """A folder of ``user_id``'s holding ``conversations``, straight in the database; its id."""

        async def _write() -> str:
            engine = create_engine(self.db_url)
            try:
                async with create_sessionmaker(engine)() as session:
                    folder = Folder(user_id=uuid.UUID(user_id), name=name)
                    session.add(folder)
                    await session.flush()
                    await session.execute(
                        update(Conversation)
                        .where(Conversation.id.in_([uuid.UUID(c) for c in conversations]))
                        .values(folder_id=folder.id)
                    )
                    await session.commit()
                    return str(folder.id)
            finally:
                await engine.dispose()

        return _arun(_write())

    def create_api_key(self, user: dict[str, str], name: str) -> str:
        """A key ``user`` creates through the API; its id."""
        with httpx.Client(base_url=self.base_url) as http:
            tokens = http.post(
                "/auth/login", json={"email": user["email"], "password": user["password"]}
            ).json()
            created = http.post(
                "/api-keys",
                json={"name": name},
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
            )
            assert created.status_code == 201, created.text
            key_id: str = created.json()["id"]
            return key_id


def admin_screens(user_id: str, conversation_id: str) -> dict[str, str]:
    """Every admin screen, by its address after ``#/admin/`` (the person's page and the viewer
    for these ids), and what it shows once drawn: for the tests that visit them all."""
    return {
        "usuarios": "#users-table tbody tr[data-user-id]",
        "uso": "#main canvas, #main table",
        "auditoria": "#main table tbody tr",
        "claves": "#admin-api-keys tbody tr",
        "avisos": "#announcement-form",
        "estado": "#status-servers .status-server",
        f"usuario/{user_id}": "#user-conversations tbody tr",
        f"conversacion/{conversation_id}": "#admin-viewer .msg",
    }


@contextlib.contextmanager
def _database(tmp: Path) -> Iterator[str]:
    """A migrated database of its own (SQLite or PostgreSQL, following ENERGYAPP_TEST_DB)."""
    if TEST_DB == "postgres":
        name = f"energyapp_ui_{secrets.token_hex(4)}"
        _arun(_pg_admin(f'CREATE DATABASE "{name}"'))
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        try:
            _run(upgrade, url)
            yield url
        finally:
            _arun(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        url = f"sqlite:///{tmp / 'ui.db'}"
        _run(upgrade, url)
        yield url


def _seed(db_url: str) -> None:
    async def _seed_demo() -> None:
        engine = create_engine(db_url)
        try:
            async with create_sessionmaker(engine)() as session:
                await seed_demo(session)
                await session.commit()
        finally:
            await engine.dispose()

    _arun(_seed_demo())


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def _serve(
    db_url: str,
    ollama_url: str,
    logs: Path,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[str]:
    """The app under uvicorn on ``db_url``, asking Ollama at ``ollama_url`` (and with the
    ``ENERGYAPP_*`` variables of ``extra_env``); yields its base URL. Its log joins the log scan
    (tests/log_scan.py) when it stops."""
    env = {
        **os.environ,
        "ENERGYAPP_ENV": "test",
        "ENERGYAPP_DB_URL": db_url,
        "ENERGYAPP_SECRET_KEY": TEST_SECRET,
        "ENERGYAPP_LOG_LEVEL": "INFO",  # every line written, for the log scan (tests/log_scan.py)
        "ENERGYAPP_FAKE_OLLAMA_AUTOSTART": "false",
        "ENERGYAPP_DEMO_QUICK_ACCESS": "true",
        "ENERGYAPP_MAX_MESSAGE_CHARS": "500",
        "ENERGYAPP_OLLAMA_URL": ollama_url,
        **(extra_env or {}),
    }
    port = port or _free_port()
    app_log = logs / "app.log"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "energyapp.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=app_log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/config/public", proc)
        yield base
    finally:
        _stop([proc])
        if app_log.exists():
            log_scan.LINES.extend(app_log.read_text(errors="replace").splitlines())


@pytest.fixture(scope="session")
def ui_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _database(tmp_path_factory.mktemp("ui")) as url:
        yield url


@pytest.fixture(scope="session")
def live_app(ui_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    _seed(ui_db_url)
    logs = tmp_path_factory.mktemp("ui-logs")
    procs: list[subprocess.Popen[bytes]] = []
    ollama_url = None
    try:
        if importlib.util.find_spec("energyapp.llm.fake_server") is not None:
            port = _free_port()
            ollama_url = f"http://127.0.0.1:{port}"
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable, "-m", "energyapp.llm.fake_server", "--port", str(port),
                        "--tokens-per-second", "25", "--answer-tokens", "60",
                        "--model", "qwen2.5:3b-instruct", "--model", "llama3.2:1b",
                    ],
                    stdout=(logs / "ollama.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
            _wait_http(f"{ollama_url}/api/version", procs[-1])
        with _serve(ui_db_url, ollama_url or DEAD_OLLAMA, logs) as base:
            yield LiveApp(base_url=base, db_url=ui_db_url, ollama_url=ollama_url)
    finally:
        _stop(procs)


@pytest.fixture(scope="module")
def dead_ollama_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """A second app, on a database of its own, whose Ollama never answers (nothing listens at
    its address): every answer fails with ``llm_unavailable`` and /health says so."""
    with _database(tmp_path_factory.mktemp("ui-dead")) as db_url:
        _seed(db_url)
        with _serve(db_url, DEAD_OLLAMA, tmp_path_factory.mktemp("ui-dead-logs")) as base:
            yield LiveApp(base_url=base, db_url=db_url, ollama_url=None)


@pytest.fixture(scope="module")
def slow_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """An app whose stand-in Ollama answers slowly (about 12 s an answer), so a test can act
    while an answer runs."""
    logs = tmp_path_factory.mktemp("ui-slow-logs")
    port = _free_port()
    ollama = subprocess.Popen(
        [
            sys.executable, "-m", "energyapp.llm.fake_server", "--port", str(port),
            "--tokens-per-second", "5", "--answer-tokens", "60", "--model", "qwen2.5:3b-instruct",
        ],
        stdout=(logs / "ollama.log").open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        ollama_url = f"http://127.0.0.1:{port}"
        _wait_http(f"{ollama_url}/api/version", ollama)
        with _database(tmp_path_factory.mktemp("ui-slow")) as db_url:
            _seed(db_url)
            with _serve(db_url, ollama_url, logs) as base:
                yield LiveApp(base_url=base, db_url=db_url, ollama_url=ollama_url)
    finally:
        _stop([ollama])


@pytest.fixture(scope="module")
def mail_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApp, MailServer]]:
    """A second app, on a database of its own, that sends its emails to a real SMTP server
    of the test's (tests/mail_server.py); its links point at the app itself."""
    with running_mail_server() as mail, _database(tmp_path_factory.mktemp("ui-mail")) as db_url:
        port = _free_port()
        env = {f"ENERGYAPP_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
               for k, v in mail.settings().items()}  # fmt: skip
        env["ENERGYAPP_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        logs = tmp_path_factory.mktemp("ui-mail-logs")
        with _serve(db_url, DEAD_OLLAMA, logs, env, port=port) as base:
            yield LiveApp(base_url=base, db_url=db_url, ollama_url=None), mail


@pytest.fixture(autouse=True)
def _empty_database() -> None:
    """Overrides the top-level async cleanup: these tests use their own database, and no async
    fixture may run while Playwright's sync API holds an event loop in this thread."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope: Playwright's loop must not outlive these tests (other suites are async).
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@dataclass
class Watch:
    """Everything that must never happen on a page: dialogs, page errors, console errors."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ignore: tuple[str, ...] = ()

    def on_console(self, message: ConsoleMessage) -> None:
        # 4xx answers the UI expects and handles (a wrong password, a 404) are logged by
        # Chromium as "Failed to load resource"; they are not script errors.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"dialogs fired: {self.dialogs}"
        assert self.errors == [], f"console/page errors: {self.errors}"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="es-CL")
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(context: BrowserContext, watch: Watch) -> Iterator[Page]:
    pg = context.new_page()
    pg.on("console", watch.on_console)
    pg.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))

    def _dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    pg.on("dialog", _dialog)
    yield pg
    watch.assert_clean()


def login(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#main .chat, #main .page")


def set_new_password(page: Page, base_url: str, person: dict[str, str], new_password: str) -> None:
    """On an open reset page: set ``new_password``, then sign in with it as ``person``."""
    page.fill("#reset-password", new_password)
    page.fill("#reset-password-again", new_password)
    page.click("button[type=submit]")
    expect(page.locator("#login-notice")).to_have_text(
        "Su contraseña fue restablecida. Inicie sesión con la nueva."
    )
    login(page, base_url, person["email"], new_password)
    expect(page.locator(".profile-name")).to_have_text(person["full_name"])


def quick_login(page: Page, base_url: str, role: str) -> None:
    page.goto(f"{base_url}/")
    page.click(f"[data-quick={role}]")
    page.wait_for_selector(".topbar")


@dataclass
class ExpiredReads:
    """Watches a page for reads it does without being asked (a timer, the tab's focus): route
    them to :meth:`answer`, which says the access token expired; ``refreshes`` lists every
    ``/auth/refresh`` the page asked for meanwhile (a quiet read must ask none)."""

    reads: list[str] = field(default_factory=list)
    refreshes: list[str] = field(default_factory=list)

    def answer(self, route: Route) -> None:
        self.reads.append(route.request.url)
        route.fulfill(status=401, json={"detail": "Token expirado.", "code": "token_expired"})


def watch_expired_reads(page: Page) -> ExpiredReads:
    watched = ExpiredReads()
    page.on(
        "request",
        lambda r: watched.refreshes.append(r.url) if "/auth/refresh" in r.url else None,
    )
    return watched


# A sidebar row's "Más acciones" menu, in the whole list or an open folder.
ROW_MENU = [
    "Renombrar",
    "Fijar",
    "Archivar",
    "Mover a carpeta…",
    "Exportar en Markdown",
    "Exportar en JSON",
    "Eliminar",
]


def row_action(row: Locator, action: str) -> None:
    """Choose ``action`` in a sidebar row's "Más acciones" menu. The row's link is focused
    first: its menu button shows while the row holds the focus, whereas a hover was lost when
    the list moved under the pointer (the folders section drawn above it after a reload)."""
    row.locator(".conv-link").focus()
    row.get_by_role("button", name=re.compile("^Más acciones")).click()
    row.page.get_by_role("menuitem", name=action, exact=True).click()
