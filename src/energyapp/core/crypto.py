"""Authenticated encryption of small secrets at rest, under keys kept outside the database.

A sealed value reads ``v1:<key id>:<token>``: ``token`` is base64url (no padding) of a random
96-bit nonce followed by the AES-256-GCM ciphertext and its tag. The caller passes a *context*
(for instance the column and the row's id) that is authenticated but not stored, so a value
copied to another row or column does not open. The key id is a short hash of the key, never the
key, and tells which key of the keyring sealed a value: old keys keep opening what they sealed
until it is re-sealed under the current one (``energyapp keys rotate``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
VERSION = "v1"
_PREFIX = f"{VERSION}:"
_NONCE_BYTES = 12
_KEY_ID_LABEL = b"energyapp key id\x00"
_DERIVATION_INFO = b"energyapp data key v1"
# A random 32-byte key has ~30 distinct byte values; fewer than this means it was typed, not
# generated.
MIN_DISTINCT_KEY_BYTES = 16


class UnreadableSecret(Exception):
    """A value that the keyring cannot open: not sealed, sealed under a key it does not hold,
    sealed for another context, or altered. The message never contains key material."""


def decode_key(text: str) -> bytes:
    """The 32 bytes of a key written in base64 or base64url, padding optional."""
    text = text.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("no es base64url válido") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"debe tener {KEY_BYTES} bytes y tiene {len(raw)}")
    return raw


def derive_key(secret_key: str) -> bytes:
    """The data key derived from the app's secret key (HKDF-SHA256), when none is configured."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_DERIVATION_INFO)
    return hkdf.derive(secret_key.encode())


def key_id(key: bytes) -> str:
    """Eight hex digits naming a key without revealing it."""
    return hashlib.sha256(_KEY_ID_LABEL + key).hexdigest()[:8]


def is_sealed(value: str) -> bool:
    return value.startswith(_PREFIX)


def sealed_key_id(value: str) -> str | None:
    """The id of the key that sealed ``value``, or None when it is not a sealed value."""
    if not is_sealed(value):
        return None
    return value.split(":", 2)[1]


class Keyring:
    """The current key, which seals, and the previous ones, which only open."""

    def __init__(self, current: bytes, previous: Iterable[bytes] = ()) -> None:
        self.current_id = key_id(current)
        self._ciphers = {key_id(key): AESGCM(key) for key in previous}
        self._ciphers[self.current_id] = AESGCM(current)

    def __repr__(self) -> str:
        return f"Keyring(current_id={self.current_id!r}, ids={sorted(self._ciphers)!r})"

    def seal(self, plaintext: str, *, context: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self.current_id].encrypt(nonce, plaintext.encode(), context)
        token = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{_PREFIX}{self.current_id}:{token}"

    def open(self, value: str, *, context: bytes) -> str:
        """The plaintext of ``value``; UnreadableSecret when it cannot be authenticated."""
        if not is_sealed(value) or value.count(":") != 2:
            raise UnreadableSecret("not a sealed value")
        _, kid, token = value.split(":")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UnreadableSecret(f"sealed under key {kid}, which is not in the keyring")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plaintext = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context)
        except (binascii.Error, ValueError, InvalidTag):
            raise UnreadableSecret(f"sealed value under key {kid} does not authenticate") from None
        return plaintext.decode()


@lru_cache(maxsize=8)
def keyring(data_key: str | None, previous_data_keys: tuple[str, ...], secret_key: str) -> Keyring:
    """The keyring of a configuration: ``data_key`` seals (or, when unset, the key derived from
    ``secret_key``); the previous keys and the derived key open what they sealed before."""
    derived = derive_key(secret_key)
    previous = [decode_key(k) for k in previous_data_keys]
    if data_key is None:
        return Keyring(derived, previous)
    return Keyring(decode_key(data_key), [*previous, derived])
