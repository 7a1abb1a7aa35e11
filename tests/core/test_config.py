from __future__ import annotations

from pathlib import Path

import pytest

from energyapp.config import DEV_SECRET_KEY, SettingsError, load_settings
from energyapp.db import DatabaseUrlError, normalize_db_url

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parents[2]


def test_precedence_yaml_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("ollama_model: desde-yaml\nmax_queue: 7\nnum_ctx: 2048\n")
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", str(cfg))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ENERGYAPP_MAX_QUEUE=9\nENERGYAPP_NUM_CTX=1024\n")
    monkeypatch.setenv("ENERGYAPP_NUM_CTX", "512")
    settings = load_settings()
    assert settings.ollama_model == "desde-yaml"  # yaml over default
    assert settings.max_queue == 9  # .env over yaml
    assert settings.num_ctx == 512  # environment over .env


def test_production_variables_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGYAPP_DB_URL", "postgresql+psycopg2://u:p@db.local:5432/energy")
    monkeypatch.setenv("ENERGYAPP_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("ENERGYAPP_ALLOWED_ORIGINS", '["https://energyapp.alvaradomazzei.cl"]')
    monkeypatch.setenv("ENERGYAPP_LOG_TO_FILE", "true")
    monkeypatch.setenv("ENERGYAPP_LOG_FILE", "/var/log/energyapp/app.log")
    monkeypatch.setenv("ENERGYAPP_ENV", "production")
    monkeypatch.setenv("ENERGYAPP_OLLAMA_URLS", '["http://a:11434", "http://b:11434/"]')
    settings = load_settings()
    assert settings.allowed_origins == ["https://energyapp.alvaradomazzei.cl"]
    assert settings.log_to_file is True
    assert settings.log_file == "/var/log/energyapp/app.log"
    assert settings.llm_urls == ["http://a:11434", "http://b:11434"]
    assert normalize_db_url(settings.db_url).drivername == "postgresql+asyncpg"


@pytest.mark.parametrize("key", ["", DEV_SECRET_KEY, "short-key"])
def test_production_refuses_weak_secret(key: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env="production", secret_key=key)
    assert "secrets.token_urlsafe" in str(info.value)


def test_bad_variable_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGYAPP_MAX_QUEUE", "muchos")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "max_queue" in str(info.value)
    assert "ENERGYAPP_MAX_QUEUE" in str(info.value)


def test_bad_yaml_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("max_queue: [unterminated\n")
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", str(cfg))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(cfg) in str(info.value)


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///data/x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgresql+psycopg2://u:p@h:5432/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_db_url_forms(raw: str, driver: str) -> None:
    assert normalize_db_url(raw).drivername == driver


def test_db_url_sslmode_is_translated() -> None:
    url = normalize_db_url("postgresql+psycopg2://u@h/db?sslmode=require")
    assert url.query["ssl"] == "require"
    assert "sslmode" not in url.query


def test_unknown_db_scheme_is_refused() -> None:
    with pytest.raises(DatabaseUrlError):
        normalize_db_url("mysql://u@h/db")


@pytest.mark.parametrize(
    "token", ["corto-123", "x" * 31, "con espacios " + "x" * 32, "ñ" * 40, "x" * 32 + "\x00"]
)
def test_weak_or_malformed_metrics_token_is_refused(token: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(metrics_token=token)
    message = str(info.value)
    assert "ENERGYAPP_METRICS_TOKEN" in message and "token_urlsafe" in message
    assert token not in message


def test_metrics_token_is_trimmed_and_hidden() -> None:
    token = "Abc-_.~+/" + "z" * 30 + "=="
    settings = load_settings(metrics_token=f"  {token}\n")
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == token
    assert token not in repr(settings) and token not in settings.model_dump_json()
    assert load_settings(metrics_token=" ").metrics_token is None


@pytest.mark.parametrize(
    ("env", "docs_enabled", "served"),
    [
        ("production", None, False),
        ("production", True, True),
        ("development", None, True),
        ("test", None, True),
        ("test", False, False),
    ],
)
def test_api_docs_default_by_environment(env: str, docs_enabled: bool | None, served: bool) -> None:
    settings = load_settings(env=env, secret_key="s" * 40, docs_enabled=docs_enabled)
    assert settings.api_docs_enabled is served


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own (and so its own .env), with the checkout's settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", str(ROOT / "config" / "settings.yaml"))
    return tmp_path


def _refusal() -> str:
    with pytest.raises(SettingsError) as info:
        load_settings()
    return str(info.value)


def test_a_misspelt_key_in_the_settings_file_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo must not leave the default in force without a word."""
    cfg = workdir / "settings.yaml"
    cfg.write_text("max_queu: 200\nMAX_ACTIVE_PER_USER: 2\nnada_que_ver: 1\n")
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", str(cfg))
    message = _refusal()
    assert f"max_queu: no es un ajuste, en {cfg} (¿quiso decir max_queue?)" in message
    assert "nada_que_ver: no es un ajuste" in message
    assert "MAX_ACTIVE_PER_USER" not in message  # keys are read case-insensitively


def test_a_misspelt_variable_in_dotenv_is_refused(workdir: Path) -> None:
    # Other programs' variables, ENERGYAPP_CONFIG_FILE (systemd loads .env as environment too)
    # and the deployment kit's variables are no typo.
    dotenv = workdir / ".env"
    dotenv.write_text(
        "PGHOST=/var/run/postgresql\nENERGYAPP_CONFIG_FILE=config/settings.yaml\n"
        "ENERGYAPP_DOMAIN=energyapp.alvaradomazzei.cl\nENERGYAPP_MAX_QUEUE=9\n"
    )
    assert load_settings().max_queue == 9
    dotenv.write_text("ENERGYAPP_OLAMA_URL=http://10.0.0.5:11434\n")
    message = _refusal()
    assert "ENERGYAPP_OLAMA_URL: no es un ajuste" in message
    assert "¿quiso decir ollama_url?" in message


def test_a_named_settings_file_must_exist(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", str(workdir / "setings.yaml"))
    assert _refusal() == f"ENERGYAPP_CONFIG_FILE: no existe el archivo {workdir}/setings.yaml"


def test_the_settings_file_named_in_dotenv_is_read(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The units see the .env's ENERGYAPP_CONFIG_FILE in their environment (systemd); a command
    run by hand or by a deployment script (`energyapp db upgrade` in update.sh) read the default
    file instead, and with it another database."""
    monkeypatch.delenv("ENERGYAPP_CONFIG_FILE")
    cfg = workdir / "host.yaml"
    cfg.write_text("max_queue: 7\n")
    (workdir / ".env").write_text(f"ENERGYAPP_CONFIG_FILE={cfg}\n")
    assert load_settings().max_queue == 7
    other = workdir / "other.yaml"
    other.write_text("max_queue: 8\n")
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", str(other))  # the environment still wins
    assert load_settings().max_queue == 8
    monkeypatch.delenv("ENERGYAPP_CONFIG_FILE")
    cfg.unlink()
    assert _refusal() == f"ENERGYAPP_CONFIG_FILE: no existe el archivo {cfg}"


def test_a_settings_file_that_is_no_mapping_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = workdir / "settings.yaml"
    cfg.write_text("- max_queue\n- 5\n")
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", str(cfg))
    assert _refusal().startswith(f"{cfg}: debe contener líneas «clave: valor»")


@pytest.mark.parametrize("in_dotenv", [False, True])
def test_a_list_variable_that_is_not_json_is_named(
    in_dotenv: bool, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "could not read config/settings.yaml": the variable, where it is, and the form."""
    if in_dotenv:
        (workdir / ".env").write_text("ENERGYAPP_ALLOWED_ORIGINS=https://a.cl\n")
    else:
        monkeypatch.setenv("ENERGYAPP_ALLOWED_ORIGINS", "https://a.cl")
    message = _refusal()
    where = ".env" if in_dotenv else "variable de entorno"
    assert f"allowed_origins (ENERGYAPP_ALLOWED_ORIGINS, {where}): no es JSON" in message
    assert "settings.yaml" not in message


def test_the_example_dotenv_gives_a_working_development_setup(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: copy .env.example to .env. Its empty ENERGYAPP_SECRET_KEY= is "unset" in
    development (an empty key signs no token: every login was a 500); production refuses it."""
    (workdir / ".env").write_text((ROOT / ".env.example").read_text(encoding="utf-8"))
    settings = load_settings()
    assert settings.secret_key == DEV_SECRET_KEY
    assert settings.data_key is None
    monkeypatch.setenv("ENERGYAPP_ENV", "production")
    assert "ENERGYAPP_SECRET_KEY vacía" in _refusal()


@pytest.mark.parametrize(
    ("variable", "value", "form"),
    [
        ("ENERGYAPP_OLLAMA_URL", "localhost:11434", "http://"),
        ("ENERGYAPP_OLLAMA_URLS", '["http://a:11434", "b:11434"]', "http://"),
        ("ENERGYAPP_REDIS_URL", "localhost:6379", "redis://"),
        ("ENERGYAPP_REDIS_URL", ":s3cr3t@10.0.0.1:6379/0", "redis://"),
    ],
)
def test_a_url_without_its_scheme_is_refused(
    variable: str, value: str, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis URL without redis:// stopped start-up with a traceback; an Ollama URL without
    http:// started an app whose every answer failed."""
    monkeypatch.setenv(variable, value)
    message = _refusal()
    assert f"({variable})" in message and form in message
    assert value not in message and "s3cr3t" not in message


def test_an_empty_redis_url_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGYAPP_REDIS_URL", " ")
    assert load_settings().redis_url is None
