"""Temporary chats: conversations.temporary

Revision ID: 0023_temporary_chats
Revises: 0022_folders
Create Date: 2026-12-06 07:00:00+00:00

A temporary chat ("Chat temporal", docs/conversations-and-admin.md) is left out of its owner's
lists and deleted ``temporary_chat_hours`` after its last message. Its expiry is computed from
``updated_at`` (which only a new message moves), so no column holds it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_temporary_chats"
down_revision: str | None = "0022_folders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ALTER on both databases: a batch rebuild of ``conversations`` on SQLite would drop
    # the table first, and with foreign keys on that cascades into the messages.
    op.add_column(
        "conversations",
        sa.Column("temporary", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("conversations", "temporary")
