"""What crosses the ``/v1`` API, in OpenAI's formats. Unknown request fields are ignored, the
way OpenAI's API ignores them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_MESSAGES = 500
MAX_STOP = 4  # sequences, as OpenAI accepts (a fifth is a 400 there too, not silently dropped)


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=40)
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text: the text parts of a multi-part content, one per line (joined
        bare, the last word of one part would run into the first of the next)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text or "" for part in self.content if part.type == "text")

    def unreadable_part(self) -> str | None:
        """The type of the first part the model cannot read (an image, audio, a file), if any;
        an assistant's ``refusal`` part is no input and is skipped."""
        if isinstance(self.content, str) or self.content is None:
            return None
        return next((p.type for p in self.content if p.type not in ("text", "refusal")), None)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=64)
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``; Ollama's ``format`` does the same (``format_for_ollama``)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def format_for_ollama(self) -> str | dict[str, Any] | None:
        """``"json"`` for JSON mode, the schema itself for structured output, None for text."""
        if self.type == "text":
            return None
        if self.type == "json_schema" and self.json_schema and self.json_schema.schema_:
            return self.json_schema.schema_
        return "json"


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    # Omitted or null: the default model; an empty name is a malformed request (400), not a
    # model that does not exist (404).
    model: str | None = Field(default=None, min_length=1, max_length=200)
    # Null is the default (false), as OpenAI's spec has these booleans nullable: a client
    # that sends every optional field, set or not, must not get a 400.
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32_768)
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP)] | None = Field(default=None)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    response_format: ResponseFormat | None = None
    # Read only to refuse what the API cannot honour (service.refuse_unsupported): ignoring
    # them would hand the client an answer that silently lacks what it asked for.
    n: int | None = Field(default=None, ge=1, le=128)
    logprobs: bool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None  # tools' deprecated predecessor
    function_call: str | dict[str, Any] | None = None
    user: str | None = Field(default=None, max_length=256)
    store: bool | None = None

    # The counts are checked before the types with a message that names the limit: the
    # parser's own would read "messages: no es válido", or for ``stop``, one line per member
    # of its union ("stop.str: debe ser texto; stop.list[str]: no es válido").
    @field_validator("messages", mode="before")
    @classmethod
    def _count_messages(cls, value: Any) -> Any:
        if isinstance(value, list) and not 1 <= len(value) <= MAX_MESSAGES:
            raise ValueError(f"debe traer entre 1 y {MAX_MESSAGES} mensajes")
        return value

    @field_validator("stop", mode="before")
    @classmethod
    def _count_stop(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > MAX_STOP:
            raise ValueError(f"admite hasta {MAX_STOP} secuencias; quite {len(value) - MAX_STOP}")
        return value

    def stop_words(self) -> list[str]:
        if self.stop is None:
            return []
        words = [self.stop] if isinstance(self.stop, str) else self.stop
        return [w[:100] for w in words]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AnswerMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AnswerMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "energyapp"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
