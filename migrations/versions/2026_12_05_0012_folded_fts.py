"""Full-text search indexes over the folded text (lower case, accents removed)

Revision ID: 0012_folded_fts
Revises: 0011_api_keys_created
Create Date: 2026-12-05 11:00:00+00:00

The Spanish stemmer stems an accented word and its plain spelling apart ("información" ->
``inform``, "informacion" -> ``informacion``) and keeps "ü" and "ñ", so a search typed without
accents missed conversations written with them, and the other way round. Search now also
matches the folded query against the folded text (the table of ``energyapp.core.search``,
copied here so that this migration never changes); these GIN indexes serve that half as the
indexes of 0001 serve the text as written (``tests/core/test_service.py`` checks that a search
uses both message indexes).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_folded_fts"
down_revision: str | None = "0011_api_keys_created"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACCENTED = "áàâäãåéèêëíìîïóòôöõúùûüñçýÿ"
_PLAIN = "aaaaaaeeeeiiiiooooouuuuncyy"


def _folded(column: str) -> str:
    return f"to_tsvector('spanish', translate(lower({column}), '{_ACCENTED}', '{_PLAIN}'))"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_messages_content_folded_fts ON messages "
            f"USING gin ({_folded('content')})"
        )
        op.execute(
            "CREATE INDEX ix_conversations_title_folded_fts ON conversations "
            f"USING gin ({_folded('title')})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_content_folded_fts")
        op.execute("DROP INDEX IF EXISTS ix_conversations_title_folded_fts")
