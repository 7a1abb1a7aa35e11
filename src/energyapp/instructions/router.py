"""HTTP routes of the caller's own custom instructions (nobody else's: not even an admin's)."""

from __future__ import annotations

from fastapi import APIRouter

from energyapp.auth.deps import CurrentUser
from energyapp.db import SessionDep
from energyapp.instructions import service
from energyapp.instructions.schemas import InstructionsOut, InstructionsUpdate

router = APIRouter(prefix="/auth/me", tags=["auth"])


def _out(saved: service.SavedInstructions) -> InstructionsOut:
    return InstructionsOut(
        about_user=saved.about_user,
        response_style=saved.response_style,
        enabled=saved.enabled,
        updated_at=saved.updated_at,
    )


@router.get("/instructions")
async def get_instructions(user: CurrentUser, session: SessionDep) -> InstructionsOut:
    """The caller's custom instructions (empty and enabled when never saved)."""
    return _out(await service.get_own(session, user))


@router.put("/instructions")
async def save_instructions(
    body: InstructionsUpdate, user: CurrentUser, session: SessionDep
) -> InstructionsOut:
    """Replace the caller's custom instructions. They apply to the conversations created from
    now on; each conversation keeps the ones in force when it was created."""
    saved = await service.save_own(
        session,
        user,
        about_user=body.about_user,
        response_style=body.response_style,
        enabled=body.enabled,
    )
    return _out(saved)
