"""scripts/deploy.sh takes the app's settings from the app, which reads the settings file, .env
and the environment. It keeps an existing .env and checks it through the app (scripts/lib.sh's
check_kept_env): it grepped the .env alone, so a Redis named in the settings file got a local one
added over it in .env (which wins), moving the host onto a chat runtime of its own, and a secret
key given elsewhere stopped the script. Ollama's drop-in gets the app's num_ctx, keep_alive and
ollama_max_parallel (ollama_drop_in): it was installed with copies of their defaults."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, ENERGYAPP_BIN, PROD_SECRET, SCRIPTS, need, run

pytestmark = [pytest.mark.deploy, pytest.mark.no_database]

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("app_setting runs the app through runuser, as root (CI runs as root)")
    app = tmp_path / "app"
    app.mkdir()
    (app / ".venv").symlink_to(ENERGYAPP_BIN.parents[1])
    return app


def _lib(function: str, *args: str | Path) -> tuple[int, str, str]:
    """scripts/lib.sh's FUNCTION run with ARGS, away from this run's ENERGYAPP_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    result = run(
        ["bash", "-c", f'source "$1"; shift; {function} "$@"', "_", SCRIPTS / "lib.sh", *args],
        env=env,
        timeout=60,
    )
    return result.returncode, result.stdout, result.stderr


def _check(app: Path) -> tuple[int, str]:
    code, _out, err = _lib("check_kept_env", app, "root", LOCAL_REDIS)
    return code, err


def test_deploy_checks_the_kept_env_through_the_app() -> None:
    deploy = (SCRIPTS / "deploy.sh").read_text(encoding="utf-8")
    assert 'check_kept_env "$app_dir" "$app_user" "$redis_url"' in deploy
    assert "grep -q '^ENERGYAPP_" not in deploy


def test_a_redis_and_a_key_of_the_settings_file_are_kept(app: Path, tmp_path: Path) -> None:
    settings = tmp_path / "host.yaml"
    settings.write_text(f"redis_url: redis://10.0.0.1:6379/0\nsecret_key: {PROD_SECRET}\n")
    dotenv = f"ENERGYAPP_ENV=production\nENERGYAPP_CONFIG_FILE={settings}\n"
    (app / ".env").write_text(dotenv)
    code, stderr = _check(app)
    assert code == 0, stderr
    assert (app / ".env").read_text() == dotenv


def test_a_redis_set_nowhere_is_added(app: Path) -> None:
    dotenv = f"ENERGYAPP_ENV=production\nENERGYAPP_SECRET_KEY={PROD_SECRET}\n"
    (app / ".env").write_text(dotenv)
    code, stderr = _check(app)
    assert code == 0, stderr
    added = (app / ".env").read_text().removeprefix(dotenv)
    assert added.splitlines()[-1] == f"ENERGYAPP_REDIS_URL={LOCAL_REDIS}"
    assert _check(app)[0] == 0
    assert (app / ".env").read_text().count("ENERGYAPP_REDIS_URL=") == 1


@pytest.mark.parametrize(
    ("dotenv", "refusal"),
    [
        ("ENERGYAPP_ENV=production\nENERGYAPP_SECRET_KEY=short\n", "ENERGYAPP_SECRET_KEY vacía"),
        (f"ENERGYAPP_SECRET_KEY={PROD_SECRET}\n", "runs with env=development"),
    ],
)
def test_an_env_the_app_would_not_run_in_production_stops_deploy(
    app: Path, dotenv: str, refusal: str
) -> None:
    (app / ".env").write_text(dotenv)
    code, stderr = _check(app)
    assert code == 1
    assert refusal in stderr, stderr
    assert (app / ".env").read_text() == dotenv


def _drop_in(app: Path) -> tuple[int, str, str]:
    return _lib("ollama_drop_in", DEPLOY / "ollama-energyapp.conf", app, "root")


