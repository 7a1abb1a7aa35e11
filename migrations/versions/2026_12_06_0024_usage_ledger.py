"""The usage ledger: usage_events takes the place of api_usage

Revision ID: 0024_usage_ledger
Revises: 0023_temporary_chats
Create Date: 2026-12-06 10:00:00+00:00

The daily quota and the usage report summed the token counts of the messages (and api_usage for
the API's answers not stored): deleting a conversation, or the retention sweep, gave tokens
back and changed past usage. ``usage_events`` holds one row per generation, written with the
answer's final counts and never deleted with the history (docs/chat.md, "Usage and quotas").

The backfill gives every existing message one event (its id reused as the event's: both are
random and unique), so the reports over past days keep their figures: 1 message each, an
answer for the assistant's, with its tokens and first-token wait (a message whose author's
account was deleted too: its event has no user either, as the report counted it); an answer kept by the API
(named by an api_usage row) is ``api`` with its key. Every api_usage row whose message is not
there (not stored, or deleted since) becomes an ``api`` event of its own with no messages.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_usage_ledger"
down_revision: str | None = "0023_temporary_chats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROM_MESSAGES = """
INSERT INTO usage_events (id, user_id, created_at, source, key_id, model, status,
    prompt_tokens, completion_tokens, first_token_ms, messages, answers, message_id)
SELECT m.id, m.user_id, m.created_at,
    CASE WHEN EXISTS (SELECT 1 FROM api_usage a WHERE a.message_id = m.id)
         THEN 'api' ELSE 'web' END,
    (SELECT a.key_id FROM api_usage a WHERE a.message_id = m.id LIMIT 1),
    m.model, m.status,
    COALESCE(m.prompt_tokens, 0), COALESCE(m.completion_tokens, 0),
    CASE WHEN m.role = 'assistant' THEN m.first_token_ms END,
    1,
    CASE WHEN m.role = 'assistant' THEN 1 ELSE 0 END,
    m.id
FROM messages m
"""

_FROM_API_USAGE = """
INSERT INTO usage_events (id, user_id, created_at, source, key_id, model, status,
    prompt_tokens, completion_tokens, first_token_ms, messages, answers, message_id)
SELECT a.id, a.user_id, a.created_at, 'api', a.key_id, a.model, a.status,
    a.prompt_tokens, a.completion_tokens, NULL, 0, 1, a.message_id
FROM api_usage a
WHERE a.message_id IS NULL
   OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = a.message_id)
"""

_BACK_TO_API_USAGE = """
INSERT INTO api_usage (id, key_id, user_id, created_at, model, status, prompt_tokens,
    completion_tokens, message_id)
SELECT e.id, e.key_id, e.user_id, e.created_at, COALESCE(e.model, ''), e.status,
    e.prompt_tokens, e.completion_tokens, e.message_id
FROM usage_events e
WHERE e.source = 'api' AND e.key_id IS NOT NULL AND e.user_id IS NOT NULL AND e.answers = 1
"""


def upgrade() -> None:
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("first_token_ms", sa.Integer(), nullable=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_usage_events_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_usage_events_key_id_api_keys"),
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_usage_events_user_created", "usage_events", ["user_id", "created_at"])
    op.create_index("ix_usage_events_created", "usage_events", ["created_at"])
    op.create_index("ix_usage_events_key_created", "usage_events", ["key_id", "created_at"])
    op.create_index("ix_usage_events_message", "usage_events", ["message_id"])
    op.execute(_FROM_MESSAGES)
    op.execute(_FROM_API_USAGE)
    op.drop_index("ix_api_usage_key_created", table_name="api_usage")
    op.drop_index("ix_api_usage_user_created", table_name="api_usage")
    op.drop_table("api_usage")


def downgrade() -> None:
    """api_usage comes back with the API's answers (the web's usage of conversations deleted
    since the upgrade is lost with the ledger)."""
    op.create_table(
        "api_usage",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_usage")),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_usage_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_usage_user_id_users"), ondelete="CASCADE"
        ),
    )
    op.create_index("ix_api_usage_user_created", "api_usage", ["user_id", "created_at"])
    op.create_index("ix_api_usage_key_created", "api_usage", ["key_id", "created_at"])
    op.execute(_BACK_TO_API_USAGE)
    op.drop_index("ix_usage_events_message", table_name="usage_events")
    op.drop_index("ix_usage_events_key_created", table_name="usage_events")
    op.drop_index("ix_usage_events_created", table_name="usage_events")
    op.drop_index("ix_usage_events_user_created", table_name="usage_events")
    op.drop_table("usage_events")
