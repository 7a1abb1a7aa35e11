"""users.last_login_at: when the account last signed in (null: never), filled from the audit trail

Revision ID: 0005_last_login
Revises: 0004_totp_sealed
Create Date: 2026-12-04 16:30:00+00:00

"Última actividad" starts at the account's creation, so an account that never signed in looked
active. The audit trail records every login since the first release, so the latest ``login``
event of each user is the value the column would have held.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_last_login"
down_revision: str | None = "0004_totp_sealed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("last_login_at", sa.DateTime()))
audit_events = sa.table(
    "audit_events",
    sa.column("actor_id", sa.Uuid()),
    sa.column("action", sa.String()),
    sa.column("created_at", sa.DateTime()),
)


def upgrade() -> None:
    # A plain ADD/DROP COLUMN on both databases: rebuilding the users table on SQLite (batch
    # mode) would cascade through every row that refers to a user.
    # Idempotent like 0004: run again over a table that has the column (a version table put
    # back by hand), it adds nothing and fills only what is still empty.
    existing = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("users")}
    if "last_login_at" not in existing:
        op.add_column(
            "users", sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True)
        )
    latest_login = (
        sa.select(sa.func.max(audit_events.c.created_at))
        .where(audit_events.c.actor_id == users.c.id, audit_events.c.action == "login")
        .scalar_subquery()
    )
    op.execute(
        users.update().where(users.c.last_login_at.is_(None)).values(last_login_at=latest_login)
    )


def downgrade() -> None:
    op.drop_column("users", "last_login_at")
