from tests.chat.conftest import fake, http, live_app
from tests.conversations.conftest import make_conversation

__all__ = ["fake", "http", "live_app", "make_conversation"]
