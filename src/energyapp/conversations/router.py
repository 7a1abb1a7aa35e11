"""HTTP routes of the caller's own conversations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from energyapp.auth.deps import CurrentUser
from energyapp.conversations import export, service
from energyapp.conversations.deps import OwnedConversation
from energyapp.conversations.schemas import (
    ConversationCreate,
    ConversationListItem,
    ConversationOut,
    ConversationUpdate,
    MessageOut,
)
from energyapp.core.pagination import Item, Page, PageDep
from energyapp.db import SessionDep

router = APIRouter(prefix="/conversations", tags=["conversations"])

SearchQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        description=(
            "Busca en títulos y mensajes (búsqueda de texto completo en español; "
            "no distingue mayúsculas ni tildes)."
        ),
    ),
]


@router.get("", response_model=Page[ConversationListItem])
async def list_conversations(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    q: SearchQuery = None,
    archived: bool = False,
) -> dict[str, list[Item] | str | None]:
    """The caller's conversations: pinned first, then most recently updated; ``running`` is
    true while one of its answers is being generated."""
    items, next_cursor = await service.list_conversations(
        session, user, page, query=(q or "").strip() or None, archived=archived
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConversationOut)
async def create_conversation(
    body: ConversationCreate, user: CurrentUser, session: SessionDep
) -> ConversationOut:
    conversation = await service.create_conversation(session, user, body.title)
    return ConversationOut.model_validate(conversation)


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation: OwnedConversation) -> ConversationOut:
    return ConversationOut.model_validate(conversation)


@router.patch("/{conversation_id}", response_model=ConversationOut)
async def update_conversation(
    body: ConversationUpdate, conversation: OwnedConversation, session: SessionDep
) -> ConversationOut:
    service.update_conversation(conversation, body)
    await session.flush()
    return ConversationOut.model_validate(conversation)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(
    conversation: OwnedConversation, user: CurrentUser, session: SessionDep, request: Request
) -> Response:
    await service.delete_conversation(session, conversation, actor=user, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{conversation_id}/messages", response_model=Page[MessageOut])
async def list_messages(
    conversation: OwnedConversation, user: CurrentUser, session: SessionDep, page: PageDep
) -> dict[str, list[Item] | str | None]:
    """Messages oldest first."""
    items, next_cursor = await service.list_messages(session, user, conversation.id, page)
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/{conversation_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}, "application/json": {}}}},
)
async def export_conversation(
    conversation: OwnedConversation,
    session: SessionDep,
    format: Annotated[Literal["md", "json"], Query(description="md o json")] = "md",
) -> Response:
    """The whole conversation as a file to download."""
    messages = await service.all_messages(session, conversation.id)
    if format == "json":
        body, media_type = export.to_json(conversation, messages), "application/json"
    else:
        body, media_type = export.to_markdown(conversation, messages), "text/markdown"
    return Response(
        content=body.encode(),
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": export.content_disposition(conversation, format)},
    )
