"""Answer feedback: message_feedback

Revision ID: 0017_message_feedback
Revises: 0016_refresh_reuse_grace
Create Date: 2026-12-06 01:00:00+00:00

The 👍/👎 a person gives one of their answers, with an optional comment (feedback/models.py):
one row per answer, deleted with it (and so with its conversation, by hand or by retention),
kept with a null ``user_id`` when the account goes. A new table only: nothing to fill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_message_feedback"
down_revision: str | None = "0016_refresh_reuse_grace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_feedback",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("rating", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating IN ('up', 'down')", name=op.f("ck_message_feedback_rating_valid")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_feedback_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_message_feedback_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_feedback")),
    )
    op.create_index(
        "ix_message_feedback_rating_updated",
        "message_feedback",
        ["rating", "updated_at", "message_id"],
    )
    op.create_index("ix_message_feedback_updated", "message_feedback", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_message_feedback_updated", table_name="message_feedback")
    op.drop_index("ix_message_feedback_rating_updated", table_name="message_feedback")
    op.drop_table("message_feedback")
