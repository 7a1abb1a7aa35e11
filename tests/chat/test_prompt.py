"""What is sent to the model: trimming to num_ctx, titles."""

from __future__ import annotations

from energyapp.chat import prompt
from energyapp.config import Settings
from energyapp.core import tokens
from energyapp.instructions.service import Instructions
from tests.conftest import make_settings


def _settings(db_url: str, **overrides: object) -> Settings:
    return make_settings(db_url, **overrides)


def test_history_is_trimmed_from_the_oldest(db_url: str) -> None:
    settings = _settings(db_url, num_ctx=512, system_prompt="Sistema.")
    history = []
    for i in range(40):
        history.append(("user", f"pregunta {i} " + "x" * 60))
        history.append(("assistant", f"respuesta {i} " + "y" * 60))
    messages = prompt.build_messages(settings, history, "¿Y ahora?")
    assert messages[0] == {"role": "system", "content": "Sistema."}
    assert messages[-1] == {"role": "user", "content": "¿Y ahora?"}
    kept = messages[1:-1]
    assert 0 < len(kept) < 80
    assert kept[0]["role"] == "user"  # turns start with the user
    assert kept[-1]["content"].startswith("respuesta 39")  # the newest are kept
    used = sum(tokens.estimate_tokens(m["content"]) for m in messages)
    assert used <= settings.num_ctx - tokens.answer_reserve(settings.num_ctx)


def _conversation(turns: int) -> list[tuple[str, str]]:
    history = []
    for i in range(turns):
        history.append(("user", f"pregunta {i} " + "x" * 60))
        history.append(("assistant", f"respuesta {i} " + "y" * 60))
    return history


def test_history_is_trimmed_in_blocks_so_the_prefix_stays_the_same(db_url: str) -> None:
    """Once a conversation outgrows num_ctx, dropping only what no longer fits would change
    the prompt's start at every turn (and the model would read it all again); cut in blocks,
    the same start serves many turns in a row, and every prompt still fits."""
    settings = _settings(db_url, num_ctx=1024, system_prompt="Sistema.")
    starts = []
    for turns in range(1, 60):
        messages = prompt.build_messages(settings, _conversation(turns), "¿Y ahora?")
        used = sum(tokens.estimate_tokens(m["content"]) for m in messages)
        assert used <= settings.num_ctx - tokens.answer_reserve(settings.num_ctx)
        assert messages[1]["role"] == "user"
        starts.append(messages[1]["content"])
    changes = sum(1 for a, b in zip(starts, starts[1:], strict=False) if a != b)
    trimmed_turns = sum(1 for s in starts if not s.startswith("pregunta 0 "))
    assert trimmed_turns > 30  # the conversation did outgrow the context
    assert changes <= trimmed_turns // 4, starts  # each start kept for several turns
    # Taken one message at a time, the start would move at nearly every turn.
    assert prompt.kept_from(["user", "assistant"] * 3, [10] * 6, 30, block=1) == 4


def test_kept_from_cuts_at_block_starts_and_falls_back_for_a_huge_exchange() -> None:
    roles = ["user", "assistant"] * 4
    # Block starts at 0 and at the first user turn at or past 40 tokens (index 4).
    assert prompt.kept_from(roles, [10] * 8, 80, block=40) == 0
    assert prompt.kept_from(roles, [10] * 8, 70, block=40) == 4  # not 2: the next block
    assert prompt.kept_from(roles, [10] * 8, 10, block=40) == 8  # nothing fits: no history
    # The last exchange alone is bigger than a block: cut where it fits.
    assert prompt.kept_from(roles, [10, 10, 10, 10, 10, 10, 30, 30], 65, block=40) == 6


