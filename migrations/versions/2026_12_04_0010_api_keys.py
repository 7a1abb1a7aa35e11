"""Personal API keys: api_keys, api_key_addresses, api_usage and users.api_keys_enabled

Revision ID: 0010_api_keys
Revises: 0004_totp_sealed
Create Date: 2026-12-04 17:00:00+00:00

Existing users keep API access allowed (``api_keys_enabled`` true); the downgrade drops the
keys and their usage.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_api_keys"
down_revision: str | None = "0006_required_2fa_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ALTER on both databases: a batch rebuild of ``users`` on SQLite would drop the
    # table that other tables refer to.
    op.add_column(
        "users",
        sa.Column("api_keys_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ip", sa.String(64), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_keys_digest")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
    )
    op.create_index("ix_api_keys_user_created", "api_keys", ["user_id", "created_at"])
    op.create_table(
        "api_key_addresses",
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "ip", name=op.f("pk_api_key_addresses")),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_addresses_key_id_api_keys"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "api_usage",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_usage")),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_usage_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_usage_user_id_users"), ondelete="CASCADE"
        ),
    )
    op.create_index("ix_api_usage_user_created", "api_usage", ["user_id", "created_at"])
    op.create_index("ix_api_usage_key_created", "api_usage", ["key_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_api_usage_key_created", table_name="api_usage")
    op.drop_index("ix_api_usage_user_created", table_name="api_usage")
    op.drop_table("api_usage")
    op.drop_table("api_key_addresses")
    op.drop_index("ix_api_keys_user_created", table_name="api_keys")
    op.drop_table("api_keys")
    # A plain ALTER (SQLite 3.35+ drops columns itself): rebuilding ``users`` on SQLite would
    # drop the table others refer to.
    op.drop_column("users", "api_keys_enabled")
