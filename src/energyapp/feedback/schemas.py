"""What crosses the API for answer feedback."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from energyapp.feedback.service import MAX_COMMENT_CHARS, RatingValue


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: RatingValue = Field(description="up: buena respuesta; down: mala respuesta.")
    comment: str | None = Field(
        default=None,
        description=(
            f"Opcional, hasta {MAX_COMMENT_CHARS} caracteres tras quitar los espacios del "
            "principio y del final (más largo: 422 comment_too_long); vacío o null: sin "
            "comentario. Reemplaza el anterior; omitido: se conserva el suyo si la valoración "
            "no cambia, si cambia queda sin comentario."
        ),
    )


class FeedbackOut(BaseModel):
    """The caller's own rating of an answer."""

    rating: RatingValue
    comment: str | None
    updated_at: datetime
