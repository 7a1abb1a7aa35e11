"""Import every model so Alembic and tests see the whole metadata."""

from energyapp.announcements.models import Announcement, AnnouncementDismissal
from energyapp.apikeys.models import ApiKey, ApiKeyAddress
from energyapp.audit.models import AuditEvent
from energyapp.auth.models import (
    AuthSession,
    LoginChallenge,
    PasswordReset,
    RecoveryCode,
    RefreshToken,
    Role2FAPolicy,
    User,
)
from energyapp.conversations.models import Conversation, LegalHold, Message
from energyapp.db import Base
from energyapp.feedback.models import MessageFeedback
from energyapp.folders.models import Folder
from energyapp.instructions.models import CustomInstructions
from energyapp.prompts.models import SavedPrompt
from energyapp.sharing.models import SharedLink
from energyapp.usage.models import UsageEvent

__all__ = [
    "Announcement",
    "AnnouncementDismissal",
    "ApiKey",
    "ApiKeyAddress",
    "AuditEvent",
    "AuthSession",
    "Base",
    "Conversation",
    "CustomInstructions",
    "Folder",
    "LegalHold",
    "LoginChallenge",
    "Message",
    "MessageFeedback",
    "PasswordReset",
    "RecoveryCode",
    "RefreshToken",
    "Role2FAPolicy",
    "SharedLink",
    "SavedPrompt",
    "UsageEvent",
    "User",
]
