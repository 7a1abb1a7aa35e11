"""Application settings. Precedence (lowest to highest): defaults < ``config/settings.yaml`` <
``.env`` < ``ENERGYAPP_*`` environment variables < keyword arguments (tests)."""

from __future__ import annotations

import difflib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError

from energyapp.core import crypto
from energyapp.core.mail_settings import MailSettings
from energyapp.core.roles import Role
from energyapp.core.session_settings import SessionSettings
from energyapp.core.sharing_settings import SharingSettings
from energyapp.core.temporary_chat_settings import TemporaryChatSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "config" / "settings.yaml"
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - refused in production
MIN_SECRET_BYTES = 32
_NEW_DATA_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
# RFC 6750's b64token: what fits in "Authorization: Bearer <token>" as Prometheus sends it.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")


class SettingsError(Exception):
    """Raised with a human-readable message when the configuration cannot be loaded."""


def _named_settings_file() -> str | None:
    """ENERGYAPP_CONFIG_FILE from the environment, else from ``.env``: the app's units see the
    .env's line in their environment (systemd's EnvironmentFile), a command run by hand or by a
    deployment script does not, and read another file (another database) without it."""
    if "ENERGYAPP_CONFIG_FILE" in os.environ:
        return os.environ["ENERGYAPP_CONFIG_FILE"]
    env_file = Path(".env")
    try:
        return dotenv_values(env_file).get("ENERGYAPP_CONFIG_FILE") if env_file.is_file() else None
    except OSError:  # an unreadable .env: refused when the settings read it
        return None


def _settings_file() -> Path:
    return Path(_named_settings_file() or DEFAULT_SETTINGS_FILE)


