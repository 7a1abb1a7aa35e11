"""Folders: folders, conversations.folder_id

Revision ID: 0022_folders
Revises: 0021_saved_prompts
Create Date: 2026-12-06 07:00:00+00:00

A person's folders of conversations ("Carpetas", folders/models.py), deleted with the account;
``conversations.folder_id`` points to one and is nulled when the folder goes. Its index keeps
one folder's list a keyset index scan, as ``ix_conversations_user_list`` does for the whole list.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_folders"
down_revision: str | None = "0021_saved_prompts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folders")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_folders_user_id_users"), ondelete="CASCADE"
        ),
    )
    op.create_index("ix_folders_user_id", "folders", ["user_id"])
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its foreign key in place (its default is null); a batch
        # would copy the table, and dropping the old one would cascade to every message.
        op.execute(
            "ALTER TABLE conversations ADD COLUMN folder_id CHAR(32) CONSTRAINT "
            "fk_conversations_folder_id_folders REFERENCES folders (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("conversations", sa.Column("folder_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            op.f("fk_conversations_folder_id_folders"),
            "conversations",
            "folders",
            ["folder_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(
        "ix_conversations_folder_list",
        "conversations",
        ["folder_id", "archived", "pinned", "updated_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_folder_list", table_name="conversations")
    if op.get_bind().dialect.name != "sqlite":  # SQLite drops the column with its key
        op.drop_constraint(
            op.f("fk_conversations_folder_id_folders"), "conversations", type_="foreignkey"
        )
    op.drop_column("conversations", "folder_id")
    op.drop_index("ix_folders_user_id", table_name="folders")
    op.drop_table("folders")
