"""What crosses the chat API."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from energyapp.conversations.models import MessageStatus


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(
        default="", description="El mensaje del usuario (no vacío, salvo al regenerar)."
    )
    conversation_id: uuid.UUID | None = Field(
        default=None, description="Conversación existente; sin ella se crea una nueva."
    )
    parent_message_id: uuid.UUID | None = Field(
        default=None,
        description="Responder como hijo de este mensaje (una respuesta, o con regenerate la "
        "pregunta); el UUID nulo crea un primer mensaje nuevo. Sin él, el mensaje sigue la rama "
        "actual.",
    )
    regenerate: StrictBool = Field(
        default=False,
        description="Una respuesta nueva a la pregunta parent_message_id (message va vacío).",
    )
    model: str | None = Field(default=None, max_length=200, description="Modelo de Ollama.")
    temporary: StrictBool = Field(
        default=False,
        description="Solo sin conversation_id: la conversación nueva es un chat temporal (no "
        "aparece en el historial y se borra temporary_chat_hours después del último mensaje).",
    )
    continue_message_id: uuid.UUID | None = Field(
        default=None,
        description="Continuar esta respuesta, cortada por el largo máximo (finish_reason "
        '"length"): el texto nuevo se agrega a la misma respuesta. Va solo con conversation_id.',
    )


class ModelOut(BaseModel):
    name: str
    default: bool
    size: int
    family: str | None
    parameter_size: str | None
    quantization_level: str | None
    stand_in: bool = Field(
        description="Servido por el Ollama de reemplazo del proyecto (respuestas sintéticas de "
        "prueba), no por un modelo real."
    )


class ModelsOut(BaseModel):
    default_model: str
    models: list[ModelOut]


class StopOut(BaseModel):
    assistant_message_id: uuid.UUID
    status: MessageStatus


class MessageLimitOut(BaseModel):
    max_message_chars: int = Field(
        description="Caracteres que admite una pregunta en esa conversación (o en una nueva)."
    )
