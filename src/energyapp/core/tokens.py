"""Token estimates before the model sees a prompt, and the longest message they allow.

Spanish text runs at about 3.5-4 characters per token with the Qwen tokenizer; counting 3
over-estimates on purpose so the prompt never overflows ``num_ctx``. Each message also costs a
few template tokens."""

from __future__ import annotations

from energyapp.config import Settings

CHARS_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 8


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE


def answer_reserve(num_ctx: int) -> int:
    """Room kept free in the context for the answer itself."""
    return min(1024, num_ctx // 4)


def message_limit(settings: Settings, system: str | None = None) -> int:
    """The longest message the chat takes: ``max_message_chars``, or less when ``num_ctx`` could
    not hold it beside the system message (``system``; the global prompt when None) and the
    answer's room. A longer prompt would not be refused by Ollama: it cuts the prompt's start,
    the system message and the beginning of the message (an attached document's first pages),
    and answers from what is left."""
    room = (
        settings.num_ctx
        - answer_reserve(settings.num_ctx)
        - estimate_tokens(settings.system_prompt if system is None else system)
        - TOKENS_PER_MESSAGE
    )
    return max(1, min(settings.max_message_chars, room * CHARS_PER_TOKEN))
