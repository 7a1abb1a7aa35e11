"""Verified addresses: users.email_verified_at and email_verifications

Revision ID: 0014_email_verification
Revises: 0013_password_resets
Create Date: 2026-12-05 20:00:00+00:00

With mail on, a self-registered account must open an emailed link before it can sign in
(auth/verification.py). Every existing account counts as verified since its creation, so
nobody is locked out by the upgrade. The links have a table of their own (not a purpose column
on password_resets): a verification link can then never be presented where a reset link is
taken, whatever a query forgets to filter.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_email_verification"
down_revision: str | None = "0013_password_resets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: rebuilding the users table on SQLite (batch mode)
    # would cascade through every row that refers to a user (as in 0005).
    op.add_column(
        "users", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE users SET email_verified_at = created_at")
    op.create_table(
        "email_verifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_verifications")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_verifications_token_hash")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_email_verifications_user_id_users"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_email_verifications_user_id"), "email_verifications", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_email_verifications_user_id"), table_name="email_verifications")
    op.drop_table("email_verifications")
    op.drop_column("users", "email_verified_at")
