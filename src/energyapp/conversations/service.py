"""Conversation services (the caller's own conversations)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from energyapp.audit import service as audit_service
from energyapp.auth.models import User
from energyapp.config import Settings
from energyapp.conversations import counters, legal_hold, temporary, tree
from energyapp.conversations.models import CONVERSATIONS, MESSAGES, Conversation, Message
from energyapp.conversations.schemas import (
    ConversationListItem,
    ConversationUpdate,
    MessageOut,
)
from energyapp.core import search
from energyapp.core.pagination import Item, PageRequest, fetch_page, item_columns
from energyapp.core.text import nfc
from energyapp.db import for_update
from energyapp.errors import Conflict, NotFound
from energyapp.folders import service as folders_service
from energyapp.instructions import service as instructions_service

DEFAULT_TITLE = "Nueva conversación"

CONVERSATION_CURSOR = "conversations"
MESSAGE_CURSOR = "messages"

# An answer of the conversation is being generated. Uncorrelated: the few streaming answers are
# read once through ix_messages_status (a hashed subplan), not probed per listed conversation.
RUNNING = CONVERSATIONS.c.id.in_(
    select(MESSAGES.c.conversation_id).where(MESSAGES.c.status == "streaming")
)
CONVERSATION_LIST_COLUMNS = item_columns(ConversationListItem, CONVERSATIONS, running=RUNNING)
MESSAGE_LIST_COLUMNS = item_columns(MessageOut, MESSAGES)


async def get_owned_conversation(
    session: AsyncSession, user: User, conversation_id: uuid.UUID, settings: Settings
) -> Conversation:
    """The caller's conversation, or 404 whether it is missing, someone else's or a temporary
    chat past its life (even before the retention run deletes it)."""
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.user_id == user.id,
            temporary.alive_condition(settings),
        )
    )
    if conversation is None:
        raise _conversation_not_found()
    return conversation


async def get_owned_answer(
    session: AsyncSession, user: User, answer_id: uuid.UUID, settings: Settings
) -> Message:
    """An assistant message in one of the caller's conversations, or 404 (also in a temporary
    chat past its life, as :func:`get_owned_conversation` reads it)."""
    answer = await session.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.id == answer_id,
            Message.role == "assistant",
            Conversation.user_id == user.id,
            temporary.alive_condition(settings),
        )
    )
    if answer is None:
        raise NotFound("No se encontró la respuesta.")
    return answer


def _conversation_not_found() -> NotFound:
    return NotFound("No se encontró la conversación.")


async def create_conversation(
    session: AsyncSession, user: User, title: str | None = None, *, is_temporary: bool = False
) -> Conversation:
    """Create a conversation owned by ``user`` (a temporary chat with ``is_temporary``: it never
    asks the model for a title), with the user's custom instructions in force now (kept for its
    whole life), and keep the user's counter in step."""
    conversation = Conversation(
        user_id=user.id,
        title=title or DEFAULT_TITLE,
        title_source="user" if title else "auto" if is_temporary else "pending",
        temporary=is_temporary,
        # Read by the INSERT itself; expired after the flush, as a value the database wrote.
        **instructions_service.columns_in_force(user.id),
    )
    session.add(conversation)
    await session.flush()
    await counters.conversation_created(session, user.id)
    return conversation


def search_condition(session: AsyncSession, query: str) -> ColumnElement[bool]:
    """Conversations whose title or messages match ``query`` and hold none of its excluded words
    (``-palabra``, ``-"frase"``: :func:`energyapp.core.search.split_exclusions`) in their title
    or any message. The query is brought to NFC first, as stored text is
    (:func:`energyapp.core.text.nfc`)."""
    wanted, excluded = search.split_exclusions(nfc(query))
    conditions = [~_matches(session, part) for part in excluded]
    if wanted.strip():
        conditions.insert(0, _matches(session, wanted))
    return and_(true(), *conditions)


