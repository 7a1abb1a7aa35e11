"""What is sent to the model: the system prompt, the history that fits, the title request."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from energyapp.config import Settings
from energyapp.core import text

# Spanish text runs at about 3.5-4 characters per token with the Qwen tokenizer; counting 3
# over-estimates on purpose so the prompt never overflows num_ctx. Each message also costs a
# few template tokens.
CHARS_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 8
TITLE_MAX_WORDS = 6
PROVISIONAL_TITLE_WORDS = 6
_TITLE_SOURCE_CHARS = 1200

# Asked as the next turn of the conversation itself (see title_follow_up).
TITLE_INSTRUCTION = (
    "Escribe un título breve para esta conversación: como máximo 6 palabras y en español. "
    "Responde solo con el título: sin comillas, sin punto final y sin explicaciones."
)
# Asked of an excerpt, when the conversation is no longer in the server's prompt cache.
TITLE_SYSTEM_PROMPT = (
    "Genera un título breve, de como máximo 6 palabras y en español, que resuma la "
    "conversación. Responde solo con el título: sin comillas, sin punto final y sin "
    "explicaciones."
)


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE


def answer_reserve(num_ctx: int) -> int:
    """Room kept free in the context for the answer itself."""
    return min(1024, num_ctx // 4)


def build_messages(
    settings: Settings, history: Sequence[tuple[str, str]], message: str
) -> list[dict[str, str]]:
    """System prompt, then as much of the history (newest first kept) as fits ``num_ctx``,
    then the new message. ``history`` is oldest first, as (role, content)."""
    system = {"role": "system", "content": settings.system_prompt}
    budget = (
        settings.num_ctx
        - answer_reserve(settings.num_ctx)
        - estimate_tokens(settings.system_prompt)
        - estimate_tokens(message)
    )
    kept: list[dict[str, str]] = []
    for role, content in reversed(history):
        cost = estimate_tokens(content)
        if cost > budget:
            break
        budget -= cost
        kept.append({"role": role, "content": content})
    kept.reverse()
    # The model expects turns to start with the user: drop a leading orphan answer.
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return [system, *kept, {"role": "user", "content": message}]


def chat_options(settings: Settings) -> dict[str, Any]:
    return {"num_ctx": settings.num_ctx, "temperature": settings.temperature}


def title_follow_up(
    settings: Settings, asked: Sequence[dict[str, str]], answer: str
) -> list[dict[str, str]] | None:
    """The title request as the next turn of the conversation: the answer's own request
    (``asked``, exactly as sent), the answer, then :data:`TITLE_INSTRUCTION`. None when that
    would not fit ``num_ctx``.

    Ollama keeps the prompt it has just evaluated (its KV cache) and reuses the longest common
    prefix of the next request. Right after the answer that prefix is the whole conversation, so
    the model only reads the instruction: about 50 tokens instead of the hundreds of an excerpt,
    which on a CPU server is the difference between well under a second and several. It matters
    twice: a user who asks while a title is being generated waits for the batch Ollama is
    evaluating (it notices the cancel between batches), and a title with a prompt of its own
    would replace the conversation in the cache, so the user's next message would make the
    model read the whole conversation again.
    """
    messages = [
        *asked,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": TITLE_INSTRUCTION},
    ]
    needed = sum(estimate_tokens(m["content"]) for m in messages) + settings.title_num_predict
    return messages if needed <= settings.num_ctx else None


def title_messages(question: str, answer: str) -> list[dict[str, str]]:
    """The title request on its own: an excerpt of the first exchange."""
    excerpt = (
        f"Pregunta: {question[:_TITLE_SOURCE_CHARS]}\n\nRespuesta: {answer[:_TITLE_SOURCE_CHARS]}"
    )
    return [
        {"role": "system", "content": TITLE_SYSTEM_PROMPT},
        {"role": "user", "content": excerpt},
    ]


_STRIP = " \t\r\n\"'«»“”‘’`*#.:;,-_"


def clean_title(raw: str) -> str | None:
    """The model's title cut to at most 6 words, without quotes, prefixes or trailing dots, nor
    the characters no label may hold (:mod:`energyapp.core.text`)."""
    line = next((ln for ln in raw.strip().splitlines() if ln.strip()), "")
    line = text.without_invisible(line)
    line = re.sub(r"^(t[ií]tulo)\s*:\s*", "", line.strip(_STRIP), flags=re.IGNORECASE)
    words = line.strip(_STRIP).split()[:TITLE_MAX_WORDS]
    return _label(" ".join(words).strip(_STRIP)) or None


def provisional_title(message: str) -> str:
    """The first words of the first message, until the model names the conversation (a label:
    what no label may hold is left out, the message itself keeps it)."""
    words = text.without_invisible(message).split()
    title = " ".join(words[:PROVISIONAL_TITLE_WORDS])
    if len(words) > PROVISIONAL_TITLE_WORDS:
        title += "…"
    return _label(title) or "Nueva conversación"


def _label(title: str) -> str:
    # Cutting at 200 may leave an emoji's joiner last, where the rule no longer allows it.
    return text.without_invisible(title[:200]).strip()
