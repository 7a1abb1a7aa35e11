"""Messages form a tree: messages.parent_id, conversations.current_leaf_id and has_versions

Revision ID: 0007_message_tree
Revises: 0004_totp_sealed
Create Date: 2026-12-04 16:30:00+00:00

Every existing conversation becomes a single-branch tree: each message's parent is the message
stored just before it (by ``created_at``, then ``id``, the order the history was shown in), and
the conversation's current branch ends at its last message, and none has versions yet. The
downgrade drops both columns and
keeps every message: versions made since then are shown one after another, in creation order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_message_tree"
down_revision: str | None = "0005_last_login"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One statement per table, whatever their size: a window function numbers the messages of
# each conversation (SQLite >= 3.25 and PostgreSQL), then UPDATE ... FROM (SQLite >= 3.33).
_LINK_PARENTS = """
UPDATE messages SET parent_id = chain.previous_id
FROM (
    SELECT id, LAG(id) OVER (PARTITION BY conversation_id ORDER BY created_at, id) AS previous_id
    FROM messages
) AS chain
WHERE chain.id = messages.id AND chain.previous_id IS NOT NULL
"""
_CURRENT_LEAVES = """
UPDATE conversations SET current_leaf_id = (
    SELECT m.id FROM messages AS m
    WHERE m.conversation_id = conversations.id
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT 1
)
"""


def upgrade() -> None:
    # No foreign key on parent_id: adding one to an existing SQLite table means rebuilding it.
    # A message's parent is always in its own conversation, and messages are only deleted
    # with their conversation (ON DELETE CASCADE), so a parent never disappears alone.
    op.add_column("messages", sa.Column("parent_id", sa.Uuid(), nullable=True))
    op.add_column("conversations", sa.Column("current_leaf_id", sa.Uuid(), nullable=True))
    op.add_column(
        "conversations",
        sa.Column("has_versions", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(_LINK_PARENTS)
    op.execute(_CURRENT_LEAVES)
    op.create_index("ix_messages_parent", "messages", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_parent", table_name="messages")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch rebuild of either table
    # would drop it first, and with foreign keys on that cascades into the messages.
    op.drop_column("conversations", "has_versions")
    op.drop_column("conversations", "current_leaf_id")
    op.drop_column("messages", "parent_id")
