"""All of a user's conversations as one ZIP: for each, the Markdown and the JSON of the single
export (``export.py``), plus an index.

The archive is written into a spooled temporary file (in memory up to ``SPOOL_BYTES``, then on
disk), reading the conversations a page at a time and compressing off the event loop, so memory
stays bounded whatever the history's size; the response then streams the file."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from typing import IO

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit
from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.conversations import export, service
from energyapp.conversations.models import Conversation
from energyapp.core.ratelimit import RateLimiter
from energyapp.core.search import fold
from energyapp.db import utcnow
from energyapp.feedback import service as feedback_service
from energyapp.folders import service as folders_service

SPOOL_BYTES = 8 * 1024 * 1024
PAGE = 50
CHUNK = 64 * 1024
FILENAME = "conversaciones-energyapp.zip"


async def check_rate(
    limiter: RateLimiter, settings: Settings, user: User, *, count: bool = True
) -> None:
    """429 ``export_rate_limited`` past ``export_zip_per_hour``; ``count=False``: a HEAD's
    answer, which builds nothing and so spends nothing."""
    await limiter.enforce(
        "export_zip", str(user.id), limit=settings.export_zip_per_hour, window_seconds=3600,
        detail="Ya descargó sus conversaciones varias veces en la última hora. Intente más tarde.",
        code="export_rate_limited", count=count,
    )  # fmt: skip


# Names Windows keeps for devices: no file or directory may have them, whatever the case.
_WINDOWS_RESERVED = frozenset(
    ("con", "prn", "aux", "nul", *(f"{kind}{n}" for kind in ("com", "lpt") for n in range(1, 10)))
)


def folder_directories(names: Mapping[uuid.UUID, str]) -> dict[uuid.UUID, str]:
    """One directory per folder, by id: its name's ASCII slug (no separator, no "..", nothing a
    file system refuses; ``carpeta`` when nothing is left, ``carpeta-con`` for a name Windows
    keeps for a device). Folders whose slugs are one get ``-2``, ``-3``… in name order, so
    two folders never merge into one directory."""
    taken: set[str] = set()
    directories: dict[uuid.UUID, str] = {}
    for folder_id, name in sorted(names.items(), key=lambda i: (fold(i[1]), i[1], str(i[0]))):
        base = export.ascii_slug(name, 60) or "carpeta"
        if base in _WINDOWS_RESERVED:
            base = f"carpeta-{base}"
        directory, n = base, 1
        while directory in taken:
            n += 1
            directory = f"{base}-{n}"
        taken.add(directory)
        directories[folder_id] = directory
    return directories


def _entry_stem(number: int, conversation: Conversation, directory: str | None) -> str:
    """``conversaciones/[<directory>/]NNNN-<title>`` (:func:`folder_directories`)."""
    slug = export.ascii_slug(conversation.title, 60) or "conversacion"
    if directory is None:
        return f"conversaciones/{number:04d}-{slug}"
    return f"conversaciones/{directory}/{number:04d}-{slug}"


async def _write_all(session: AsyncSession, user: User, archive: zipfile.ZipFile) -> int:
    index: list[dict[str, str | None]] = []
    folders = await folders_service.names_of(session, user.id)
    directories = folder_directories(folders)
    after: tuple[object, uuid.UUID] | None = None
    while True:
        stmt = (
            select(Conversation)
            .where(Conversation.user_id == user.id, Conversation.temporary.is_(False))
            .order_by(Conversation.created_at, Conversation.id)
            .limit(PAGE)
        )
        if after is not None:
            stmt = stmt.where(tuple_(Conversation.created_at, Conversation.id) > tuple_(*after))
        page = (await session.scalars(stmt)).all()
        ratings = await feedback_service.ratings_in(session, user.id, (c.id for c in page))
        for conversation in page:
            # An archive keeps everything: every version of every message.
            messages = await service.export_messages(session, conversation, whole_tree=True)
            folder_id = conversation.folder_id
            folder = folders.get(folder_id) if folder_id else None
            directory = directories.get(folder_id) if folder_id else None
            stem = _entry_stem(len(index) + 1, conversation, directory)
            markdown = export.to_markdown(conversation, messages, "tree")
            document = export.to_json(conversation, messages, "tree", ratings, folder)
            await asyncio.to_thread(archive.writestr, f"{stem}.md", markdown)
            await asyncio.to_thread(archive.writestr, f"{stem}.json", document)
            index.append(
                {"id": str(conversation.id), "title": conversation.title, "folder": folder,
                 "file": stem}
            )  # fmt: skip
            for row in (*messages, conversation):  # written: let the session forget them
                session.expunge(row)
        if len(page) < PAGE:
            break
        after = (page[-1].created_at, page[-1].id)
    summary = {"exported_at": utcnow().isoformat(), "conversations": index}
    archive.writestr("indice.json", json.dumps(summary, ensure_ascii=False, indent=2))
    return len(index)


async def export_all(
    session: AsyncSession, settings: Settings, limiter: RateLimiter, request: Request, user: User
) -> IO[bytes]:
    """The ZIP of every conversation of ``user`` (rewound, ready to stream); audited."""
    await check_rate(limiter, settings, user)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - streamed, then closed
    try:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            count = await _write_all(session, user, archive)
    except BaseException:
        spool.close()
        raise
    audit.record_account_event(
        session, "conversations.exported", user.id, request, details={"conversations": count}
    )
    spool.seek(0)
    return spool


def chunks(spool: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes for a streaming response; closes (and so deletes) it at the end."""
    with spool:
        while block := spool.read(CHUNK):
            yield block
