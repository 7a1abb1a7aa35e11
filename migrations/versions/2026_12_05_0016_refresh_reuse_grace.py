"""Refresh-token retries: refresh_tokens.replaced_by_id

Revision ID: 0016_refresh_reuse_grace
Revises: 0015_custom_instructions
Create Date: 2026-12-05 22:00:00+00:00

A rotated refresh token remembers the token its rotation issued, so that presenting it again
within ``refresh_reuse_grace_seconds`` while that successor is still unused counts as a retry
of a refresh whose answer was lost, not as theft (auth/sessions.py). Tokens rotated before the
upgrade have no successor recorded and keep today's rule: presenting them again revokes the
session.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_refresh_reuse_grace"
down_revision: str | None = "0015_custom_instructions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a foreign key: a plain ADD COLUMN on both databases.
    op.add_column("refresh_tokens", sa.Column("replaced_by_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("refresh_tokens", "replaced_by_id")
