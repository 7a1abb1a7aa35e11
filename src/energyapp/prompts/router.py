"""HTTP routes of saved prompts: the caller's own (``/prompts``) and, for admins, the ones
published for everyone (``/admin/prompts``, audited; supervisors and workers get 403)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status

from energyapp.auth.deps import AdminUser, CurrentUser, require_roles
from energyapp.core.deps import SettingsDep
from energyapp.core.roles import Role
from energyapp.db import SessionDep
from energyapp.prompts import service
from energyapp.prompts.deps import OwnedPrompt, PublishedPrompt
from energyapp.prompts.models import SavedPrompt
from energyapp.prompts.schemas import PromptCreate, PromptOut, PromptUpdate

router = APIRouter(prefix="/prompts", tags=["prompts"])
admin_router = APIRouter(
    prefix="/admin/prompts", tags=["admin"], dependencies=[Depends(require_roles(Role.ADMIN))]
)


def _out(row: SavedPrompt) -> PromptOut:
    return PromptOut.model_validate(service.view(row))


@router.get("", response_model=list[PromptOut])
async def list_prompts(user: CurrentUser, session: SessionDep) -> list[service.PromptView]:
    """The caller's own prompts, then the published ones, each part by title."""
    return await service.visible_to(session, user)


@router.post("", response_model=PromptOut, status_code=status.HTTP_201_CREATED)
async def create_prompt(
    body: PromptCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> PromptOut:
    """Save a prompt of one's own (at most 100: 409 prompt_limit)."""
    row = await service.create(
        session, settings, user, title=body.title, body=body.body, publish=False
    )
    return _out(row)


@router.patch("/{prompt_id}", response_model=PromptOut)
async def update_prompt(
    body: PromptUpdate,
    prompt: OwnedPrompt,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> PromptOut:
    """Change one's own prompt (404 for another person's or a published one)."""
    await service.update(session, settings, user, prompt, title=body.title, body=body.body)
    return _out(prompt)


@router.delete("/{prompt_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_prompt(prompt: OwnedPrompt, session: SessionDep) -> Response:
    """Delete one's own prompt."""
    await service.delete(session, prompt)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.get("", response_model=list[PromptOut])
async def list_published(admin: AdminUser, session: SessionDep) -> list[service.PromptView]:
    """The published prompts by title."""
    return await service.published(session)


@admin_router.post("", response_model=PromptOut, status_code=status.HTTP_201_CREATED)
async def publish_prompt(
    body: PromptCreate,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> PromptOut:
    """Publish a prompt for everyone (at most 100 published); audited."""
    row = await service.create(
        session, settings, admin, title=body.title, body=body.body, publish=True
    )
    service.audit_published(session, "prompt.published", admin, row, request)
    return _out(row)


@admin_router.patch("/{prompt_id}", response_model=PromptOut)
async def update_published(
    body: PromptUpdate,
    prompt: PublishedPrompt,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> PromptOut:
    """Change a published prompt; audited."""
    if await service.update(session, settings, admin, prompt, title=body.title, body=body.body):
        service.audit_published(session, "prompt.updated", admin, prompt, request)
    return _out(prompt)


@admin_router.delete("/{prompt_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_published(
    prompt: PublishedPrompt, admin: AdminUser, session: SessionDep, request: Request
) -> Response:
    """Stop publishing a prompt (it is deleted); audited."""
    service.audit_published(session, "prompt.unpublished", admin, prompt, request)
    await service.delete(session, prompt)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
