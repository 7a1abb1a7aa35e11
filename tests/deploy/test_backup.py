"""Backup drill on real PostgreSQL: scripts/backup.sh dumps the test database, scripts/restore.sh
brings it back (into a new database, and by swapping the production database), counts match, old
dumps are pruned."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.conversations.models import Conversation, Message
from tests.conftest import PG_ADMIN_URL, UserFactory
from tests.deploy.conftest import ENERGYAPP_BIN, SCRIPTS, need, run, socket_db_url
from tests.deploy.test_update import HEALTH_SERVER
from tests.multiproc import free_port, start, stop, wait_until_up

pytestmark = [pytest.mark.deploy, pytest.mark.postgres_only]

TABLES = ("users", "conversations", "messages")


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}  # noqa: S608
    finally:
        await conn.close()


def _url_for(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
async def scratch_db() -> AsyncIterator[str]:
    """An empty database, dropped afterwards (with anything restore.sh left next to it)."""
    name = f"energyapp_drill_{secrets.token_hex(4)}"
    await _execute(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        await _drop_databases("datname LIKE $1", f"{name}%")


async def _drop_databases(where: str, value: str) -> None:
    """Drop the databases matching WHERE (a condition on pg_database, with VALUE as $1)."""
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        rows = await conn.fetch(f"SELECT datname FROM pg_database WHERE {where}", value)  # noqa: S608
        for row in rows:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row[0]}" WITH (FORCE)')
    finally:
        await conn.close()


async def _fill(sessionmaker: async_sessionmaker[AsyncSession], make_user: UserFactory) -> None:
    users = [await make_user(email=f"u{i}@alvaradomazzei.cl") for i in range(3)]
    async with sessionmaker() as session:
        for n, user in enumerate(users):
            for c in range(n + 1):
                conv = Conversation(user_id=user.id, title=f"Conversación {c}", message_count=2)
                session.add(conv)
                await session.flush()
                session.add_all(
                    [
                        Message(
                            conversation_id=conv.id, user_id=user.id, role="user", content="¿Hola?"
                        ),
                        Message(
                            conversation_id=conv.id, role="assistant", content="Hola, ¿en qué…"
                        ),
                    ]
                )
        await session.commit()
        counted = await session.scalar(select(func.count()).select_from(Message))
        assert counted == 12


def _env() -> dict[str, str]:
    url = make_url(PG_ADMIN_URL)
    return {
        **os.environ,
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
    }


def _backup(db_url: str, backup_dir: Path, *extra: str) -> Path:
    result = run(
        [SCRIPTS / "backup.sh", "--dir", backup_dir, "--db-url", db_url, *extra],
        timeout=120,
        check=True,
        env=_env(),
    )
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture
async def live_dump(
    db_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_user: UserFactory,
    scratch_db: str,
    tmp_path: Path,
) -> Path:
    """A dump of the test data, and ``scratch_db`` playing the live database: restored from
    that dump, then changed after it (its messages deleted)."""
    need("pg_dump", "pg_restore", "psql")
    await _fill(sessionmaker, make_user)
    dump = _backup(db_url, tmp_path / "backups")
    run([SCRIPTS / "restore.sh", "--into", _url_for(scratch_db), dump], env=_env(), check=True)
    await _execute(_url_for(scratch_db), "DELETE FROM messages")
    assert (await _counts(_url_for(scratch_db)))["messages"] == 0
    return dump


async def _assert_live_untouched(name: str) -> None:
    """The live database as ``live_dump`` left it, and no renamed copy left beside it."""
    assert await _counts(_url_for(name)) == {"users": 3, "conversations": 6, "messages": 0}
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1", f"{name}_pre_restore%"
        )
    finally:
        await conn.close()
    assert leftovers == 0


async def test_backup_and_restore_into_a_new_database_keep_every_row(
    db_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_user: UserFactory,
    scratch_db: str,
    tmp_path: Path,
) -> None:
    need("pg_dump", "pg_restore", "psql")
    await _fill(sessionmaker, make_user)
    expected = await _counts(db_url)
    assert expected == {"users": 3, "conversations": 6, "messages": 12}

    backups = tmp_path / "backups"
    # The app's own URL spelling (SQLAlchemy driver suffix) is accepted.
    dump = _backup(db_url.replace("postgresql://", "postgresql+asyncpg://"), backups)
    assert dump.parent == backups and dump.name.startswith("energyapp-")
    assert dump.suffix == ".dump"
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert list(backups.iterdir()) == [dump], "no .partial file may be left behind"
    listing = run(["pg_restore", "--list", dump], check=True).stdout
    for table in TABLES:
        assert f"TABLE DATA public {table} " in listing

    result = run(
        [SCRIPTS / "restore.sh", "--into", _url_for(scratch_db), dump],
        timeout=120,
        env=_env(),
    )
    assert result.returncode == 0, result.stderr
    assert await _counts(_url_for(scratch_db)) == expected

    # Restoring again into the now non-empty database is refused, and changes nothing.
    again = run([SCRIPTS / "restore.sh", "--into", _url_for(scratch_db), dump], env=_env())
    assert again.returncode != 0
    assert "already has" in again.stderr
    assert await _counts(_url_for(scratch_db)) == expected


async def test_backup_prunes_dumps_older_than_14_days(db_url: str, tmp_path: Path) -> None:
    need("pg_dump", "pg_restore")
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "energyapp-20260101T033000Z.dump"
    old_partial = backups / "energyapp-20260102T033000Z.dump.partial"
    recent = backups / "energyapp-20261113T033000Z.dump"
    foreign = backups / "notes.txt"
    for path, age in ((old, "15 days ago"), (old_partial, "20 days ago"), (recent, "13 days ago")):
        path.write_bytes(b"x")
        run(["touch", "-d", age, path], check=True)
    foreign.write_text("keep me")
    run(["touch", "-d", "30 days ago", foreign], check=True)

    dump = _backup(db_url, backups)

    assert sorted(p.name for p in backups.iterdir()) == sorted(
        [dump.name, recent.name, foreign.name]
    )
    # --keep-days changes the window.
    _backup(db_url, backups, "--keep-days", "7")
    assert not recent.exists()
    assert foreign.exists()


async def test_a_failed_backup_exits_non_zero_and_leaves_nothing(tmp_path: Path) -> None:
    need("pg_dump")
    backups = tmp_path / "backups"
    missing = _url_for(f"energyapp_missing_{secrets.token_hex(3)}")
    result = run([SCRIPTS / "backup.sh", "--dir", backups, "--db-url", missing], env=_env())
    assert result.returncode != 0
    assert list(backups.iterdir()) == []
    sqlite = run([SCRIPTS / "backup.sh", "--dir", backups, "--db-url", "sqlite:///x.db"])
    assert sqlite.returncode != 0
    assert "not a PostgreSQL URL" in sqlite.stderr


async def test_restore_refuses_a_damaged_dump(tmp_path: Path, scratch_db: str) -> None:
    need("pg_restore")
    bad = tmp_path / "energyapp-bad.dump"
    bad.write_bytes(b"PGDMP" + b"\0" * 100)
    result = run([SCRIPTS / "restore.sh", "--into", _url_for(scratch_db), bad], env=_env())
    assert result.returncode != 0
    assert "not a readable pg_dump" in result.stderr


async def test_production_restore_swaps_databases_and_keeps_the_old_one(
    db_url: str, scratch_db: str, live_dump: Path
) -> None:
    """The operator's path (restore.sh without --into), with the app service left out: the live
    database is renamed aside, a fresh one is restored from the dump."""
    expected = await _counts(db_url)
    dump = live_dump
    result = run(
        [
            SCRIPTS / "restore.sh",
            "--yes",
            "--no-service",
            "--db",
            scratch_db,
            "--owner",
            "postgres",
            dump,
        ],
        timeout=120,
        env=_env(),
    )
    assert result.returncode == 0, result.stderr
    assert await _counts(_url_for(scratch_db)) == expected
    kept = [line for line in result.stderr.splitlines() if "previous database kept as" in line]
    assert kept, result.stderr
    old_name = kept[0].rsplit(" ", 1)[-1]
    assert old_name.startswith(f"{scratch_db}_pre_restore_")
    assert (await _counts(_url_for(old_name)))["messages"] == 0


async def test_the_production_url_forms_work_over_the_local_socket(
    scratch_db: str, tmp_path: Path
) -> None:
    """deploy.sh writes ENERGYAPP_DB_URL for the socket (peer authentication, no password) and the
    backup unit uses postgresql:///energyapp: migrations and a backup both work with them."""
    need("pg_dump", "pg_restore")
    app_url = socket_db_url(_url_for(scratch_db))
    assert app_url.endswith(f"/{scratch_db}?host=/var/run/postgresql")
    migrate = run(
        [ENERGYAPP_BIN, "db", "upgrade"],
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "ENERGYAPP_DB_URL": app_url},
    )
    assert migrate.returncode == 0, migrate.stderr
    env = {**os.environ, "PGUSER": "postgres", "BACKUP_DIR": str(tmp_path / "b")}
    env["BACKUP_DB_URL"] = f"postgresql:///{scratch_db}"
    env.pop("PGHOST", None)
    result = run([SCRIPTS / "backup.sh"], timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    listing = run(["pg_restore", "--list", result.stdout.strip()], check=True).stdout
    assert "TABLE DATA public alembic_version " in listing


async def test_a_failed_production_restore_puts_the_live_database_back(
    scratch_db: str, live_dump: Path
) -> None:
    # The new database cannot be created (no such owner): the live one must come back untouched.
    result = run(
        [SCRIPTS / "restore.sh", "--yes", "--no-service", "--db", scratch_db]
        + ["--owner", "no_such_role", live_dump],
        timeout=120,
        env=_env(),
    )
    assert result.returncode != 0
    assert "putting the previous database back" in result.stderr
    await _assert_live_untouched(scratch_db)


@contextmanager
def _app_dir(migration: str, app_db_url: str | None = None) -> Iterator[Path]:
    """An app directory whose `energyapp db upgrade` is the shell code MIGRATION (and whose
    settings, when APP_DB_URL is given, name that database), readable by the database owner the
    restore runs it as (pytest's own temporary directories are root's alone)."""
    if os.geteuid() != 0:
        pytest.skip("restore.sh runs the migration through runuser, as root (CI runs as root)")
    app_dir = Path(tempfile.mkdtemp(prefix="energyapp-restore-"))
    try:
        app_dir.chmod(0o755)
        tool = app_dir / ".venv" / "bin" / "energyapp"
        tool.parent.mkdir(parents=True)
        # `energyapp settings get db_url` prints APP_DB_URL; `energyapp db upgrade` migrates.
        settings = f"[ \"$1\" != settings ] || exec echo '{app_db_url}'" if app_db_url else ""
        tool.write_text(f"#!/bin/sh\n{settings}\n{migration}\n")
        tool.chmod(0o755)
        for path in (app_dir / ".venv", tool.parent):
            path.chmod(0o755)
        yield app_dir
    finally:
        shutil.rmtree(app_dir, ignore_errors=True)


@pytest.fixture
def app_dir_with_failing_migration() -> Iterator[Path]:
    with _app_dir('echo "la migración falló: columna duplicada" >&2; exit 3') as app_dir:
        yield app_dir


def _systemctl(tmp_path: Path, instance_ports: list[int]) -> tuple[dict[str, str], Path]:
    """A stand-in systemctl on PATH that records its calls and lists the instances
    energyapp@<port> under any target (as `systemctl list-dependencies` does)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "systemctl.calls"
    units = "".join(f"  energyapp@{port}.service\\n" for port in instance_ports)
    (bin_dir / "systemctl").write_text(
        f'#!/bin/sh\necho "$@" >>{calls}\n'
        f'[ "$1" != list-dependencies ] || printf "%s\\n{units}" "$3"\n'
    )
    (bin_dir / "systemctl").chmod(0o755)
    return {**_env(), "PATH": f"{bin_dir}:{os.environ['PATH']}"}, calls


def _service_calls(calls: Path) -> list[str]:
    return [c for c in calls.read_text().splitlines() if not c.startswith("list-dependencies")]


async def test_a_failed_migration_after_a_restore_keeps_the_live_database(
    scratch_db: str, live_dump: Path, tmp_path: Path, app_dir_with_failing_migration: Path
) -> None:
    """The migration runs in a subshell, which inherits the ERR trap: the rollback ran there
    (new database dropped, live one renamed back) and then again in the script, where the
    database it dropped "as the new one" was the live one just put back."""
    need("runuser")
    env, calls = _systemctl(tmp_path, [free_port()])

    result = run(
        [SCRIPTS / "restore.sh", "--yes", "--db", scratch_db, "--owner", "postgres"]
        + ["--app-user", "postgres", "--service", "energyapp-test.target"]
        + ["--app-dir", app_dir_with_failing_migration]
        + [live_dump],
        timeout=120,
        env=env,
    )
    assert result.returncode != 0
    assert "la migración falló" in result.stderr
    assert result.stderr.count("putting the previous database back") == 1, result.stderr
    await _assert_live_untouched(scratch_db)
    assert _service_calls(calls) == ["stop energyapp-test.target", "start energyapp-test.target"]


async def test_a_production_restore_checks_every_instance(
    db_url: str, scratch_db: str, live_dump: Path, tmp_path: Path
) -> None:
    """restore.sh asked /health of 127.0.0.1:8001 only: with several instances (energyapp@8001,
    energyapp@8002, ...) one that never came back up on the restored database went unnoticed.
    Every instance the target starts is checked, and one that is not healthy rolls back."""
    need("runuser", "curl")
    up, down = sorted([free_port(), free_port()])  # checked in this order
    env, calls = _systemctl(tmp_path, [up, down])
    env["RESTORE_HEALTH_WAIT"] = "3"
    args: list[str | Path] = [SCRIPTS / "restore.sh", "--yes", "--db", scratch_db]
    args += ["--owner", "postgres", "--app-user", "postgres", "--service", "energyapp-test.target"]
    with ExitStack() as servers, _app_dir("exit 0") as app_dir:
        args += ["--app-dir", app_dir, live_dump]
        servers.enter_context(_health_server(up, tmp_path))

        failed = run(args, timeout=120, env=env)
        assert failed.returncode != 0
        assert f"energyapp@{up} healthy" in failed.stderr, failed.stderr
        assert f"energyapp@{down} not healthy after 3 s" in failed.stderr
        assert "putting the previous database back" in failed.stderr
        await _assert_live_untouched(scratch_db)

        servers.enter_context(_health_server(down, tmp_path))
        restored = run(args, timeout=120, env=env)
        assert restored.returncode == 0, restored.stderr
        for port in (up, down):
            assert f"energyapp@{port} healthy" in restored.stderr
        assert await _counts(_url_for(scratch_db)) == await _counts(db_url)
    stop_, start_ = "stop energyapp-test.target", "start energyapp-test.target"
    # The failed run: stop, start, and the rollback's start; then the good run.
    assert _service_calls(calls) == [stop_, start_, start_, stop_, start_]


@contextmanager
def _health_server(port: int, tmp_path: Path) -> Iterator[None]:
    """A stand-in instance answering /health ok on PORT."""
    code = HEALTH_SERVER.format(version="restored")
    proc = start([sys.executable, "-c", code, str(port)], tmp_path / f"health-{port}.log")
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", proc, tmp_path / f"health-{port}.log")
        yield
    finally:
        stop(proc)


async def test_restore_without_an_answer_changes_nothing(scratch_db: str, live_dump: Path) -> None:
    """Run without a terminal and without --yes (a cron line, a pipe): no answer is no, said so."""
    result = run(
        [SCRIPTS / "restore.sh", "--no-service", "--db", scratch_db, "--owner", "postgres"]
        + [live_dump],
        env=_env(),
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "cancelled" in result.stderr and "--yes" in result.stderr
    await _assert_live_untouched(scratch_db)


@pytest.mark.parametrize(
    ("app_db_url", "refusal"),
    [
        (
            "postgresql+asyncpg://energyapp:s3cr3tpw@10.0.0.1/{db}?sslmode=require",
            "uses the PostgreSQL on 10.0.0.1, not this host's",
        ),
        ("postgresql://energyapp@/energyapp?host=/var/run/postgresql", "give --db energyapp"),
        ("sqlite:///data/energyapp.db", "uses sqlite:..., not PostgreSQL"),
    ],
)
async def test_restore_refuses_a_database_the_app_does_not_use(
    scratch_db: str, live_dump: Path, tmp_path: Path, app_db_url: str, refusal: str
) -> None:
    """On a host sharing another host's PostgreSQL, restore.sh swapped the unused local database,
    restarted the instances and reported success: the app, on the shared one, saw nothing of it."""
    need("runuser")
    env, calls = _systemctl(tmp_path, [free_port()])
    env.pop("PGHOST")  # as the operator runs it: this host's socket, as postgres
    args: list[str | Path] = [SCRIPTS / "restore.sh", "--yes", "--db", scratch_db]
    args += ["--owner", "postgres", "--app-user", "postgres", "--service", "energyapp-test.target"]
    with _app_dir("exit 0", app_db_url.format(db=scratch_db)) as app_dir:
        result = run([*args, "--app-dir", app_dir, live_dump], timeout=120, env=env)
        assert result.returncode == 1
        assert refusal in result.stderr, result.stderr
        assert "s3cr3tpw" not in result.stderr
        assert not calls.exists()
        await _assert_live_untouched(scratch_db)
        # Not the app's restore: the operator's own choice of database, as before.
        aside = run([*args, "--no-service", "--app-dir", app_dir, live_dump], env=env)
    assert aside.returncode == 0, aside.stderr
    assert "previous database kept as" in aside.stderr


async def test_restore_goes_on_into_the_database_the_app_uses(
    db_url: str, scratch_db: str, live_dump: Path, tmp_path: Path
) -> None:
    need("runuser")
    port = free_port()
    env, calls = _systemctl(tmp_path, [port])
    env.pop("PGHOST")
    app_db_url = f"postgresql://energyapp@/{scratch_db}?host=/var/run/postgresql"
    args: list[str | Path] = [SCRIPTS / "restore.sh", "--yes", "--db", scratch_db]
    args += ["--owner", "postgres", "--app-user", "postgres", "--service", "energyapp-test.target"]
    with _app_dir("exit 0", app_db_url) as app_dir, _health_server(port, tmp_path):
        result = run([*args, "--app-dir", app_dir, live_dump], timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert await _counts(_url_for(scratch_db)) == await _counts(db_url)
    assert _service_calls(calls) == ["stop energyapp-test.target", "start energyapp-test.target"]


@pytest.fixture
async def role_without_account() -> AsyncIterator[str]:
    """A PostgreSQL role with no system account of its name, dropped afterwards with the
    databases it owns."""
    name = f"energyapp_role_{secrets.token_hex(4)}"
    await _execute(PG_ADMIN_URL, f'CREATE ROLE "{name}" LOGIN')
    try:
        yield name
    finally:
        await _drop_databases("datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)", name)
        await _execute(PG_ADMIN_URL, f'DROP ROLE IF EXISTS "{name}"')


async def test_restore_runs_the_app_as_its_system_user_not_as_the_role(
    role_without_account: str, db_url: str, scratch_db: str, live_dump: Path, tmp_path: Path
) -> None:
    """restore.sh ran the app (its settings, the migration) as the system user named by --owner,
    the database role: a role with no system account of its name stopped the restore. The app now
    runs as ENERGYAPP_USER (or --app-user), as in scripts/update.sh."""
    need("runuser")
    assert run(["id", "-u", role_without_account]).returncode != 0
    port = free_port()
    env, calls = _systemctl(tmp_path, [port])
    env.pop("PGHOST")  # this host's socket: the app's settings are asked for, as the app user
    app_db_url = f"postgresql://energyapp@/{scratch_db}?host=/var/run/postgresql"
    args: list[str | Path] = [SCRIPTS / "restore.sh", "--yes", "--db", scratch_db]
    args += ["--owner", role_without_account, "--service", "energyapp-test.target"]
    with _app_dir('echo "migrating as $(id -un)" >&2', app_db_url) as app_dir:
        args += ["--app-dir", app_dir, live_dump]
        missing = run(args, timeout=120, env={**env, "ENERGYAPP_USER": "no_such_user"})
        assert missing.returncode == 1
        assert 'no system user "no_such_user"' in missing.stderr, missing.stderr
        assert not calls.exists()
        await _assert_live_untouched(scratch_db)

        with _health_server(port, tmp_path):
            result = run(args, timeout=120, env={**env, "ENERGYAPP_USER": "postgres"})
    assert result.returncode == 0, result.stderr
    assert "migrating as postgres" in result.stderr
    assert await _counts(_url_for(scratch_db)) == await _counts(db_url)
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        owner = await conn.fetchval(
            "SELECT r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"
            " WHERE d.datname = $1",
            scratch_db,
        )
    finally:
        await conn.close()
    assert owner == role_without_account
