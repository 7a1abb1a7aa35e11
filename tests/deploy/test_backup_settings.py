"""scripts/backup.sh backs up the database the app uses wherever its db_url is set: the settings
file (docs/configuration.md), the .env or an ENERGYAPP_* variable. It read ENERGYAPP_DB_URL from
the environment or the .env only: a database named in the settings file was never backed up (the
script took the local `energyapp` database instead, or failed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.deploy.conftest import (
    PROD_SECRET,
    app_copy,
    app_runnable_by_postgres,
    backup_as_postgres,
    backup_env,
    dumped_database,
    run,
)

pytestmark = [pytest.mark.deploy, pytest.mark.postgres_only]

# The .env deploy.sh writes, less the database, which the operator moved to the settings file.
ENV_WITHOUT_DB = f"ENERGYAPP_ENV=production\nENERGYAPP_SECRET_KEY={PROD_SECRET}\n"


def _settings_file(base: Path, db_url: str) -> Path:
    path = base / "settings.yaml"
    path.write_text(f"db_url: {db_url}\nmax_queue: 5\n")
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("named_in", ["environment", ".env"])
def test_backup_by_hand_dumps_the_database_of_the_settings_file(
    db_url: str, shared_base: Path, named_in: str
) -> None:
    """The settings file is named by ENERGYAPP_CONFIG_FILE in the environment or in the .env
    (where the units see it too: the app run by hand read the default file without it)."""
    url = make_url(db_url)
    tcp_url = f"postgresql://{url.username}@127.0.0.1:{url.port or 5432}/{url.database}"
    settings = _settings_file(shared_base, tcp_url)
    env = backup_env(shared_base)
    if named_in == ".env":
        app = app_copy(shared_base, ENV_WITHOUT_DB + f"ENERGYAPP_CONFIG_FILE={settings}\n")
    else:
        app = app_copy(shared_base, ENV_WITHOUT_DB)
        env["ENERGYAPP_CONFIG_FILE"] = str(settings)

    result = run([app / "scripts" / "backup.sh"], env=env, timeout=120)

    assert result.returncode == 0, result.stderr
    assert dumped_database(Path(result.stdout.strip())) == url.database


@pytest.mark.parametrize("path", ["absolute", "relative"])
def test_the_backup_unit_dumps_the_database_of_the_settings_file(
    db_url: str, shared_base: Path, path: str
) -> None:
    """As the unit runs it: as postgres, the .env (which names the settings file) out of its
    reach and loaded into the environment by systemd, the database on this host's socket. A
    relative settings file is the app directory's, as for the app's units."""
    name = make_url(db_url).database
    settings = _settings_file(
        shared_base, f"postgresql://energyapp@/{name}?host=/var/run/postgresql"
    )
    named = settings if path == "absolute" else "../settings.yaml"
    dotenv = ENV_WITHOUT_DB + f"ENERGYAPP_CONFIG_FILE={named}\n"
    app = app_copy(shared_base, dotenv)
    (app / ".env").chmod(0o600)
    app_runnable_by_postgres(app)
    env = backup_env(shared_base) | {"BACKUP_DOTENV_LOADED": "yes"}
    env |= dict(line.split("=", 1) for line in dotenv.splitlines())  # EnvironmentFile=

    result = backup_as_postgres(app, env)

    assert result.returncode == 0, result.stderr
    assert dumped_database(Path(result.stdout.strip())) == name


def test_backup_without_the_app_or_with_bad_settings_takes_nothing(shared_base: Path) -> None:
    app = app_copy(shared_base, ENV_WITHOUT_DB + "ENERGYAPP_MAX_QUEUE=many\n")
    result = run([app / "scripts" / "backup.sh"], env=backup_env(shared_base), timeout=60)
    assert result.returncode == 1
    assert "max_queue (ENERGYAPP_MAX_QUEUE)" in result.stderr, result.stderr
    assert "did not say which database it uses" in result.stderr
    # The settings' database (config/settings.yaml's SQLite here) is the app's: not PostgreSQL.
    (app / ".env").write_text(ENV_WITHOUT_DB)
    result = run([app / "scripts" / "backup.sh"], env=backup_env(shared_base), timeout=60)
    assert result.returncode == 1
    assert f"the app in {app} uses sqlite:..., not PostgreSQL" in result.stderr, result.stderr
    (app / ".venv").unlink()
    result = run([app / "scripts" / "backup.sh"], env=backup_env(shared_base), timeout=60)
    assert result.returncode == 1
    assert "give --db-url" in result.stderr, result.stderr
    assert list((shared_base / "backups").iterdir()) == []
