"""Temporary chats ("Chat temporal"): a conversation its owner does not want kept.

Chosen when the conversation is created (``temporary``), it is left out of its owner's list,
search and ZIP export, gets no title from the model, cannot be shared, pinned or archived, and
lives ``temporary_chat_hours`` after its last message (``updated_at``, which only a new message
moves): from then on its owner reads it as missing (404) and the retention run deletes it,
unless it is on legal hold. Admins and supervisors see it in their views while it exists.
Saving it ("Guardar en el historial", ``PATCH {"temporary": false}``) makes it an ordinary
conversation for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_

from energyapp.config import Settings
from energyapp.conversations.models import CONVERSATIONS, Conversation
from energyapp.db import utcnow
from energyapp.errors import Conflict


def cutoff(settings: Settings, now: datetime | None = None) -> datetime:
    """The moment before which a temporary chat's last message makes it expired."""
    return (now or utcnow()) - timedelta(hours=settings.temporary_chat_hours)


def expired_condition(before: datetime) -> ColumnElement[bool]:
    """Rows of ``conversations`` that are temporary chats past their life (hold or not)."""
    c = CONVERSATIONS.c
    return and_(c.temporary.is_(True), c.updated_at < before)


def alive_condition(settings: Settings) -> ColumnElement[bool]:
    """Rows of ``conversations`` their owner may still reach by id: not a temporary chat past
    its life now."""
    return ~expired_condition(cutoff(settings))


def check_change(
    conversation: Conversation,
    *,
    temporary: bool | None,
    pinned: bool | None,
    archived: bool | None,
    filed: bool = False,
) -> None:
    """409 for what a temporary chat does not take: becoming temporary once it exists
    (``temporary_only_at_creation``), and pinning, archiving or filing in a folder (``filed``)
    while temporary (``conversation_temporary``: save it first; a folder would list what the
    sidebar hides). Unpinning, unarchiving or taking it out of a folder is harmless."""
    if temporary and not conversation.temporary:
        raise only_at_creation()
    if conversation.temporary and temporary is not False and (pinned or archived or filed):
        raise refused("fijar, archivar ni mover a una carpeta")


def only_at_creation() -> Conflict:
    """409 ``temporary_only_at_creation``: an existing conversation cannot become temporary."""
    return Conflict(
        "Una conversación solo puede ser temporal desde su creación: inicie un chat temporal "
        "nuevo.",
        code="temporary_only_at_creation",
    )


def refused(what: str) -> Conflict:
    """409 ``conversation_temporary``: ``what`` is not done to a temporary chat."""
    return Conflict(
        f"Un chat temporal no se puede {what}. Use «Guardar en el historial» primero.",
        code="conversation_temporary",
    )


def not_reassigned() -> Conflict:
    """409 ``conversation_temporary`` for a reassignment: the owner chose not to keep it, and a
    new owner would neither see it in the list nor keep it past its life (a hold keeps it for
    the record, not for someone to continue)."""
    return Conflict(
        "Un chat temporal no se puede reasignar: su dueño no lo guardó en el historial y se "
        "borrará después de su último mensaje.",
        code="conversation_temporary",
    )
