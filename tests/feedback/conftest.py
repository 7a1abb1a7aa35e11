"""Fixtures of the answer feedback tests."""

from __future__ import annotations

from tests.conversations.conftest import make_conversation

__all__ = ["make_conversation"]
