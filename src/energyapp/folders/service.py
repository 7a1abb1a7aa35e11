"""Folders ("Carpetas"): a person's own groups of conversations. Create, rename and delete (at
most :data:`MAX_FOLDERS`, names unique per person ignoring case and accents), and file a
conversation into one of its owner's folders. Not audited: like a conversation's title or pin,
they are the person's own arrangement of their history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth import service as auth_service
from energyapp.auth.models import User
from energyapp.conversations.models import CONVERSATIONS, Conversation
from energyapp.core.search import fold
from energyapp.core.text import short_label
from energyapp.db import for_update, utcnow
from energyapp.errors import Conflict, NotFound
from energyapp.folders.models import Folder

MAX_NAME_CHARS = 60
MAX_FOLDERS = 50


@dataclass(frozen=True, slots=True)
class FolderView:
    """A folder with the number of its conversations not archived."""

    id: uuid.UUID
    name: str
    conversation_count: int
    created_at: datetime
    updated_at: datetime


def clean_name(raw: str) -> str:
    """``raw`` on one line (every run of blanks, line breaks included, one space), trimmed, in
    NFC, 1 to :data:`MAX_NAME_CHARS` visible characters (``core.text.short_label``); else 422
    ``folder_name_invalid``."""
    return short_label(
        " ".join(raw.split()),
        MAX_NAME_CHARS,
        subject="El nombre",
        missing="Escriba un nombre para la carpeta",
        code="folder_name_invalid",
    )


def folder_not_found() -> NotFound:
    return NotFound(
        "No existe esa carpeta o no es suya. Recargue la lista.", code="folder_not_found"
    )


async def get_folder(
    session: AsyncSession, owner_id: uuid.UUID, folder_id: uuid.UUID, *, lock: bool = False
) -> Folder:
    """``owner_id``'s folder; 404 ``folder_not_found`` when missing or someone else's, so a
    folder id tells nothing about others. ``lock``: the row locked (``FOR UPDATE``) until the
    end of the transaction, so a concurrent delete waits."""
    stmt = select(Folder).where(Folder.id == folder_id, Folder.user_id == owner_id)
    folder = await session.scalar(for_update(stmt) if lock else stmt)
    if folder is None:
        raise folder_not_found()
    return folder


async def folders_of(session: AsyncSession, user: User) -> list[FolderView]:
    """``user``'s folders by name ignoring case and accents (sorted in Python with
    ``core.search.fold``: no es collation on every database), each with its count."""
    c = CONVERSATIONS.c
    counts = (
        select(c.folder_id, func.count().label("n"))
        .where(c.user_id == user.id, c.folder_id.is_not(None), c.archived.is_(False))
        .group_by(c.folder_id)
        .subquery()
    )
    rows = await session.execute(
        select(Folder, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.folder_id == Folder.id)
        .where(Folder.user_id == user.id)
    )
    views = [FolderView(f.id, f.name, int(n), f.created_at, f.updated_at) for f, n in rows]
    views.sort(key=lambda v: (fold(v.name), v.name, str(v.id)))
    return views


async def names_of(session: AsyncSession, owner_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """The names of ``owner_id``'s folders by id (the exports name a conversation's folder)."""
    rows = await session.execute(select(Folder.id, Folder.name).where(Folder.user_id == owner_id))
    return {row.id: row.name for row in rows}


async def view_of(session: AsyncSession, user: User, folder: Folder) -> FolderView:
    count = await session.scalar(
        select(func.count())
        .select_from(CONVERSATIONS)
        .where(
            CONVERSATIONS.c.folder_id == folder.id,
            CONVERSATIONS.c.user_id == user.id,
            CONVERSATIONS.c.archived.is_(False),
        )
    )
    return FolderView(folder.id, folder.name, count or 0, folder.created_at, folder.updated_at)


async def _check_name_free(
    session: AsyncSession, user: User, name: str, but: uuid.UUID | None = None
) -> None:
    query = select(Folder.name).where(Folder.user_id == user.id)
    if but is not None:
        query = query.where(Folder.id != but)
    wanted = fold(name)
    if any(fold(taken) == wanted for taken in await session.scalars(query)):
        raise Conflict(
            f"Ya tiene una carpeta llamada «{name}». Elija otro nombre.",
            code="folder_name_taken",
        )


async def create(session: AsyncSession, user: User, raw_name: str) -> Folder:
    """A new folder of ``user``'s. 409 ``folder_limit`` past :data:`MAX_FOLDERS`, 409
    ``folder_name_taken`` when one of theirs has the name already."""
    name = clean_name(raw_name)
    await auth_service.hold_person(session, user.id)  # the count and name checks take turns
    count = await session.scalar(
        select(func.count()).select_from(Folder).where(Folder.user_id == user.id)
    )
    if (count or 0) >= MAX_FOLDERS:
        raise Conflict(
            f"Puede tener como máximo {MAX_FOLDERS} carpetas. Elimine alguna que ya no use e "
            "intente de nuevo.",
            code="folder_limit",
        )
    await _check_name_free(session, user, name)
    now = utcnow()
    folder = Folder(user_id=user.id, name=name, created_at=now, updated_at=now)
    session.add(folder)
    await session.flush()
    return folder


async def rename(session: AsyncSession, user: User, folder: Folder, raw_name: str) -> Folder:
    """Give ``folder`` (already loaded in scope) a new name, unique among ``user``'s."""
    name = clean_name(raw_name)
    await auth_service.hold_person(session, user.id)  # the count and name checks take turns
    await _check_name_free(session, user, name, but=folder.id)
    folder.name = name
    folder.updated_at = utcnow()
    await session.flush()
    return folder


async def delete(session: AsyncSession, folder: Folder) -> None:
    """Delete ``folder``; its conversations stay, with no folder (``ON DELETE SET NULL``)."""
    await session.delete(folder)
    await session.flush()


async def file_conversation(
    session: AsyncSession, conversation: Conversation, folder_id: uuid.UUID | None
) -> None:
    """Put ``conversation`` in the folder ``folder_id`` (None: no folder). The folder must be
    the conversation's owner's, whoever acts: 404 ``folder_not_found`` otherwise. It stays
    locked to the end of the transaction, so a delete running meanwhile cannot leave the
    conversation pointing at nothing."""
    if folder_id is not None:
        await get_folder(session, conversation.user_id, folder_id, lock=True)
    conversation.folder_id = folder_id
