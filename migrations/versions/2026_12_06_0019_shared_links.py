"""Shared links: shared_links

Revision ID: 0019_shared_links
Revises: 0018_finish_reason
Create Date: 2026-12-06 04:00:00+00:00

"Compartir" (sharing/models.py): one read-only link per shared conversation, its token the
capability, ``leaf_message_id`` the branch shared. Deleted with its conversation (by hand or by
retention) and with its sharer's account. A new table only: nothing to fill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_shared_links"
down_revision: str | None = "0018_finish_reason"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shared_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("leaf_message_id", sa.Uuid(), nullable=False),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_shared_links_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_shared_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_links")),
        sa.UniqueConstraint("token", name=op.f("uq_shared_links_token")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_shared_links_conversation_id")),
    )
    op.create_index("ix_shared_links_user_created", "shared_links", ["user_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_shared_links_user_created", table_name="shared_links")
    op.drop_table("shared_links")
