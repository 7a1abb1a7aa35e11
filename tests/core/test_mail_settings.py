"""The SMTP settings (core/mail_settings.py): mail is on only with relay, sender and public
address all set; empty values are unset; a bad sender or public address stops start-up with the
setting's name; the password is a secret (masked, never in the error of a bad value)."""

from __future__ import annotations

from pathlib import Path

import pytest

from energyapp.config import SettingsError, load_settings

pytestmark = pytest.mark.no_database

FULL = {
    "smtp_host": "smtp.alvaradomazzei.cl",
    "mail_from": "energyapp@alvaradomazzei.cl",
    "public_url": "https://energyapp.alvaradomazzei.cl/",
}


def test_mail_is_off_by_default_and_on_only_when_complete() -> None:
    assert load_settings().mail_enabled is False
    settings = load_settings(**FULL)
    assert settings.mail_enabled is True
    assert settings.public_url == "https://energyapp.alvaradomazzei.cl"  # no trailing slash
    assert (settings.smtp_port, settings.smtp_starttls, settings.smtp_tls) == (587, True, False)
    for missing in FULL:
        assert load_settings(**{**FULL, missing: " "}).mail_enabled is False


@pytest.mark.parametrize(
    ("name", "value"),
    [("public_url", "energyapp.alvaradomazzei.cl"), ("public_url", "https://a.cl/#/x"),
     ("mail_from", "no es un correo"), ("smtp_port", "0")],
)  # fmt: skip
def test_a_bad_value_names_its_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"ENERGYAPP_{name.upper()}"):
        load_settings(**{**FULL, name: value})


def test_production_takes_only_an_https_public_url() -> None:
    strong = "x" * 8 + "Un-secreto-largo-de-verdad-2026-abc"
    plain = {**FULL, "public_url": "http://energyapp.alvaradomazzei.cl"}
    with pytest.raises(SettingsError, match="ENERGYAPP_PUBLIC_URL debe empezar con https://"):
        load_settings(env="production", secret_key=strong, **plain)
    assert load_settings(**plain).public_url == "http://energyapp.alvaradomazzei.cl"  # dev
    https = load_settings(env="production", secret_key=strong, **FULL)
    assert https.public_url == "https://energyapp.alvaradomazzei.cl"


def test_the_password_comes_from_dotenv_and_stays_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ENERGYAPP_SMTP_PASSWORD=relay-secret-123\n")
    settings = load_settings(**FULL)
    assert settings.smtp_password is not None
    assert settings.smtp_password.get_secret_value() == "relay-secret-123"
    assert "relay-secret-123" not in repr(settings)
    dumped = settings.model_dump(mode="json", include={"smtp_password"})
    assert dumped == {"smtp_password": "**********"}
