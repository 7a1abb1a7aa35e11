"""HTTP routes of shared links: the owner's (``/conversations/{id}/share``, ``/shares``) and
the readers' (``/shared/{token}``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from energyapp.auth.deps import CurrentUser
from energyapp.conversations.deps import OwnedConversation
from energyapp.core.deps import SettingsDep
from energyapp.core.head import is_head
from energyapp.core.pagination import Item, Page, PageDep
from energyapp.db import SessionDep
from energyapp.sharing import service
from energyapp.sharing.deps import SharedReadLimited
from energyapp.sharing.models import SharedLink
from energyapp.sharing.schemas import (
    SharedConversationOut,
    SharedCopyOut,
    SharedLinkItem,
    SharedMessageOut,
    ShareOut,
)

router = APIRouter(tags=["conversations"])

# Any text: one that cannot be a token reads as missing (404) in the service, never as a 422
# that describes the token's format.
Token = Annotated[str, Path(description="El token del enlace.")]


def _share_out(link: SharedLink, current_leaf: object) -> ShareOut:
    return ShareOut(
        token=link.token,
        path=service.link_path(link.token),
        conversation_id=link.conversation_id,
        created_at=link.created_at,
        updated_at=link.updated_at,
        view_count=link.view_count,
        up_to_date=link.leaf_message_id == current_leaf,
    )


@router.get("/conversations/{conversation_id}/share", response_model=ShareOut)
async def get_share(conversation: OwnedConversation, session: SessionDep) -> ShareOut:
    """The link of one's own conversation; 404 ``not_shared`` when it has none."""
    link = await service.get_link(session, conversation)
    return _share_out(link, conversation.current_leaf_id)


@router.put("/conversations/{conversation_id}/share", response_model=ShareOut)
async def share(
    conversation: OwnedConversation,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> ShareOut:
    """Share the branch shown now (read-only, for any signed-in account with the link), or move
    the link's snapshot to it, keeping the link. 403 ``sharing_disabled``; 409
    ``nothing_to_share`` (no messages), ``answer_in_progress`` (an answer being written)."""
    link = await service.share(session, settings, user, conversation, request=request)
    return _share_out(link, conversation.current_leaf_id)


@router.delete("/conversations/{conversation_id}/share", status_code=status.HTTP_204_NO_CONTENT)
async def unshare(
    conversation: OwnedConversation, user: CurrentUser, session: SessionDep, request: Request
) -> Response:
    """Stop sharing: the link reads as missing from now on (not shared: nothing changes)."""
    await service.unshare(session, user, conversation, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/shares", response_model=Page[SharedLinkItem])
async def list_shares(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> dict[str, list[Item] | str | None]:
    """The caller's shared links, newest first."""
    items, next_cursor = await service.list_links(session, user, page)
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/shared/{token}", response_model=SharedConversationOut, dependencies=[SharedReadLimited]
)
async def read_shared(
    token: Token, user: CurrentUser, session: SessionDep, settings: SettingsDep, request: Request
) -> SharedConversationOut:
    """A conversation shared with a link: its title, who shared it and when, and the messages
    of the branch shared, as they were then. 404 ``shared_link_not_found`` for a link unknown
    or no longer shared (at most ``shared_reads_per_minute`` a minute, 429 beyond). A HEAD (a
    link checker's probe) is no view."""
    view = await service.open_shared(session, settings, user, token, count=not is_head(request))
    return SharedConversationOut(
        title=view.title,
        shared_by=view.shared_by,
        shared_at=view.link.updated_at,
        is_owner=view.link.user_id == user.id,
        messages=[SharedMessageOut.model_validate(m, from_attributes=True) for m in view.messages],
    )


@router.post(
    "/shared/{token}/copy",
    status_code=status.HTTP_201_CREATED,
    response_model=SharedCopyOut,
    dependencies=[SharedReadLimited],
)
async def copy_shared(
    token: Token, user: CurrentUser, session: SessionDep, settings: SettingsDep, request: Request
) -> SharedCopyOut:
    """Continuar en mi cuenta: a new conversation of the caller with the shared messages, to
    go on from (nothing is generated, no usage counted)."""
    conversation = await service.copy_shared(session, settings, user, token, request=request)
    return SharedCopyOut(conversation_id=conversation.id)