def _matches(session: AsyncSession, query: str) -> ColumnElement[bool]:
    """Conversations whose title or any message matches ``query`` (no exclusions).

    PostgreSQL: full-text search with the Spanish configuration (stemming, stop words); the query
    accepts web-search syntax ("frase exacta", o). The stemmer stems an accented word
    and its plain spelling apart ("información" -> ``inform``, "informacion" -> ``informacion``)
    and keeps "ü" and "ñ", so the text matches as written or folded (:mod:`energyapp.core.search`):
    each way has its GIN index (migrations 0001 and 0012). SQLite: every word must appear in the
    title or in some message, ignoring case and accents (:func:`energyapp.core.search.contains`).
    """
    if session.get_bind().dialect.name == "postgresql":
        as_written = func.websearch_to_tsquery(_SPANISH, query)
        as_folded = func.websearch_to_tsquery(_SPANISH, search.fold(query))
        return or_(
            _full_text(Conversation.title, as_written, as_folded),
            _has_message(_full_text(Message.content, as_written, as_folded)),
        )
    return and_(
        true(),
        *(
            or_(
                search.contains(Conversation.title, term),
                _has_message(search.contains(Message.content, term)),
            )
            for term in search.terms(query)
        ),
    )


_SPANISH: ColumnElement[str] = literal_column("'spanish'")


def _full_text(
    column: Any, as_written: ColumnElement[Any], as_folded: ColumnElement[Any]
) -> ColumnElement[bool]:
    """``column`` matches the query as written or, both folded, as folded (the expressions of
    the full-text indexes)."""
    folded_text = search.folded(column)
    return or_(
        func.to_tsvector(_SPANISH, column).op("@@")(as_written),
        func.to_tsvector(_SPANISH, folded_text).op("@@")(as_folded),
    )


