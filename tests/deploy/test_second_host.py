"""A host that shares another host's PostgreSQL (docs/deployment.md, "Several hosts"): its .env
names the shared database, and its own local `energyapp` database, if any, is unused. The backups
that update.sh and the backup unit take are of the database the app uses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.deploy.conftest import (
    app_copy,
    app_runnable_by_postgres,
    backup_as_postgres,
    backup_env,
    dumped_database,
    run,
)
from tests.deploy.test_update import Sandbox, git, release, update, update_sandbox

pytestmark = [pytest.mark.deploy, pytest.mark.postgres_only]


@pytest.fixture
def second_host(shared_base: Path) -> Iterator[Sandbox]:
    with update_sandbox(shared_base) as box:
        yield box


def _shared_url(db_url: str, driver: str = "postgresql+asyncpg") -> str:
    """The run's database as a second host's .env names it: over TCP, with a password."""
    url = make_url(db_url)
    return f"{driver}://{url.username}:s3cr%40t@{url.host}:{url.port}/{url.database}"


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
    assert dumped_database(dump) == make_url(db_url).database
    assert "s3cr" not in result.stderr


def test_backup_by_hand_reads_the_apps_env(db_url: str, shared_base: Path) -> None:
    """Run as root without a URL, backup.sh took the local `energyapp` database."""
    app = app_copy(shared_base, f"ENERGYAPP_DB_URL={_shared_url(db_url, 'postgresql')}\n")
    result = run([app / "scripts" / "backup.sh"], env=backup_env(shared_base), timeout=120)
    assert result.returncode == 0, result.stderr
    assert dumped_database(Path(result.stdout.strip())) == make_url(db_url).database


def test_backup_as_postgres_refuses_an_env_it_cannot_read(shared_base: Path) -> None:
    """Run by hand as postgres, without the unit's environment, the app's .env is out of reach:
    the database it names cannot be known."""
    app = app_copy(shared_base, "ENERGYAPP_DB_URL=postgresql://app:x@10.0.0.1/energyapp\n")
    (app / ".env").chmod(0o600)
    result = backup_as_postgres(app, backup_env(shared_base))
    assert result.returncode == 1
    assert f"{app}/.env cannot be read to find the app's database" in result.stderr, result.stderr
    assert list((shared_base / "backups").iterdir()) == []


def test_the_backup_unit_dumps_the_apps_socket_database_as_its_own_user(
    db_url: str, shared_base: Path
) -> None:
    """The unit gives backup.sh the app's .env in its environment, whose ENERGYAPP_DB_URL on the
    first host names the app's role over the socket; peer authentication lets the unit's
    postgres in as postgres only, so the dump is taken as the user running it."""
    name = make_url(db_url).database
    app_url = f"postgresql://energyapp@/{name}?host=/var/run/postgresql"
    # As installed: the .env is not the postgres user's to read; systemd hands its values over.
    app = app_copy(shared_base, f"ENERGYAPP_DB_URL={app_url}\n")
    (app / ".env").chmod(0o600)
    app_runnable_by_postgres(app)
    env = {**backup_env(shared_base), "ENERGYAPP_DB_URL": app_url, "BACKUP_DOTENV_LOADED": "yes"}
    result = backup_as_postgres(app, env)
    assert result.returncode == 0, result.stderr
    assert dumped_database(Path(result.stdout.strip())) == name
