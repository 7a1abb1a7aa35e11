"""Rendering a conversation as a downloadable document (Markdown or JSON)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from energyapp.chat.board import STOPPED_BY_ADMIN
from energyapp.config import Settings
from energyapp.conversations.attachments import as_markdown
from energyapp.conversations.models import Conversation, Message
from energyapp.conversations.schemas import (
    ConversationExport,
    ConversationOut,
    ExportedMessageOut,
)
from energyapp.core import dates
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import utcnow
from energyapp.feedback.schemas import FeedbackOut
from energyapp.feedback.service import Rating
from energyapp.instructions import service as instructions_service
from energyapp.instructions.schemas import snapshot_out

ROLE_LABELS = {"user": "Usuario", "assistant": "Asistente", "system": "Sistema"}
STATUS_NOTES = {
    "stopped": "respuesta detenida",
    "interrupted": "respuesta interrumpida",
    "error": "respuesta con error",
    "streaming": "respuesta en curso",
}


EXPORT_TIMEZONE = ZoneInfo("America/Santiago")
ExportScope = Literal["branch", "tree"]


async def check_rate(limiter: RateLimiter, settings: Settings, user_id: uuid.UUID) -> None:
    """429 ``rate_limited`` beyond ``conversation_exports_per_minute`` files a minute: each is
    built whole in memory (every version of every message with ``scope=tree``)."""
    await limiter.enforce(
        "conversation.export", str(user_id), limit=settings.conversation_exports_per_minute,
        window_seconds=60,
        detail="Descargó demasiadas conversaciones seguidas. Espere {seconds} s y vuelva a "
        "intentarlo.",
    )  # fmt: skip


def _stamp(moment: datetime) -> str:
    """dd-mm-aaaa HH:MM, Chile's time (the company's)."""
    return moment.astimezone(EXPORT_TIMEZONE).strftime(f"{dates.DAY_FORMAT} %H:%M")


def _version_notes(messages: Sequence[Message]) -> dict[uuid.UUID, str]:
    """ " · versión k de n" for each message with siblings among ``messages``."""
    siblings: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for message in messages:
        siblings.setdefault(message.parent_id, []).append(message.id)
    return {
        message_id: f" · versión {number} de {len(group)}"
        for group in siblings.values()
        if len(group) > 1
        for number, message_id in enumerate(group, start=1)
    }


def _depth_first(messages: Sequence[Message]) -> list[Message]:
    """Every version followed by what was asked below it, so each branch reads in order."""
    children: dict[uuid.UUID | None, list[Message]] = {}
    for message in messages:
        children.setdefault(message.parent_id, []).append(message)
    known = {m.id for m in messages}
    ordered: list[Message] = []
    stack = [m for m in reversed(messages) if m.parent_id is None or m.parent_id not in known]
    while stack:
        message = stack.pop()
        ordered.append(message)
        stack.extend(reversed(children.get(message.id, [])))
    return ordered


def to_markdown(
    conversation: Conversation, messages: Sequence[Message], scope: ExportScope = "branch"
) -> str:
    """The conversation as Markdown; with ``scope`` "tree" every version, each followed by the
    branch that grows from it."""
    what = "todas las versiones" if scope == "tree" else "rama actual"
    lines = [
        f"# {conversation.title}",
        "",
        f"_Creada el {_stamp(conversation.created_at)} · exportada el {_stamp(utcnow())} "
        f"(hora de Chile) · {len(messages)} mensajes · {what}_",
        "",
    ]
    lines += _instructions_markdown(conversation)
    notes = _version_notes(messages)
    for message in _depth_first(messages) if scope == "tree" else messages:
        heading = ROLE_LABELS.get(message.role, message.role)
        if message.role == "assistant" and message.model:
            heading += f" ({message.model})"
        note = STATUS_NOTES.get(message.status)
        if message.status == "stopped" and message.error_code == STOPPED_BY_ADMIN:
            note = "respuesta detenida por un administrador"  # from "Estado"
        suffix = notes.get(message.id, "") + (f" · {note}" if note else "")
        content = as_markdown(message.content) if message.role == "user" else message.content
        body = closed_fences(content)
        lines += [f"## {heading} · {_stamp(message.created_at)}{suffix}", "", body, ""]
    return "\n".join(lines)


def _instructions_markdown(conversation: Conversation) -> list[str]:
    """The custom instructions the conversation keeps, as a quote (the model read them)."""
    kept = instructions_service.of_conversation(conversation)
    if kept is None:
        return []
    lines = ["> **Instrucciones personalizadas** (vigentes al crear la conversación)"]
    for label, value in (
        (instructions_service.ABOUT_LABEL, kept.about_user),
        (instructions_service.STYLE_LABEL, kept.response_style),
    ):
        if value:
            lines += [
                ">",
                f"> _{label}_",
                ">",
                *(f"> {line}".rstrip() for line in value.split("\n")),
            ]
    return [*lines, ""]


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def closed_fences(text: str) -> str:
    """``text`` with a code block it leaves open closed: an answer stopped or cut off in the
    middle of its code would otherwise turn every message after it into code."""
    opened: str | None = None
    for line in text.splitlines():
        fence = _FENCE.match(line)
        if fence is None:
            continue
        marks = fence.group(1)
        if opened is None:
            # An info string after backticks holds none (CommonMark): ```a``` is inline code.
            if marks[0] != "`" or "`" not in line[fence.end() :]:
                opened = marks
        elif marks[0] == opened[0] and len(marks) >= len(opened) and not line.strip(marks[0] + " "):
            opened = None
    return text if opened is None else f"{text}\n{opened}"


def to_json(
    conversation: Conversation,
    messages: Sequence[Message],
    scope: ExportScope = "branch",
    ratings: Mapping[uuid.UUID, Rating] | None = None,
    folder: str | None = None,
) -> str:
    """The conversation as JSON, each answer with the owner's rating in ``ratings`` (by
    message id), and the name of its ``folder``; times are ISO 8601 with Chile's offset."""
    rated = ratings or {}
    document = ConversationExport(
        exported_at=utcnow().astimezone(EXPORT_TIMEZONE),
        scope=scope,
        current_leaf_id=conversation.current_leaf_id,
        conversation=ConversationOut.model_validate(conversation),
        custom_instructions=snapshot_out(instructions_service.of_conversation(conversation)),
        folder=folder,
        messages=[_exported(m, rated.get(m.id)) for m in messages],
    )
    return _in_chile(document).model_dump_json(indent=2)