def _has_message(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Some message of the conversation meets ``condition``. Correlated: a frequent word stops
    after the page's first matches in list order (an ``IN`` over every matching message took
    40 s at 2 M messages); for a rare one PostgreSQL picks the hashed GIN lookup itself."""
    return exists().where(Message.conversation_id == Conversation.id, condition)


_CONVERSATION_ORDER = (CONVERSATIONS.c.pinned, CONVERSATIONS.c.updated_at, CONVERSATIONS.c.id)


async def list_conversations(
    session: AsyncSession,
    user: User,
    page: PageRequest,
    *,
    query: str | None = None,
    archived: bool = False,
    folder_id: uuid.UUID | None = None,
) -> tuple[list[Item], str | None]:
    """The caller's conversations (``ConversationListItem`` fields): pinned first, then most
    recently updated; never a temporary chat. Only those of one of the caller's folders with
    ``folder_id`` (404 ``folder_not_found`` for another person's), through
    ``ix_conversations_folder_list``."""
    c = CONVERSATIONS.c
    stmt = select(*CONVERSATION_LIST_COLUMNS).where(
        c.user_id == user.id, c.archived.is_(archived), c.temporary.is_(False)
    )
    if folder_id is not None:
        await folders_service.get_folder(session, user.id, folder_id)
        stmt = stmt.where(c.folder_id == folder_id)
    if query:
        stmt = stmt.where(search_condition(session, query))
    return await fetch_page(
        session,
        stmt,
        _CONVERSATION_ORDER,
        page,
        CONVERSATION_CURSOR,
        descending=True,
        viewer_id=user.id,
        context={"q": query, "archived": archived, "folder_id": folder_id},
    )


async def update_conversation(
    session: AsyncSession, conversation: Conversation, changes: ConversationUpdate
) -> Conversation:
    """Rename, pin, archive, move to one of the owner's folders (``folder_id`` sent, null:
    none), or save a temporary chat (``temporary: false``). A title set by a person is never
    replaced by the model's. 409 for what a temporary chat does not take
    (:func:`energyapp.conversations.temporary.check_change`).

    Editing does not move the conversation in the list (``updated_at`` follows messages only).
    """
    temporary.check_change(
        conversation,
        temporary=changes.temporary,
        pinned=changes.pinned,
        archived=changes.archived,
        filed=changes.folder_id is not None,
    )
    if changes.temporary is False:
        conversation.temporary = False
    if changes.title is not None:
        conversation.title = changes.title
        conversation.title_source = "user"
    if changes.pinned is not None:
        conversation.pinned = changes.pinned
    if changes.archived is not None:
        conversation.archived = changes.archived
    if "folder_id" in changes.model_fields_set:
        await _lock_owner(session, conversation)
        await folders_service.file_conversation(session, conversation, changes.folder_id)
    return conversation


async def _lock_owner(session: AsyncSession, conversation: Conversation) -> None:
    # The row locked and its owner read again: an admin's reassignment committed since the
    # request loaded it would otherwise see the new owner's conversation filed into a folder of
    # the previous one (404, as for any conversation no longer the caller's).
    owner = await session.scalar(
        for_update(select(Conversation.user_id).where(Conversation.id == conversation.id))
    )
    if owner != conversation.user_id:
        raise _conversation_not_found()


def leave_owner(conversation: Conversation, new_owner_id: uuid.UUID) -> None:
    """Give ``conversation`` to another person: it leaves its folder, which was the previous
    owner's (their folders are theirs alone). 409 ``conversation_temporary`` for a temporary
    chat (:func:`energyapp.conversations.temporary.not_reassigned`)."""
    if conversation.temporary:
        raise temporary.not_reassigned()
    conversation.user_id = new_owner_id
    conversation.folder_id = None


async def delete_conversation(
    session: AsyncSession, conversation: Conversation, *, actor: User, request: Request | None
) -> None:
    """Delete a conversation with its messages (FK cascade), keep the owner's counters in step
    and audit the deletion."""
    # DELETE ... RETURNING reads the counter under the row lock, so a message counted by a
    # concurrent chat turn is not lost from the owner's total. A conversation on legal hold
    # stays (the condition holds even against a hold placed meanwhile).
    row = (
        await session.execute(
            delete(Conversation)
            .where(Conversation.id == conversation.id, ~legal_hold.is_held_condition())
            .returning(
                Conversation.user_id,
                Conversation.message_count,
                Conversation.title,
                Conversation.temporary,
            )
        )
    ).first()
    if row is None:
        if await legal_hold.get_hold(session, conversation.id) is not None:
            raise Conflict(
                "Esta conversación está bajo retención legal y no se puede eliminar. Consulte a "
                "un administrador.",
                code="conversation_on_hold",
            )
        raise _conversation_not_found()
    owner_id, message_count, title, is_temporary = row
    await counters.conversation_deleted(session, owner_id, message_count)
    # A temporary chat's title is its first words: the trail must not keep what it was not.
    named = {"temporary": True} if is_temporary else {"title": title}
    audit_service.record(
        session,
        "conversation.deleted",
        actor_id=actor.id,
        request=request,
        target_type="conversation",
        target_id=conversation.id,
        details={"owner_id": str(owner_id), "message_count": message_count, **named},
    )
    session.expunge(conversation)


async def list_messages(
    session: AsyncSession,
    viewer: User,
    conversation: Conversation,
    page: PageRequest,
    *,
    name: str = MESSAGE_CURSOR,
    columns: tuple[ColumnElement[Any], ...] = MESSAGE_LIST_COLUMNS,
) -> tuple[list[Item], str | None]:
    """The current branch of a conversation ``viewer`` may read, oldest first, as ``columns``
    (``MessageOut`` fields unless the caller shows more) plus ``sibling_ids`` (each message's
    versions, :mod:`energyapp.conversations.tree`); the cursor is bound to the list ``name``,
    the viewer and the conversation."""
    m = MESSAGES.c
    stmt = select(*columns).where(m.conversation_id == conversation.id)
    branch_tree, branch = await tree.branch_of(session, conversation)
    if branch is not None:
        stmt = stmt.where(m.id.in_(branch))
    items, next_cursor = await fetch_page(
        session,
        stmt,
        (m.created_at, m.id),
        page,
        name,
        descending=False,
        viewer_id=viewer.id,
        context={"conversation_id": conversation.id},
    )
    return tree.with_versions(items, branch_tree), next_cursor


def own_message_columns(viewer: User) -> tuple[ColumnElement[Any], ...]:
    """``MessageOut``'s columns and ``yours``: whether a message was written for ``viewer``
    (false for an earlier owner's, in a conversation an administrator reassigned; their cut
    answer is not continued, docs/chat.md)."""
    yours = case((MESSAGES.c.user_id == viewer.id, True), else_=False).label("yours")
    return (*MESSAGE_LIST_COLUMNS, yours)


async def export_messages(
    session: AsyncSession, conversation: Conversation, *, whole_tree: bool
) -> Sequence[Message]:
    """The messages of one conversation for its export, oldest first: the current branch, or
    every version when ``whole_tree``."""
    stmt = select(Message).where(Message.conversation_id == conversation.id)
    branch = None if whole_tree else (await tree.branch_of(session, conversation))[1]
    if branch is not None:
        stmt = stmt.where(Message.id.in_(branch))
    return (await session.scalars(stmt.order_by(Message.created_at, Message.id))).all()
