"""Why an answer ended: messages.finish_reason

Revision ID: 0018_finish_reason
Revises: 0017_message_feedback
Create Date: 2026-12-06 01:00:00+00:00

A complete answer says whether the model ended it ("stop") or the length cap did ("length":
Ollama's ``done_reason`` when ``num_predict`` cut it, docs/chat.md); the web UI says so under a
cut answer and offers "Continuar". Null for the answers stored before, and for those that did
not end complete (stopped, interrupted, failed) or are being written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_finish_reason"
down_revision: str | None = "0017_message_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a constraint: a plain ADD COLUMN on both databases, no rewrite.
    op.add_column("messages", sa.Column("finish_reason", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "finish_reason")
