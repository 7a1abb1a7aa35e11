"""Sealing secrets at rest (core/crypto.py) and the settings that give it its keys."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable

import pytest

from energyapp.config import SettingsError, load_settings
from energyapp.core import crypto

pytestmark = pytest.mark.no_database

CONTEXT = b"users.totp_secret:1"


def _key() -> bytes:
    return secrets.token_bytes(crypto.KEY_BYTES)


def test_a_sealed_value_names_its_key_and_hides_the_plaintext() -> None:
    key = _key()
    keyring = crypto.Keyring(key)
    sealed = keyring.seal("JBSWY3DPEHPK3PXP", context=CONTEXT)
    version, key_id, token = sealed.split(":")
    assert (version, key_id) == ("v1", crypto.key_id(key)) and len(key_id) == 8
    assert "JBSWY3DPEHPK3PXP" not in sealed and key.hex()[:8] != key_id
    assert keyring.seal("JBSWY3DPEHPK3PXP", context=CONTEXT) != sealed  # a fresh nonce each time
    assert keyring.open(sealed, context=CONTEXT) == "JBSWY3DPEHPK3PXP"
    assert crypto.is_sealed(sealed) and not crypto.is_sealed("JBSWY3DPEHPK3PXP")
    assert crypto.sealed_key_id(sealed) == key_id and crypto.sealed_key_id("JBSWY3DP") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda v: v.replace(":", ":x", 1),  # another key id
        lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),  # altered ciphertext
        lambda v: v[:20],  # truncated
        lambda v: "v1:" + v.split(":")[1] + ":!!!",  # not base64
        lambda v: v.split(":", 1)[1],  # no version
    ],
)
def test_an_altered_value_does_not_open(damage: Callable[[str], str]) -> None:
    keyring = crypto.Keyring(_key())
    sealed = keyring.seal("secreto", context=CONTEXT)
    with pytest.raises(crypto.UnreadableSecret):
        keyring.open(damage(sealed), context=CONTEXT)


def test_the_context_is_part_of_what_is_authenticated() -> None:
    keyring = crypto.Keyring(_key())
    sealed = keyring.seal("secreto", context=CONTEXT)
    with pytest.raises(crypto.UnreadableSecret):
        keyring.open(sealed, context=b"users.totp_secret:2")


def test_previous_keys_open_but_only_the_current_one_seals() -> None:
    old, new = _key(), _key()
    sealed_before = crypto.Keyring(old).seal("secreto", context=CONTEXT)
    keyring = crypto.Keyring(new, [old])
    assert keyring.open(sealed_before, context=CONTEXT) == "secreto"
    assert crypto.sealed_key_id(keyring.seal("secreto", context=CONTEXT)) == crypto.key_id(new)
    with pytest.raises(crypto.UnreadableSecret, match=crypto.key_id(old)):
        crypto.Keyring(new).open(sealed_before, context=CONTEXT)
    assert old.hex() not in repr(keyring) and new.hex() not in repr(keyring)


def test_keys_are_read_in_base64_or_base64url_with_or_without_padding() -> None:
    raw = b"\xfb\xff" * 16  # encodes to characters that differ between the two alphabets
    for text in (
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(raw).decode(),
    ):
        assert crypto.decode_key(text) == raw
    for bad in ("", "corta", base64.b64encode(b"x" * 31).decode(), "ñ" * 43):
        with pytest.raises(ValueError):
            crypto.decode_key(bad)


def test_without_a_data_key_the_key_is_derived_from_the_secret_key() -> None:
    derived = load_settings(secret_key="s" * 40).data_keyring
    assert derived.current_id == crypto.key_id(crypto.derive_key("s" * 40))
    assert load_settings(secret_key="t" * 40).data_keyring.current_id != derived.current_id
    assert load_settings(secret_key="s" * 40, data_key="  ").data_key is None  # empty: unset
    # A configured data key seals; the derived one still opens what it sealed before.
    sealed = derived.seal("secreto", context=CONTEXT)
    configured = load_settings(secret_key="s" * 40, data_key=secrets.token_urlsafe(32))
    assert configured.data_keyring.current_id != derived.current_id
    assert configured.data_keyring.open(sealed, context=CONTEXT) == "secreto"


@pytest.mark.parametrize("setting", ["data_key", "previous_data_keys"])
def test_an_invalid_key_names_its_setting_and_not_its_value(setting: str) -> None:
    bad = "no-es-una-clave"
    value: object = [bad] if setting == "previous_data_keys" else bad
    with pytest.raises(SettingsError) as info:
        load_settings(**{setting: value})
    assert f"ENERGYAPP_{setting.upper()}" in str(info.value)
    assert bad not in str(info.value)


def test_production_refuses_a_typed_data_key_and_accepts_a_generated_one() -> None:
    strong = secrets.token_urlsafe(48)
    with pytest.raises(SettingsError, match="ENERGYAPP_DATA_KEY"):
        load_settings(env="production", secret_key=strong, data_key="A" * 43)
    generated = secrets.token_urlsafe(32)
    settings = load_settings(env="production", secret_key=strong, data_key=generated)
    assert generated not in repr(settings)
