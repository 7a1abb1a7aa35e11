"""A host that shares another host's PostgreSQL (docs/deployment.md, "Several hosts"): its .env
names the shared database, and its own local `energyapp` database, if any, is unused. The backups
that update.sh and the backup unit take are of the database the app uses."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.deploy.conftest import SCRIPTS, need, run
from tests.deploy.test_update import Sandbox, git, release, update, update_sandbox

pytestmark = [pytest.mark.deploy, pytest.mark.postgres_only]


@pytest.fixture
def shared_base() -> Iterator[Path]:
    """A directory the postgres user can read (pytest's temporary ones are root's alone), with
    backups/ owned by postgres as deploy.sh makes /srv/backups/energyapp."""
    need("pg_dump", "pg_restore", "runuser")
    if os.geteuid() != 0:
        pytest.skip("the backup runs as postgres through runuser, as root (CI runs as root)")
    base = Path(tempfile.mkdtemp(prefix="energyapp-host2-"))
    try:
        base.chmod(0o755)
        (base / "backups").mkdir()
        shutil.chown(base / "backups", "postgres", "postgres")
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def second_host(shared_base: Path) -> Iterator[Sandbox]:
    with update_sandbox(shared_base) as box:
        yield box


def _shared_url(db_url: str, driver: str = "postgresql+asyncpg") -> str:
    """The run's database as a second host's .env names it: over TCP, with a password."""
    url = make_url(db_url)
    return f"{driver}://{url.username}:s3cr%40t@{url.host}:{url.port}/{url.database}"


def _dumped_database(dump: Path) -> str:
    listing = run(["pg_restore", "--list", dump], check=True).stdout
    assert " TABLE DATA public alembic_version " in listing
    match = re.search(r"^;\s+dbname: (\S+)$", listing, flags=re.MULTILINE)
    assert match, listing
    return match.group(1)


def test_update_backs_up_the_shared_database(db_url: str, second_host: Sandbox) -> None:
    """update.sh dumped postgresql:///energyapp, this host's unused local database (or failed
    where there is none), whatever the app's .env said."""
    work, app = second_host["work"], second_host["app"]
    assert isinstance(app, Path)
    (app / ".env").write_text(f"ENERGYAPP_DB_URL={_shared_url(db_url)}\n")
    new = release(work, "1.1")
    backups = app.parent / "backups"

    result = update(second_host, backup=True, BACKUP_DIR=str(backups))

    assert result.returncode == 0, result.stderr
    assert git(app, "rev-parse", "HEAD") == new
    dump = Path(re.findall(r"backup: (\S+)", result.stderr)[-1])
    assert dump.parent == backups and dump.owner() == "postgres"
    assert _dumped_database(dump) == make_url(db_url).database
    assert "s3cr" not in result.stderr


def _app_copy(base: Path, env_text: str) -> Path:
    """scripts/backup.sh installed in BASE/app, next to an .env holding ENV_TEXT."""
    app = base / "app"
    (app / "scripts").mkdir(parents=True)
    for name in ("backup.sh", "lib.sh"):
        shutil.copy(SCRIPTS / name, app / "scripts" / name)
    (app / ".env").write_text(env_text)
    return app


def _backup_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "ENERGYAPP_"))}
    return {**env, "BACKUP_DIR": str(base / "backups")}


def test_backup_by_hand_reads_the_apps_env(db_url: str, shared_base: Path) -> None:
    """Run as root without a URL, backup.sh took the local `energyapp` database."""
    app = _app_copy(shared_base, f"ENERGYAPP_DB_URL={_shared_url(db_url, 'postgresql')}\n")
    result = run([app / "scripts" / "backup.sh"], env=_backup_env(shared_base), timeout=120)
    assert result.returncode == 0, result.stderr
    assert _dumped_database(Path(result.stdout.strip())) == make_url(db_url).database


def test_backup_as_postgres_refuses_an_env_it_cannot_read(shared_base: Path) -> None:
    app = _app_copy(shared_base, "ENERGYAPP_DB_URL=postgresql://app:x@10.0.0.1/energyapp\n")
    (app / ".env").chmod(0o600)
    result = run(
        ["runuser", "-u", "postgres", "--", app / "scripts" / "backup.sh"],
        env=_backup_env(shared_base),
        timeout=60,
    )
    assert result.returncode == 1
    assert "ENERGYAPP_DB_URL is not set" in result.stderr, result.stderr
    assert f"{app}/scripts/../.env cannot be read" in result.stderr
    assert list((shared_base / "backups").iterdir()) == []


def test_the_backup_unit_dumps_the_apps_socket_database_as_its_own_user(
    db_url: str, shared_base: Path
) -> None:
    """The unit now gives backup.sh the app's ENERGYAPP_DB_URL, which on the first host names the
    app's role over the socket; peer authentication lets the unit's postgres in as postgres only,
    so the dump is taken as the user running it."""
    name = make_url(db_url).database
    app_url = f"postgresql://energyapp@/{name}?host=/var/run/postgresql"
    # As installed: the .env is not the postgres user's to read; systemd hands its values over.
    app = _app_copy(shared_base, f"ENERGYAPP_DB_URL={app_url}\n")
    (app / ".env").chmod(0o600)
    env = {**_backup_env(shared_base), "ENERGYAPP_DB_URL": app_url}
    result = run(
        ["runuser", "-u", "postgres", "--", app / "scripts" / "backup.sh"],
        env={k: v for k, v in env.items() if not k.startswith("PG")},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert _dumped_database(Path(result.stdout.strip())) == name