def _exported(message: Message, rating: Rating | None) -> ExportedMessageOut:
    out = ExportedMessageOut.model_validate(message)
    if rating is not None:
        out.feedback = FeedbackOut(
            rating=rating.rating,
            comment=rating.comment,
            updated_at=rating.updated_at.astimezone(EXPORT_TIMEZONE),
        )
    return out


def _in_chile(document: ConversationExport) -> ConversationExport:
    local = EXPORT_TIMEZONE
    conversation = document.conversation.model_copy(
        update={
            "created_at": document.conversation.created_at.astimezone(local),
            "updated_at": document.conversation.updated_at.astimezone(local),
        }
    )
    messages = [
        m.model_copy(update={"created_at": m.created_at.astimezone(local)})
        for m in document.messages
    ]
    return document.model_copy(update={"conversation": conversation, "messages": messages})


def ascii_slug(text: str, limit: int = 80) -> str:
    """``text`` as a lower-case ASCII file name stem (accents dropped, other signs to ``-``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", folded).strip("-").lower()[:limit].strip("-")


def content_disposition(conversation: Conversation, extension: str) -> str:
    """``attachment`` with an ASCII file name and the exact UTF-8 one (RFC 6266 / 5987)."""
    stem = f"conversacion-{conversation.title}"
    ascii_stem = ascii_slug(stem) or "conversacion"
    utf8_stem = re.sub(r'[\\/:*?"<>|\s]+', "-", stem).strip("-")[:120]
    return (
        f'attachment; filename="{ascii_stem}.{extension}"; '
        f"filename*=UTF-8''{quote(utf8_stem)}.{extension}"
    )
