"""Fixtures of the folder tests: conversations inserted directly, as the conversation tests do."""

from __future__ import annotations

from tests.conversations.conftest import make_conversation

__all__ = ["make_conversation"]