class Settings(BaseSettings, MailSettings, SessionSettings, SharingSettings, TemporaryChatSettings):
    model_config = SettingsConfigDict(
        env_prefix="ENERGYAPP_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- core ---
    env: Literal["development", "production", "test"] = "development"
    secret_key: str = DEV_SECRET_KEY
    # Seals the TOTP secrets at rest (core/crypto.py); unset: derived from secret_key.
    data_key: SecretStr | None = None
    previous_data_keys: list[SecretStr] = Field(default_factory=list)
    db_url: str = "sqlite:///data/energyapp.db"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=20, ge=0, le=500)
    allowed_origins: list[str] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)

    # --- what the app exposes besides the API ---
    docs_enabled: bool | None = None  # None: on in development and test, off in production
    metrics_token: SecretStr | None = None
    metrics_allow_loopback: bool = True

    # --- logging ---
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_to_file: bool = False
    log_file: str = "logs/energyapp.log"

    # --- auth ---
    jwt_issuer: str = "energyapp"
    jwt_audience: str = "energyapp-api"
    access_token_minutes: int = Field(default=15, ge=1, le=1440)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    refresh_idle_days: int = Field(default=7, ge=1, le=365)
    auth_retention_days: int = Field(default=30, ge=1, le=3650)
    registration_domains: list[str] = Field(
        default_factory=lambda: ["alvaradomazzei.cl", "inacapmail.cl"]
    )
    self_service_2fa_domains: list[str] = Field(default_factory=lambda: ["inacapmail.cl"])
    password_change_domains: list[str] = Field(default_factory=lambda: ["inacapmail.cl"])
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    redis_url: str | None = None
    # The chat broker (chat/redis_broker.py), used when redis_url is set: every process sharing
    # this prefix on that Redis shares one chat runtime.
    redis_prefix: str = Field(default="energyapp:", min_length=1, max_length=64)
    broker_lease_seconds: float = Field(default=15.0, ge=1.0, le=600.0)
    answer_stream_ttl_seconds: int = Field(default=300, ge=10, le=86_400)
    # SIGTERM with the broker: running answers may finish for this long before being interrupted.
    drain_timeout: float = Field(default=120.0, ge=0.0, le=3600.0)
    # SIGTERM with the broker: /health answers 503 this long before the process stops listening.
    shutdown_delay: float = Field(default=5.0, ge=0.0, le=60.0)
    demo_quick_access: bool = True

    # --- retention and export (conversations/retention.py, conversations/export_zip.py) ---
    retention_days: dict[Role, int] = Field(default_factory=dict)
    retention_warning_days: int = Field(default=7, ge=0, le=365)
    retention_batch_size: int = Field(default=200, ge=1, le=10_000)
    export_zip_per_hour: int = Field(default=5, ge=1, le=1000)
    conversation_exports_per_minute: int = Field(default=20, ge=1, le=100_000)

    # --- LLM / chat ---
    ollama_url: str = "http://127.0.0.1:11434"
    ollama_urls: list[str] = Field(default_factory=list)
    ollama_model: str = "qwen2.5:3b-instruct"
    ollama_max_parallel: int = Field(default=1, ge=1, le=64)
    max_queue: int = Field(default=50, ge=1, le=100_000)
    # Slot-affine scheduling (chat/slots.py): a busy server keeps its one idle slot for the
    # conversation it holds this long after its answer, and this is also the most an answer
    # waits because of affinity before plain round-robin serves it. 0 turns it off.
    slot_hold_seconds: float = Field(default=60.0, ge=0.0, le=600.0)
    max_active_per_user: int = Field(default=1, ge=1, le=1000)
    # Live answers a person follows at once by re-attaching (tabs, reloads), on every process
    # together, before 429 too_many_streams (chat/watchers.py).
    max_streams_per_user: int = Field(default=10, ge=1, le=1000)
    chat_rate_limit_per_minute: int = Field(default=20, ge=1, le=100_000)
    # Changes per user per minute outside the chat (conversations, keys, profile, admin
    # actions) before 429: more than a person clicks, a wall for a runaway script.
    write_rate_limit_per_minute: int = Field(default=120, ge=1, le=100_000)
    # Searches per user per minute before 429, every list with ``q`` together: one's
    # conversations (a full-text search of every message can take a second of the database's
    # time) and the admin panel's users, audit trail and API keys.
    search_rate_limit_per_minute: int = Field(default=60, ge=1, le=100_000)
    max_message_chars: int = Field(default=8000, ge=1, le=200_000)
    num_ctx: int = Field(default=4096, ge=256)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    keep_alive: str = "30m"
    ollama_warm_up: bool = True
    llm_connect_timeout: float = Field(default=5.0, gt=0)
    llm_token_timeout: float = Field(default=120.0, gt=0)
    title_num_predict: int = Field(default=24, ge=1)
    daily_token_quota: dict[Role, int] = Field(default_factory=dict)

    # --- OpenAI-compatible API (/v1) and personal API keys ---
    api_keys_roles: list[Role] = Field(
        default_factory=lambda: [Role.ADMIN, Role.SUPERVISOR, Role.TRABAJADOR]
    )
    api_rate_limit_per_minute: int = Field(default=30, ge=1, le=100_000)
    api_max_keys_per_user: int = Field(default=20, ge=1, le=1000)
    # Invalid keys from one address in 15 minutes before further invalid ones get 429 (and
    # fail2ban's attention); valid keys from that address keep working.
    api_invalid_keys_per_ip: int = Field(default=20, ge=1, le=100_000)
    system_prompt: str = (
        "Eres el asistente de EnergyApp, una plataforma privada de la empresa. "
        "Responde en español de Chile, de forma clara, breve y correcta."
    )
    fake_ollama_autostart: bool = True
    fake_ollama_port: int = Field(default=11434, ge=1, le=65535)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        del file_secret_settings  # no secrets directory: secrets come from .env or the environment
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=_settings_file())
        return (init_settings, env_settings, dotenv_settings, yaml_source)

    @field_validator("registration_domains", "self_service_2fa_domains", "password_change_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in value if d.strip()]

    @field_validator("retention_days")
    @classmethod
    def _retention_days(cls, value: dict[Role, int]) -> dict[Role, int]:
        if any(not 1 <= days <= 36_500 for days in value.values()):
            raise ValueError("cada rol admite de 1 a 36500 días (omita el rol para no borrar)")
        return value

    @field_validator("ollama_url", "ollama_urls")
    @classmethod
    def _http_urls(cls, value: str | list[str]) -> str | list[str]:
        for url in [value] if isinstance(value, str) else value:
            if not re.match(r"https?://[^/\s]", url):
                raise ValueError(  # never the URL itself: it may carry a password
                    "una URL de Ollama debe empezar con http:// o https://, "
                    "p. ej. http://127.0.0.1:11434"
                )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not re.match(r"(rediss?|unix)://", value):
            # The URL may hold a password: it is never part of the message.
            raise ValueError(
                "debe empezar con redis://, rediss:// o unix://, p. ej. redis://127.0.0.1:6379/0"
            )
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"origen inválido {origin!r}: debe empezar con http:// o https://")
        return [o.rstrip("/") for o in value]

    @field_validator("secret_key", mode="before")
    @classmethod
    def _empty_secret_key_is_unset(cls, value: Any) -> Any:
        # `.env.example` has an empty ENERGYAPP_SECRET_KEY=: in development that means "unset"
        # (an empty key cannot sign a token: every login failed); production refuses it below.
        return DEV_SECRET_KEY if isinstance(value, str) and not value.strip() else value

    @field_validator("data_key", mode="before")
    @classmethod
    def _empty_data_key_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("data_key")
    @classmethod
    def _data_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_data_key(value)
        return value

    @field_validator("previous_data_keys")
    @classmethod
    def _previous_data_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            _check_data_key(key)
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        token = value.get_secret_value().strip() if value is not None else ""
        if not token:
            return None
        if len(token) < MIN_SECRET_BYTES or not _BEARER_TOKEN.fullmatch(token):
            # The token itself is never part of the message.
            raise ValueError(
                "debe tener al menos 32 caracteres entre letras, dígitos y - . _ ~ + / =; "
                "genere uno con: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return SecretStr(token)

    @model_validator(mode="after")
    def _production_secret(self) -> Settings:
        if self.env == "production":
            key = self.secret_key.strip()
            if not key or key == DEV_SECRET_KEY or len(key.encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    "ENERGYAPP_SECRET_KEY vacía, por defecto o de menos de 32 bytes: en producción "
                    "genere una con: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
                )
            if self.data_key is not None:
                raw = crypto.decode_key(self.data_key.get_secret_value())
                if len(set(raw)) < crypto.MIN_DISTINCT_KEY_BYTES:
                    raise ValueError(
                        "ENERGYAPP_DATA_KEY parece escrita a mano, no generada: en producción "
                        f"genere una con: {_NEW_DATA_KEY}"
                    )
            if "*" in self.allowed_origins:
                raise ValueError("ENERGYAPP_ALLOWED_ORIGINS no puede contener '*' en producción")
        return self

    @property
    def data_keyring(self) -> crypto.Keyring:
        """The keys that seal and open secrets at rest (cached per configuration)."""
        return crypto.keyring(
            self.data_key.get_secret_value() if self.data_key else None,
            tuple(k.get_secret_value() for k in self.previous_data_keys),
            self.secret_key,
        )

    @property
    def api_docs_enabled(self) -> bool:
        """Whether /docs, /redoc and /openapi.json are served (``docs_enabled``, else not in
        production)."""
        if self.docs_enabled is not None:
            return self.docs_enabled
        return self.env != "production"

    @property
    def llm_urls(self) -> list[str]:
        """Every Ollama server to use; ``ollama_urls`` wins over the single ``ollama_url``."""
        urls = self.ollama_urls or [self.ollama_url]
        return [u.rstrip("/") for u in urls]


def _check_data_key(key: SecretStr) -> None:
    try:
        crypto.decode_key(key.get_secret_value())
    except ValueError as exc:
        # The message says what is wrong with the key, never what the key is.
        raise ValueError(
            f"clave de datos inválida ({exc}): debe ser de {crypto.KEY_BYTES} bytes en base64url; "
            f"genere una con: {_NEW_DATA_KEY}"
        ) from None


# ENERGYAPP_* names that are no settings yet may sit in .env: the settings file's path (systemd
# loads .env as the environment too) and the deployment kit's own variables (Caddy's domain and
# upstreams, deploy.sh's and update.sh's). A setting a release removes goes here too, so that
# an old .env still loads.
_NOT_SETTINGS = frozenset(
    {"config_file", "domain", "upstreams", "instances", "instance_ports", "service", "user"}
)
_PREFIX = "energyapp_"
_UNPARSED = re.compile(r'field "(\w+)" from source "(\w+)"')


def _check_setting_files() -> None:
    """Refuse what pydantic-settings would pass over in silence: an ``ENERGYAPP_CONFIG_FILE``
    that does not exist, and a key of the settings file or ``ENERGYAPP_*`` key of ``.env`` that
    is no setting (a typo would otherwise leave the default in force without a word)."""
    path = _settings_file()
    if _named_settings_file() is not None and not path.is_file():
        raise SettingsError(f"ENERGYAPP_CONFIG_FILE: no existe el archivo {path}")
    unknown: list[str] = []
    if path.is_file():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if data is not None and not isinstance(data, dict):
            raise SettingsError(f"{path}: debe contener líneas «clave: valor», una por ajuste")
        unknown += [_unknown(str(key), str(key), path) for key in data or {} if not _known(key)]
    env_file = Path(".env")
    if env_file.is_file():
        for key in dotenv_values(env_file):
            name = key.lower()
            if name.startswith(_PREFIX) and not _known(name.removeprefix(_PREFIX)):
                unknown.append(_unknown(key, name.removeprefix(_PREFIX), env_file.resolve()))
    if unknown:
        raise SettingsError(
            "Configuración inválida:\n"
            + "\n".join(unknown)
            + "\nLos ajustes válidos están en docs/configuration.md."
        )


def _known(key: object) -> bool:
    name = str(key).lower()
    return name in Settings.model_fields or name in _NOT_SETTINGS


def _unknown(key: str, name: str, where: Path) -> str:
    close = difflib.get_close_matches(name.lower(), list(Settings.model_fields), n=1)
    hint = f" (¿quiso decir {close[0]}?)" if close else ""
    return f"  - {key}: no es un ajuste, en {where}{hint}"


def _unparsed(message: str) -> str:
    match = _UNPARSED.search(message)
    if match is None:
        return f"Configuración inválida: {message}"
    name, source = match.groups()
    where = ".env" if source.startswith("DotEnv") else "variable de entorno"
    return (
        f"Configuración inválida:\n  - {name} (ENERGYAPP_{name.upper()}, {where}): no es JSON; "
        "las listas y los mapas se escriben en JSON, p. ej. "
        "ENERGYAPP_ALLOWED_ORIGINS='[\"https://a.cl\"]'"
    )


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "configuración"
        var = f"ENERGYAPP_{name.split('.')[0].upper()}" if err["loc"] else ""
        label = f"{name} ({var})" if var else name
        lines.append(f"  - {label}: {err['msg']}")
    return "Configuración inválida:\n" + "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning any error into a SettingsError that names the setting."""
    try:
        _check_setting_files()
        return Settings(**overrides)
    except SettingsError:
        raise
    except ValidationError as exc:
        raise SettingsError(format_validation_error(exc)) from None
    except SourceError as exc:  # a list or a map in a variable, not written in JSON
        raise SettingsError(_unparsed(str(exc))) from None
    except Exception as exc:  # a malformed YAML or .env file
        raise SettingsError(
            f"No se pudo leer la configuración ({_settings_file()}): {exc}"
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
