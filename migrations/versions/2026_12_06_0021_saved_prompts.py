"""Saved prompts: saved_prompts

Revision ID: 0021_saved_prompts
Revises: 0020_announcements
Create Date: 2026-12-06 04:00:00+00:00

The texts a person inserts into the composer ("Indicaciones guardadas", prompts/models.py):
their own (``user_id``, deleted with the account) and the ones an admin published for everyone
(``user_id`` null, ``created_by`` the admin, nulled when that account goes).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_saved_prompts"
down_revision: str | None = "0020_announcements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_prompts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_prompts")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_saved_prompts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_saved_prompts_created_by_users"),
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_saved_prompts_user_id", "saved_prompts", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_saved_prompts_user_id", table_name="saved_prompts")
    op.drop_table("saved_prompts")
