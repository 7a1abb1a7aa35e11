"""Announcements: announcements, announcement_dismissals

Revision ID: 0020_announcements
Revises: 0019_shared_links
Create Date: 2026-12-06 04:00:00+00:00

What the administrators tell everyone signed in (announcements/models.py): the text, its level,
its audience ("all" or one role), when it shows; and who closed which (one row per person and
announcement, gone with either). New tables only: nothing to fill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_announcements"
down_revision: str | None = "0019_shared_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "level IN ('info', 'warning')", name=op.f("ck_announcements_level_valid")
        ),
        sa.CheckConstraint(
            "audience IN ('all', 'admin', 'supervisor', 'trabajador')",
            name=op.f("ck_announcements_audience_valid"),
        ),
        sa.CheckConstraint(
            "ends_at IS NULL OR ends_at >= starts_at",
            name=op.f("ck_announcements_ends_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_announcements_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
    )
    op.create_index("ix_announcements_starts_at", "announcements", ["starts_at"])
    op.create_table(
        "announcement_dismissals",
        sa.Column("announcement_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_announcement_dismissals_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_announcement_dismissals_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "announcement_id", "user_id", name=op.f("pk_announcement_dismissals")
        ),
    )
    op.create_index("ix_announcement_dismissals_user_id", "announcement_dismissals", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_announcement_dismissals_user_id", table_name="announcement_dismissals")
    op.drop_table("announcement_dismissals")
    op.drop_index("ix_announcements_starts_at", table_name="announcements")
    op.drop_table("announcements")
