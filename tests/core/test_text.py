"""``core.text.within``: the one "too long" rule and message of every free-text field."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from energyapp.announcements.service import clean_body as announcement_body
from energyapp.core.text import within
from energyapp.errors import Unprocessable
from energyapp.feedback.service import clean_comment
from energyapp.instructions.service import clean_text as instruction_text
from energyapp.prompts.service import clean_body as prompt_body
from energyapp.prompts.service import clean_title as prompt_title

pytestmark = pytest.mark.no_database


def test_within_keeps_text_up_to_the_limit_counted_in_code_points() -> None:
    assert within("ñandú", 5, "El texto", "too_long") == "ñandú"
    assert within("", 5, "El texto", "too_long") == ""


def test_within_refuses_past_the_limit_saying_how_long_it_is() -> None:
    with pytest.raises(Unprocessable) as caught:
        within("abcdef", 5, "El texto", "too_long", why=", lo mismo que un mensaje")
    assert caught.value.code == "too_long"
    assert caught.value.detail == (
        "El texto admite como máximo 5 caracteres, lo mismo que un mensaje; tiene 6. "
        "Acórtelo e intente de nuevo."
    )


@pytest.mark.parametrize(
    ("clean", "most", "code", "subject"),
    [
        (clean_comment, 1000, "comment_too_long", "El comentario"),
        (
            lambda raw: instruction_text(raw, "Sobre usted"),
            1000,
            "instructions_too_long",
            "«Sobre usted»",
        ),
        (announcement_body, 500, "announcement_too_long", "El aviso"),
        (prompt_title, 80, "prompt_title_invalid", "El título"),
        (lambda raw: prompt_body(raw, 300), 300, "prompt_body_too_long", "El texto"),
    ],
)
def test_every_free_text_field_gives_the_same_message(
    clean: Callable[[str], object], most: int, code: str, subject: str
) -> None:
    clean("x" * most)  # the limit itself is accepted
    with pytest.raises(Unprocessable) as caught:
        clean("x" * (most + 1))
    assert caught.value.code == code
    assert caught.value.detail.startswith(f"{subject} admite como máximo {most} caracteres")
    assert caught.value.detail.endswith(f"tiene {most + 1}. Acórtelo e intente de nuevo.")
