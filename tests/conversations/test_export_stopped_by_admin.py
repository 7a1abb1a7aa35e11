"""An answer an admin stopped from "Estado" says so in the Markdown export (its chat shows
"Un administrador detuvo esta respuesta."), a person's own stop says "respuesta detenida"."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any, cast

import pytest

from energyapp.conversations.export import to_markdown

pytestmark = pytest.mark.no_database


def _answer(error_code: str | None) -> Any:
    return SimpleNamespace(
        id=uuid.uuid4(),
        parent_id=None,
        role="assistant",
        model=None,
        status="stopped",
        error_code=error_code,
        content="Lo escrito",
        created_at=dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC),
    )


@pytest.mark.parametrize(
    ("code", "note"),
    [("stopped_by_admin", "respuesta detenida por un administrador"), (None, "respuesta detenida")],
)
def test_the_export_says_who_stopped_an_answer(code: str | None, note: str) -> None:
    conversation = SimpleNamespace(
        title="T",
        created_at=dt.datetime(2026, 12, 6, tzinfo=dt.UTC),
        instructions_about_user=None,
        instructions_response_style=None,
    )
    text = to_markdown(cast(Any, conversation), [_answer(code)])
    (heading,) = [line for line in text.splitlines() if line.startswith("## Asistente")]
    assert heading.endswith(f" · {note}")
