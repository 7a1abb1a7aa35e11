"""`energyapp settings get NAME`: what the deployment scripts ask the app instead of re-reading
one of its sources (scripts/lib.sh's app_setting, scripts/backup.sh)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli

pytestmark = pytest.mark.no_database


def _get(name: str, env: dict[str, str]) -> str:
    result = run_cli(["settings", "get", name], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.removesuffix("\n")


def test_a_setting_is_printed_as_the_app_resolves_it(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "ENERGYAPP_DB_URL"}
    settings = tmp_path / "settings.yaml"
    settings.write_text("db_url: postgresql://app:pw@db.example/from_yaml\nmax_queue: 7\n")
    env["ENERGYAPP_CONFIG_FILE"] = str(settings)
    assert _get("db_url", env) == "postgresql://app:pw@db.example/from_yaml"
    assert _get("ENERGYAPP_MAX_QUEUE", env) == "7"
    (tmp_path / ".env").write_text("ENERGYAPP_DB_URL=postgresql:///from_dotenv\n")
    assert _get("db_url", env) == "postgresql:///from_dotenv"
    assert _get("db_url", env | {"ENERGYAPP_DB_URL": "postgresql:///from_env"}) == (
        "postgresql:///from_env"
    )
    # Unset is an empty line; lists and maps are JSON; secrets stay masked.
    assert _get("redis_url", env) == ""
    assert json.loads(_get("registration_domains", env)) == ["alvaradomazzei.cl", "inacapmail.cl"]
    token = "t" * 40
    assert _get("metrics_token", env | {"ENERGYAPP_METRICS_TOKEN": token}) == "**********"
    assert _get("smtp_password", env | {"ENERGYAPP_SMTP_PASSWORD": token}) == "**********"


def test_an_unknown_name_or_a_bad_setting_prints_nothing(cli_env: dict[str, str]) -> None:
    unknown = run_cli(["settings", "get", "dburl"], cli_env)
    assert unknown.returncode == 2
    assert unknown.stdout == ""
    assert "dburl no es un ajuste (¿quiso decir db_url?)" in unknown.stderr
    bad = run_cli(["settings", "get", "db_url"], cli_env | {"ENERGYAPP_PORT": "ochenta"})
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "port (ENERGYAPP_PORT)" in bad.stderr and "Traceback" not in bad.stderr
