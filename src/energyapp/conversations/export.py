"""Rendering a conversation as a downloadable document (Markdown or JSON)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from energyapp.conversations.models import Conversation, Message
from energyapp.conversations.schemas import ConversationExport, ConversationOut, MessageOut
from energyapp.db import utcnow

ROLE_LABELS = {"user": "Usuario", "assistant": "Asistente", "system": "Sistema"}
STATUS_NOTES = {
    "stopped": "respuesta detenida",
    "interrupted": "respuesta interrumpida",
    "error": "respuesta con error",
    "streaming": "respuesta en curso",
}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def to_markdown(conversation: Conversation, messages: Sequence[Message]) -> str:
    lines = [
        f"# {conversation.title}",
        "",
        f"_Creada el {_stamp(conversation.created_at)} · exportada el {_stamp(utcnow())} · "
        f"{len(messages)} mensajes_",
        "",
    ]
    for message in messages:
        heading = ROLE_LABELS.get(message.role, message.role)
        if message.role == "assistant" and message.model:
            heading += f" ({message.model})"
        note = STATUS_NOTES.get(message.status)
        suffix = f" · {note}" if note else ""
        lines += [f"## {heading} · {_stamp(message.created_at)}{suffix}", "", message.content, ""]
    return "\n".join(lines)


def to_json(conversation: Conversation, messages: Sequence[Message]) -> str:
    document = ConversationExport(
        exported_at=utcnow(),
        conversation=ConversationOut.model_validate(conversation),
        messages=[MessageOut.model_validate(m) for m in messages],
    )
    return document.model_dump_json(indent=2)


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