def _ollama_values(text: str) -> dict[str, str]:
    return dict(re.findall(r'^Environment="(OLLAMA_\w+)=([^"]*)"$', text, re.MULTILINE))


def test_ollama_gets_the_apps_own_context_slots_and_keep_alive(app: Path, tmp_path: Path) -> None:
    deploy = (SCRIPTS / "deploy.sh").read_text(encoding="utf-8")
    assert 'ollama_drop_in deploy/ollama-energyapp.conf "$app_dir" "$app_user"' in deploy
    assert "install_file 0644 deploy/ollama-energyapp.conf" not in deploy
    settings = tmp_path / "host.yaml"
    settings.write_text("num_ctx: 8192\nkeep_alive: 1h\n")
    dotenv = f"ENERGYAPP_CONFIG_FILE={settings}\nENERGYAPP_OLLAMA_MAX_PARALLEL=3\n"
    (app / ".env").write_text(dotenv)

    code, out, err = _drop_in(app)

    assert code == 0, err
    source = (DEPLOY / "ollama-energyapp.conf").read_text(encoding="utf-8")
    assert _ollama_values(out) == _ollama_values(source) | {
        "OLLAMA_NUM_PARALLEL": "3",
        "OLLAMA_CONTEXT_LENGTH": "8192",
        "OLLAMA_KEEP_ALIVE": "1h",
    }
    unchanged = [line for line in source.splitlines() if "OLLAMA_" not in line]
    assert [line for line in out.splitlines() if "OLLAMA_" not in line] == unchanged
    (app / ".env").write_text(dotenv + 'ENERGYAPP_KEEP_ALIVE="30m\nEnvironment=X=1"\n')
    code, out, err = _drop_in(app)
    assert code == 1 and out == ""
    assert "is no duration Ollama takes" in err


def _logrotate_config(app: Path) -> tuple[int, str, str]:
    return _lib("logrotate_config", DEPLOY / "logrotate", app, "root")


def test_logrotate_rotates_the_log_file_the_app_writes(app: Path, tmp_path: Path) -> None:
    """deploy/logrotate named logs/*.log: a log_file in data/ or in a folder of logs/, which the
    unit can write, was never rotated. deploy.sh now writes the rule for the app's own path."""
    need("logrotate")
    deploy = (SCRIPTS / "deploy.sh").read_text(encoding="utf-8")
    assert 'logrotate_config deploy/logrotate "$app_dir" "$app_user"' in deploy
    assert "install_file 0644 deploy/logrotate" not in deploy
    (app / ".env").write_text("ENERGYAPP_LOG_TO_FILE=true\nENERGYAPP_LOG_FILE=data/app/x.log\n")
    log_file = app / "data" / "app" / "x.log"
    log_file.parent.mkdir(parents=True)
    log_file.write_text("before rotation\n")

    code, out, err = _logrotate_config(app)

    assert code == 0, err
    assert f"\n{log_file} {{\n" in out, out
    source = (DEPLOY / "logrotate").read_text(encoding="utf-8")
    assert len(out.splitlines()) == len(source.splitlines())
    config = tmp_path / "logrotate.conf"
    config.write_text(out.replace("energyapp energyapp", "root root"))
    run(["logrotate", "-f", "-s", tmp_path / "state", config], check=True)
    rotated = [p.name for p in log_file.parent.iterdir() if p != log_file]
    assert len(rotated) == 1 and rotated[0].startswith("x.log-"), rotated


@pytest.mark.parametrize("log_file", ["logs/my app.log", "logs/*.log", "/var/log/a.log {\nx"])
def test_a_log_file_logrotate_would_misread_stops_deploy(app: Path, log_file: str) -> None:
    (app / ".env").write_text(f'ENERGYAPP_LOG_FILE="{log_file}"\n')
    code, out, err = _logrotate_config(app)
    assert code == 1 and out == ""
    assert "logrotate needs a plain path" in err, err
