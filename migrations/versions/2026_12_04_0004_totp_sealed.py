"""TOTP secrets sealed at rest: users.totp_secret widened and every clear secret encrypted

Revision ID: 0004_totp_sealed
Revises: 0003_conv
Create Date: 2026-12-04 14:30:00+00:00

The keys come from the app's settings (ENERGYAPP_DATA_KEY, or the key derived from
ENERGYAPP_SECRET_KEY), as the running app will read them. Idempotent: a value already sealed
(``v1:<key id>:...``) is left as it is. The downgrade opens the secrets again, so it needs the
keys that sealed them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from energyapp.auth import totp_secrets
from energyapp.config import Settings, get_settings
from energyapp.core.crypto import UnreadableSecret, is_sealed

revision: str = "0004_totp_sealed"
down_revision: str | None = "0003_conv"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("totp_secret", sa.String()))


def _settings() -> Settings:
    settings = context.config.attributes.get("settings")
    return settings if isinstance(settings, Settings) else get_settings()


def _stored_secrets() -> list[sa.Row[tuple[object, str]]]:
    query = sa.select(users.c.id, users.c.totp_secret).where(users.c.totp_secret.is_not(None))
    return list(op.get_bind().execute(query))


def _write(user_id: object, value: str) -> None:
    op.get_bind().execute(users.update().where(users.c.id == user_id).values(totp_secret=value))


def _resize(old: int, new: int) -> None:
    # SQLite does not enforce VARCHAR lengths, and changing a column's type there means
    # rebuilding the table: with foreign keys on, dropping the old users table would cascade
    # into every row that refers to a user. PostgreSQL widens a VARCHAR in place.
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column(
        "users",
        "totp_secret",
        existing_type=sa.String(length=old),
        type_=sa.String(length=new),
        existing_nullable=True,
    )


def upgrade() -> None:
    _resize(64, 255)
    clear = [row for row in _stored_secrets() if not is_sealed(row.totp_secret)]
    if not clear:
        return  # a fresh or already migrated database needs no key
    keyring = _settings().data_keyring
    for row in clear:
        _write(row.id, totp_secrets.seal(keyring, row.id, row.totp_secret))


def downgrade() -> None:
    sealed = [row for row in _stored_secrets() if is_sealed(row.totp_secret)]
    if sealed:
        keyring = _settings().data_keyring
        for row in sealed:
            try:
                secret = totp_secrets.open_sealed(keyring, row.id, row.totp_secret)
            except UnreadableSecret as exc:
                raise RuntimeError(
                    f"cannot decrypt the TOTP secret of user {row.id} ({exc}): set the key that "
                    "sealed it in ENERGYAPP_DATA_KEY or ENERGYAPP_PREVIOUS_DATA_KEYS"
                ) from None
            _write(row.id, secret)
    _resize(255, 64)
