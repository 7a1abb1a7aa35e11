"""What crosses the API about a person's own usage."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class MyUsageOut(BaseModel):
    quota: int | None = Field(
        description="Tokens por día que permite su rol (daily_token_quota); null: sin cuota."
    )
    used_today: int = Field(
        description="Tokens (pregunta y respuesta) usados hoy, en la web y en la API, desde la "
        "medianoche de Chile; borrar conversaciones no los devuelve."
    )
    remaining: int | None = Field(description="Lo que queda hoy (nunca negativo); null: sin cuota.")
    resets_at: datetime = Field(description="Cuándo empieza el día siguiente de la cuota.")
