"""conversation list indexes: pinned first in the sidebar, per-owner list for the admin panel

Revision ID: 0003_conv
Revises: 0001
Create Date: 2026-11-26 02:40:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_conv"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        # The sidebar puts pinned conversations first: keyset on (pinned, updated_at, id).
        batch_op.drop_index("ix_conversations_user_list")
        batch_op.create_index(
            "ix_conversations_user_list",
            ["user_id", "archived", "pinned", "updated_at", "id"],
            unique=False,
        )
        # The admin panel lists one user's conversations, archived or not, newest first.
        batch_op.create_index(
            "ix_conversations_user_updated", ["user_id", "updated_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_user_updated")
        batch_op.drop_index("ix_conversations_user_list")
        batch_op.create_index(
            "ix_conversations_user_list", ["user_id", "archived", "updated_at", "id"], unique=False
        )
