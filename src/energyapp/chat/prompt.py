"""What is sent to the model: the system prompt, the history that fits, the title request."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from energyapp.config import Settings
from energyapp.conversations import attachments
from energyapp.core import text
from energyapp.core.metrics import PROMPT_TOKENS_EVALUATED, PROMPT_TOKENS_SENT
from energyapp.core.tokens import (
    CHARS_PER_TOKEN,
    TOKENS_PER_MESSAGE,
    answer_reserve,
    estimate_tokens,
)
from energyapp.instructions.service import Instructions
from energyapp.llm import client as llm

_TURN = "<|im_start|>\n<|im_end|>\n"  # around each message, with its role
_ANSWER_START = "<|im_start|>assistant\n"
TITLE_MAX_WORDS = 6
PROVISIONAL_TITLE_WORDS = 6

# Asked as the next turn of the conversation itself (see title_follow_up).
TITLE_INSTRUCTION = (
    "Escribe un título breve para esta conversación: como máximo 6 palabras y en español. "
    "Responde solo con el título: sin comillas, sin punto final y sin explicaciones."
)


# Around the person's custom instructions in the system message: the model reads where they
# start and end, and that they come from the person, not from the platform.
INSTRUCTIONS_OPEN = (
    "Instrucciones personalizadas que escribió el propio usuario. Tenlas en cuenta en cada "
    "respuesta, salvo que contradigan las indicaciones anteriores:\n<instrucciones_del_usuario>"
)
INSTRUCTIONS_CLOSE = "</instrucciones_del_usuario>"
ABOUT_HEADING = "Lo que el usuario cuenta de sí mismo:"
STYLE_HEADING = "Cómo quiere el usuario que respondas:"


def system_content(settings: Settings, instructions: Instructions | None = None) -> str:
    """The global system prompt, then the conversation's custom instructions (if any) in a
    delimited block. A conversation's instructions are the copy it took when it was created, so
    this is the same text at every turn of it (docs/chat.md)."""
    if instructions is None:
        return settings.system_prompt
    parts = [settings.system_prompt, "", INSTRUCTIONS_OPEN]
    if instructions.about_user:
        parts += [ABOUT_HEADING, instructions.about_user]
    if instructions.response_style:
        parts += [STYLE_HEADING, instructions.response_style]
    return "\n".join([*parts, INSTRUCTIONS_CLOSE])


def build_messages(
    settings: Settings,
    history: Sequence[tuple[str, str]],
    message: str,
    instructions: Instructions | None = None,
    answer_start: str = "",
) -> list[dict[str, str]]:
    """System message (:func:`system_content`), then the history that fits ``num_ctx`` once
    the system message is counted (trimmed in blocks, see :func:`kept_from`), then the new
    message. ``history`` is oldest first, as (role, content).

    ``answer_start``: the text of an answer being continued (``chat/continuation.py``), sent
    last as an assistant message, which Qwen's template leaves open so the model writes on from
    it; it takes its room from the history's (its end only, when all of it does not fit)."""
    system = {"role": "system", "content": system_content(settings, instructions)}
    room = settings.num_ctx - answer_reserve(settings.num_ctx) - estimate_tokens(system["content"])
    budget = room - estimate_tokens(message)
    opened: list[dict[str, str]] = []
    if answer_start:
        started = kept_answer_start(answer_start, budget)
        opened = [{"role": "assistant", "content": started}]
        budget -= estimate_tokens(started)
    costs = [estimate_tokens(content) for _, content in history]
    roles = [role for role, _ in history]
    start = kept_from(roles, costs, budget, block=max(1, room // 2))
    kept = [{"role": role, "content": content} for role, content in history[start:]]
    return [system, *kept, {"role": "user", "content": message}, *opened]


def continuation_budget(settings: Settings, instructions: Instructions | None, message: str) -> int:
    """The estimated tokens the prompt of a continuation has beside the system message and the
    question, for the answer so far and the history."""
    system = system_content(settings, instructions)
    room = settings.num_ctx - answer_reserve(settings.num_ctx) - estimate_tokens(system)
    return room - estimate_tokens(message)


def kept_answer_start(text: str, budget: int) -> str:
    """What the prompt keeps of an answer being continued: all of it when it fits ``budget``
    (estimated tokens), else its end; empty when nothing does."""
    if estimate_tokens(text) <= budget:
        return text
    chars = max(0, budget - TOKENS_PER_MESSAGE) * CHARS_PER_TOKEN
    return text[len(text) - chars :] if chars else ""


def kept_from(roles: Sequence[str], costs: Sequence[int], budget: int, *, block: int) -> int:
    """Where the kept history starts: a user's turn, with what follows within ``budget``.

    Dropping only what no longer fits would change the prompt's start at every turn once a
    conversation outgrows ``num_ctx``, and the model server would read the whole prompt again
    each time (its cache reuses only a common prefix). So the history is cut at block starts:
    the first user turn at or past each multiple of ``block`` tokens counted from the
    conversation's beginning. They do not move as the conversation grows, so the same start
    serves turn after turn until what follows it outgrows the budget, then the next block
    start does (dropping about ``block`` tokens at once).
    """
    total = sum(costs)
    before = 0  # the cost of history[:i]
    mark = 0  # the next multiple of ``block`` a block start must reach
    fallback = len(roles)  # nothing fits: no history
    for i, (role, cost) in enumerate(zip(roles, costs, strict=True)):
        if role == "user":
            fits = total - before <= budget
            if before >= mark:
                if fits:
                    return i
                mark = (before // block + 1) * block
            elif fits and fallback == len(roles):
                fallback = i  # a single exchange longer than a block: cut where it fits
        before += cost
    return fallback


def chat_options(settings: Settings) -> dict[str, Any]:
    """The options of every request (answers, titles, the warm-up): Ollama reloads the model,
    and every slot loses its cache, when a request's ``num_ctx`` differs from the loaded one.
    ``num_predict``, which each kind of request sets for itself, reloads nothing."""
    return {"num_ctx": settings.num_ctx, "temperature": settings.temperature}


def answer_options(settings: Settings) -> dict[str, Any]:
    """:func:`chat_options` with the answer's length cap: ``num_predict`` is the room the
    prompt keeps for the answer (``answer_reserve``). Without it Ollama generates until the
    model stops, shifting the context past ``num_ctx``: a small model caught in a loop holds
    a slot for minutes. An answer it cuts ends with ``done_reason`` "length" (docs/chat.md)."""
    return {**chat_options(settings), "num_predict": answer_reserve(settings.num_ctx)}


def sent_tokens(messages: Sequence[dict[str, str]]) -> int:
    """The prompt's tokens as the model reads it (Qwen's ChatML template, 4 characters a token):
    what the user's request costs whatever the server's cache saves. ``estimate_tokens`` counts
    3 on purpose, to never overflow ``num_ctx``; this count is for usage and metrics."""
    chars = sum(len(m["role"]) + len(m["content"]) + len(_TURN) for m in messages)
    return -(-(chars + len(_ANSWER_START)) // 4)


def record_prompt(messages: Sequence[dict[str, str]], stats: llm.ChatStats) -> int:
    """Count a finished request's prompt in the metrics (sent; evaluated, as Ollama reports
    ``prompt_eval_count`` without the cached part); returns the tokens sent."""
    sent = sent_tokens(messages)
    PROMPT_TOKENS_SENT.inc(sent)
    PROMPT_TOKENS_EVALUATED.inc(min(stats.prompt_tokens, sent))
    return sent


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
    what no label may hold is left out, the message itself keeps it). Attached files are not
    words of it: only what was written counts, or the first file's name if nothing was."""
    words = text.without_invisible(attachments.written_part(message)).split()
    title = " ".join(words[:PROVISIONAL_TITLE_WORDS])
    if len(words) > PROVISIONAL_TITLE_WORDS:
        title += "…"
    return _label(title) or "Nueva conversación"


def _label(title: str) -> str:
    # Cutting at 200 may leave an emoji's joiner last, where the rule no longer allows it.
    return text.without_invisible(title[:200]).strip()
