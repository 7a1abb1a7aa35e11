from tests.conversations.conftest import make_conversation

__all__ = ["make_conversation"]
