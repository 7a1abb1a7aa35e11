"""What crosses the API for conversations and messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from energyapp.core import text
from energyapp.feedback.schemas import FeedbackOut
from energyapp.instructions.schemas import InstructionsSnapshotOut

TITLE_MAX = 200


def clean_title(value: str) -> str:
    """1 to 200 characters after trimming, and the name rule of :mod:`energyapp.core.text` (no
    control or invisible characters: they break the sidebar and the exported file names)."""
    title = text.nfc(value).strip()
    if not title:
        raise ValueError("el título no puede estar vacío")
    if len(title) > TITLE_MAX:
        raise ValueError(f"el título admite como máximo {TITLE_MAX} caracteres")
    return text.check_visible(title, "el título")


Title = Annotated[str, AfterValidator(clean_title)]


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    temporary: StrictBool = Field(
        default=False,
        description="Un chat temporal: no aparece en el historial y se borra "
        "temporary_chat_hours después del último mensaje.",
    )


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    pinned: StrictBool | None = None
    archived: StrictBool | None = None
    folder_id: uuid.UUID | None = Field(
        default=None,
        description="Mueve la conversación a una de sus carpetas; null: sin carpeta. Una "
        "carpeta que no es suya: 404 folder_not_found.",
    )
    temporary: StrictBool | None = Field(
        default=None,
        description="false guarda un chat temporal en el historial; true solo vale al crear "
        "la conversación (409 temporary_only_at_creation).",
    )


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    title_source: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    pinned: bool
    archived: bool
    folder_id: uuid.UUID | None = Field(description="Su carpeta (GET /folders); null: ninguna.")
    # A temporary chat: not listed, deleted temporary_chat_hours after its last message.
    temporary: bool


class ConversationListItem(ConversationOut):
    """A conversation of the sidebar: ``running`` while one of its answers is being generated."""

    running: bool


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    # The message this one follows (null for a first message): messages form a tree.
    parent_id: uuid.UUID | None
    role: str
    content: str
    status: str
    # Why an answer failed (``llm_unavailable``, ``model_missing``, ``llm_error``,
    # ``app_shutdown``, ``app_restarted``, ``internal_error``; docs/chat.md), null otherwise: the
    # UI explains it in Spanish when the conversation is opened again.
    error_code: str | None
    # A complete answer's end: "stop", or "length" when the length cap cut it (the UI says so
    # and offers "Continuar", docs/chat.md); null for the others and for older answers.
    finish_reason: str | None
    model: str | None
    created_at: datetime
    prompt_tokens: int | None
    completion_tokens: int | None
    # From the request to the end of the answer, and to its first token (milliseconds); the
    # UI shows the speed as completion_tokens over the time between the two.
    duration_ms: int | None
    first_token_ms: int | None


class BranchMessageOut(MessageOut):
    """A message of the conversation's current branch, with its versions."""

    sibling_ids: list[uuid.UUID] = Field(
        description="Las versiones de este mensaje (él incluido), de la más antigua a la más "
        "nueva: otras preguntas editadas o respuestas regeneradas en el mismo punto."
    )


class OwnMessageOut(BranchMessageOut):
    """A message of one's own conversation, with one's rating of it."""

    feedback: FeedbackOut | None = Field(
        description="Su valoración de esta respuesta (null: ninguna, o es una pregunta)."
    )
    yours: bool = Field(
        description="Escrito para usted; false: para quien tenía esta conversación antes de que "
        "se la reasignaran (una respuesta suya cortada no se continúa)."
    )


class ExportedMessageOut(MessageOut):
    """A message in the JSON export, with the owner's rating of it (null: none)."""

    feedback: FeedbackOut | None = None


class BranchSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: uuid.UUID = Field(
        description="La versión a mostrar; la rama sigue hasta su respuesta más reciente."
    )


class ConversationExport(BaseModel):
    """The JSON export: the conversation and its messages (the current branch or every
    version), oldest first; ``parent_id`` links them into the tree."""

    format: Literal["energyapp.conversation.v2"] = "energyapp.conversation.v2"
    scope: Literal["branch", "tree"]
    # The last message of the branch shown in the app (null without messages).
    current_leaf_id: uuid.UUID | None
    exported_at: datetime
    conversation: ConversationOut
    # The owner's custom instructions the conversation keeps from its creation (the model read
    # them at every turn); null: none.
    custom_instructions: InstructionsSnapshotOut | None = None
    # The name of the owner's folder holding it; null: none.
    folder: str | None = None
    messages: list[ExportedMessageOut]


class ExpiringConversation(BaseModel):
    id: uuid.UUID
    title: str
    deleted_from: datetime = Field(description="From this moment the retention run deletes it")


class RetentionNotice(BaseModel):
    """The caller's retention policy (``null``: kept forever) and what it deletes soon."""

    retention_days: int | None
    warning_days: int
    expiring_count: int
    expiring: list[ExpiringConversation]
