"""HTTP routes of the caller's own conversations."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from energyapp.auth.deps import CurrentUser
from energyapp.chat.deps import ChatEngineDep
from energyapp.conversations import export, export_zip, retention, service, tree
from energyapp.conversations.deps import OwnedConversation
from energyapp.conversations.schemas import (
    BranchSwitch,
    ConversationCreate,
    ConversationListItem,
    ConversationOut,
    ConversationUpdate,
    ExpiringConversation,
    OwnMessageOut,
    RetentionNotice,
)
from energyapp.core import search
from energyapp.core.deps import RateLimiterDep, SettingsDep
from energyapp.core.head import is_head
from energyapp.core.pagination import Item, Page, PageDep
from energyapp.db import SessionDep
from energyapp.feedback import service as feedback_service
from energyapp.folders import service as folders_service

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
    limiter: RateLimiterDep,
    settings: SettingsDep,
    q: SearchQuery = None,
    archived: bool = False,
    folder_id: Annotated[
        uuid.UUID | None,
        Query(description="Solo las conversaciones de esta carpeta suya (GET /folders)."),
    ] = None,
) -> dict[str, list[Item] | str | None]:
    """The caller's conversations: pinned first, then most recently updated; ``running`` is
    true while one of its answers is being generated; ``folder_id``: one folder's only (every
    conversation otherwise, each with its ``folder_id``). A search (``q``) counts against
    ``search_rate_limit_per_minute`` (429 ``rate_limited`` beyond)."""
    query = (q or "").strip() or None
    await search.check_rate(limiter, settings, user.id, query)
    items, next_cursor = await service.list_conversations(
        session, user, page, query=query, archived=archived, folder_id=folder_id
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConversationOut)
async def create_conversation(
    body: ConversationCreate, user: CurrentUser, session: SessionDep
) -> ConversationOut:
    conversation = await service.create_conversation(
        session, user, body.title, is_temporary=body.temporary
    )
    return ConversationOut.model_validate(conversation)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
async def export_all(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    request: Request,
) -> StreamingResponse:
    """Every conversation of the caller as one ZIP of Markdown and JSON files (audited). A
    HEAD (a download manager's probe) gets the headers: nothing built, counted or audited."""
    headers = {"Content-Disposition": f'attachment; filename="{export_zip.FILENAME}"'}
    if is_head(request):
        await export_zip.check_rate(limiter, settings, user, count=False)
        return StreamingResponse(iter(()), media_type="application/zip", headers=headers)
    spool = await export_zip.export_all(session, settings, limiter, request, user)
    return StreamingResponse(
        export_zip.chunks(spool), media_type="application/zip", headers=headers
    )


@router.get("/retention", response_model=RetentionNotice)
async def retention_notice(
    user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> RetentionNotice:
    """The caller's retention policy and the conversations it will delete soon."""
    notice = await retention.notice_for(session, settings, user)
    return RetentionNotice(
        retention_days=notice.retention_days,
        warning_days=notice.warning_days,
        expiring_count=notice.expiring_count,
        expiring=[
            ExpiringConversation(id=id_, title=title, deleted_from=at)
            for id_, title, at in notice.expiring
        ],
    )


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation: OwnedConversation) -> ConversationOut:
    return ConversationOut.model_validate(conversation)


@router.patch("/{conversation_id}", response_model=ConversationOut)
async def update_conversation(
    body: ConversationUpdate, conversation: OwnedConversation, session: SessionDep
) -> ConversationOut:
    await service.update_conversation(session, conversation, body)
    await session.flush()
    return ConversationOut.model_validate(conversation)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(
    conversation: OwnedConversation,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    engine: ChatEngineDep,
) -> Response:
    """Delete a conversation; an answer it is generating stops."""
    await engine.stop_answers_in(session, conversation.id)
    await service.delete_conversation(session, conversation, actor=user, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{conversation_id}/messages", response_model=Page[OwnMessageOut])
async def list_messages(
    conversation: OwnedConversation, user: CurrentUser, session: SessionDep, page: PageDep
) -> dict[str, list[Item] | str | None]:
    """The current branch, oldest first; ``sibling_ids`` lists each message's versions,
    ``feedback`` the caller's rating of each answer, ``yours`` whether it was written for the
    caller (not for an earlier owner of a reassigned conversation)."""
    columns = service.own_message_columns(user)
    items, next_cursor = await service.list_messages(
        session, user, conversation, page, columns=columns
    )
    items = await feedback_service.with_feedback(session, user, items)
    return {"items": items, "next_cursor": next_cursor}


@router.put("/{conversation_id}/branch", status_code=status.HTTP_204_NO_CONTENT)
async def switch_branch(
    body: BranchSwitch, conversation: OwnedConversation, session: SessionDep
) -> Response:
    """Show another version of a message (‹ ›): the branch through it becomes the current one,
    down to its newest answer, and the next message continues it."""
    await tree.switch_branch(session, conversation, body.message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{conversation_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}, "application/json": {}}}},
)
async def export_conversation(
    conversation: OwnedConversation,
    session: SessionDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    format: Annotated[Literal["md", "json"], Query(description="md o json")] = "md",
    scope: Annotated[
        export.ExportScope, Query(description="branch (la rama actual) o tree (todas)")
    ] = "branch",
) -> Response:
    """The conversation as a file to download: the current branch, or every version (at most
    ``conversation_exports_per_minute`` a minute per person, 429 ``rate_limited`` beyond)."""
    await export.check_rate(limiter, settings, conversation.user_id)
    messages = await service.export_messages(session, conversation, whole_tree=scope == "tree")
    if format == "json":
        ratings = await feedback_service.ratings_of(
            session, conversation.user_id, (m.id for m in messages if m.role == "assistant")
        )
        folders = await folders_service.names_of(session, conversation.user_id)
        folder = folders.get(conversation.folder_id) if conversation.folder_id else None
        body = export.to_json(conversation, messages, scope, ratings, folder)
        media_type = "application/json"
    else:
        body, media_type = export.to_markdown(conversation, messages, scope), "text/markdown"
    return Response(
        content=body.encode(),
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": export.content_disposition(conversation, format)},
    )