def test_custom_instructions_lengthen_the_system_message_and_the_trimming_counts_them(
    db_url: str,
) -> None:
    """The system message carries the conversation's instructions in a delimited block, and
    the history kept is what fits beside that longer message."""
    settings = _settings(db_url, num_ctx=2048, system_prompt="Sistema.")
    history = _conversation(30)
    instructions = Instructions("a" * 1000, "b" * 1000)  # the most a person may write
    plain = prompt.build_messages(settings, history, "¿Y ahora?")
    messages = prompt.build_messages(settings, history, "¿Y ahora?", instructions)
    system = messages[0]["content"]
    assert system == "\n".join(
        [
            "Sistema.",
            "",
            prompt.INSTRUCTIONS_OPEN,
            prompt.ABOUT_HEADING,
            "a" * 1000,
            prompt.STYLE_HEADING,
            "b" * 1000,
            prompt.INSTRUCTIONS_CLOSE,
        ]
    )
    used = sum(tokens.estimate_tokens(m["content"]) for m in messages)
    assert used <= settings.num_ctx - tokens.answer_reserve(settings.num_ctx)
    assert 2 < len(messages) < len(plain)  # less history beside the longer system message
    assert messages[1]["role"] == "user" and messages[-2]["content"].startswith("respuesta 29")
    only_style = prompt.system_content(settings, Instructions("", "Breve."))
    assert prompt.ABOUT_HEADING not in only_style and only_style.endswith(
        f"{prompt.STYLE_HEADING}\nBreve.\n{prompt.INSTRUCTIONS_CLOSE}"
    )
    assert prompt.system_content(settings, None) == "Sistema."


def test_everything_fits_when_short(db_url: str) -> None:
    settings = _settings(db_url)
    history = [("user", "hola"), ("assistant", "¿en qué ayudo?")]
    messages = prompt.build_messages(settings, history, "gracias")
    assert [m["content"] for m in messages[1:]] == ["hola", "¿en qué ayudo?", "gracias"]
    assert prompt.chat_options(settings) == {"num_ctx": 4096, "temperature": 0.7}


def test_a_title_is_asked_as_the_next_turn_of_the_same_conversation(db_url: str) -> None:
    """The answer's request is a prefix of the title's, message for message, so Ollama's prompt
    cache covers everything but the instruction."""
    settings = _settings(db_url, system_prompt="Sistema.")
    asked = prompt.build_messages(settings, [], "¿Cuánto consume la planta?")
    messages = prompt.title_follow_up(settings, asked, "Unos 40 MWh al mes.")
    assert messages is not None
    assert messages[: len(asked)] == asked
    assert messages[len(asked) :] == [
        {"role": "assistant", "content": "Unos 40 MWh al mes."},
        {"role": "user", "content": prompt.TITLE_INSTRUCTION},
    ]


def test_a_title_that_would_not_fit_the_context_is_not_a_follow_up(db_url: str) -> None:
    settings = _settings(db_url, num_ctx=512, system_prompt="Sistema.")
    asked = prompt.build_messages(settings, [], "pregunta")
    assert prompt.title_follow_up(settings, asked, "y" * 600) is not None
    assert prompt.title_follow_up(settings, asked, "y" * 1500) is None


def test_titles_are_cleaned_and_cut_to_six_words() -> None:
    assert prompt.clean_title('"Título: Medición de la potencia activa."') == (
        "Medición de la potencia activa"
    )
    assert prompt.clean_title("«Uno dos tres cuatro cinco seis siete ocho»") == (
        "Uno dos tres cuatro cinco seis"
    )
    assert prompt.clean_title("\n\n  **Consumo eléctrico**\nexplicación extra") == (
        "Consumo eléctrico"
    )
    assert prompt.clean_title('  ""  ') is None


def test_provisional_title_is_the_first_words() -> None:
    assert prompt.provisional_title("Hola") == "Hola"
    assert prompt.provisional_title("uno dos tres cuatro cinco seis siete") == (
        "uno dos tres cuatro cinco seis…"
    )


def test_provisional_title_leaves_attached_files_out() -> None:
    attached = '\n\n<archivo nombre="informe.pdf">\nConsumo total 420 kWh\n</archivo>'
    assert prompt.provisional_title("Resuma el informe" + attached) == "Resuma el informe"
    # Nothing written (the API allows it; the web UI always writes a line): the file's name.
    assert prompt.provisional_title(attached.lstrip()) == "informe.pdf"
    # A question that only mentions the tag in its text is taken as written.
    assert prompt.provisional_title("¿Qué es <archivo>?") == "¿Qué es <archivo>?"
