"""What crosses the API for custom instructions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from energyapp.instructions.service import ABOUT_LABEL, MAX_CHARS, STYLE_LABEL, Instructions

_LIMIT = (
    f"Hasta {MAX_CHARS} caracteres tras quitar los espacios del principio y del final; los "
    "caracteres de control se quitan (salvo el salto de línea). Más largo: 422 "
    "instructions_too_long."
)


class InstructionsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    about_user: str = Field(description=f"{ABOUT_LABEL} {_LIMIT}")
    response_style: str = Field(description=f"{STYLE_LABEL} {_LIMIT}")
    enabled: StrictBool = Field(description="Aplicarlas a las conversaciones nuevas.")


class InstructionsOut(BaseModel):
    about_user: str
    response_style: str
    enabled: bool
    max_chars: int = Field(default=MAX_CHARS, description="El máximo de cada texto.")
    updated_at: datetime | None = Field(description="Null: nunca guardadas.")


class InstructionsSnapshotOut(BaseModel):
    """The custom instructions a conversation keeps from its creation (docs/chat.md)."""

    about_user: str = Field(description=ABOUT_LABEL)
    response_style: str = Field(description=STYLE_LABEL)


def snapshot_out(kept: Instructions | None) -> InstructionsSnapshotOut | None:
    """A conversation's copy of the instructions as the API shows it."""
    if kept is None:
        return None
    return InstructionsSnapshotOut(about_user=kept.about_user, response_style=kept.response_style)


class ConversationInstructionsOut(BaseModel):
    """Null: the conversation was created without custom instructions."""

    custom_instructions: InstructionsSnapshotOut | None
