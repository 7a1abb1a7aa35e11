"""2FA an admin can require (per user and per role), the setup challenge, legal holds

Revision ID: 0006_required_2fa_retention
Revises: 0004_totp_sealed
Create Date: 2026-12-04 16:30:00+00:00

Existing users are not required to use 2FA, no role requires it, existing login challenges are
second-step ("verify") challenges and no conversation is on hold: nothing to backfill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_required_2fa_retention"
down_revision: str | None = "0007_message_tree"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a batch (table rebuild) on SQLite would drop the
    # users table with foreign keys on, cascading into every row that refers to a user.
    op.add_column(
        "users", sa.Column("require_2fa", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "login_challenges",
        sa.Column("purpose", sa.String(length=16), nullable=False, server_default="verify"),
    )
    op.create_table(
        "role_2fa_policies",
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("require_2fa", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_role_2fa_policies_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_role_2fa_policies")),
    )
    op.create_table(
        "legal_holds",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_legal_holds_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_legal_holds_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_legal_holds")),
    )


def downgrade() -> None:
    op.drop_table("legal_holds")
    op.drop_table("role_2fa_policies")
    # SQLite >= 3.35 drops a column in place (no rebuild, see upgrade()).
    op.drop_column("login_challenges", "purpose")
    op.drop_column("users", "require_2fa")
