"""Custom instructions: custom_instructions and the copy each conversation keeps

Revision ID: 0015_custom_instructions
Revises: 0014_email_verification
Create Date: 2026-12-05 22:00:00+00:00

A person's two texts and switch (one row per user, instructions/models.py), and on
conversations the copy of them in force when the conversation was created: the prompt of a
conversation never changes during its life, so the model server's cache of it stays valid
(docs/chat.md). Existing conversations have none (both columns null).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_custom_instructions"
down_revision: str | None = "0014_email_verification"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custom_instructions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("about_user", sa.Text(), nullable=False),
        sa.Column("response_style", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_custom_instructions")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_custom_instructions_user_id_users"),
            ondelete="CASCADE",
        ),
    )
    # Plain ADD COLUMNs (nullable, no default) on both databases: no table rebuild on SQLite.
    op.add_column("conversations", sa.Column("instructions_about_user", sa.Text(), nullable=True))
    op.add_column(
        "conversations", sa.Column("instructions_response_style", sa.Text(), nullable=True)
    )


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place when nothing refers to it.
    op.drop_column("conversations", "instructions_response_style")
    op.drop_column("conversations", "instructions_about_user")
    op.drop_table("custom_instructions")
