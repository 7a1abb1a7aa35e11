"""Messages as a tree: the current branch, the versions of a message, switching branches.

Each message has a ``parent_id`` (null for a first message): an answer's parent is its
question, a question's parent is the answer it follows. Editing a question adds a sibling
question (same parent); regenerating an answer adds a sibling answer (same question). The
conversation remembers the last message of the branch shown (``current_leaf_id``); the branch
is that message and its ancestors. Versions of a message are its siblings, oldest first.

The tree is read as a skeleton (id, parent, creation time) of the whole conversation: a few
bytes per message, cheap for the hundreds a conversation holds, and the same SQL on SQLite and
PostgreSQL. A conversation without versions (``has_versions`` false, nearly all of them) skips
it: its branch is every message, read as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.conversations.models import MESSAGES, Conversation
from energyapp.core.pagination import Item
from energyapp.errors import NotFound

# "A new first message": the parent_message_id a client sends to edit the first question
# (the nil UUID, as LibreChat does; a real message id is never nil).
NO_PARENT = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class Node:
    id: uuid.UUID
    parent_id: uuid.UUID | None
    role: str
    created_at: datetime


class Tree:
    """The skeleton of one conversation's messages."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        ordered = sorted(nodes, key=lambda n: (n.created_at, n.id))
        self.nodes = {n.id: n for n in ordered}
        self.children: dict[uuid.UUID | None, list[uuid.UUID]] = {}
        for node in ordered:
            self.children.setdefault(node.parent_id, []).append(node.id)

    def branch(self, leaf_id: uuid.UUID | None) -> list[uuid.UUID]:
        """``leaf_id`` and its ancestors, first message first (empty for None)."""
        path: list[uuid.UUID] = []
        current = leaf_id
        while current is not None and current in self.nodes and len(path) < len(self.nodes):
            path.append(current)
            current = self.nodes[current].parent_id
        path.reverse()
        return path

    def siblings(self, message_id: uuid.UUID) -> list[uuid.UUID]:
        """The versions of a message (itself included), oldest first."""
        return self.children.get(self.nodes[message_id].parent_id, [message_id])

    def newest_leaf_under(self, message_id: uuid.UUID) -> uuid.UUID:
        """The end of the branch through ``message_id``: its newest child, that one's newest
        child, and so on (the latest version asked below it)."""
        current = message_id
        while self.children.get(current):
            current = self.children[current][-1]
        return current


async def load_tree(session: AsyncSession, conversation_id: uuid.UUID) -> Tree:
    m = MESSAGES.c
    rows = await session.execute(
        select(m.id, m.parent_id, m.role, m.created_at).where(m.conversation_id == conversation_id)
    )
    return Tree(Node(r.id, r.parent_id, r.role, r.created_at) for r in rows)


async def branch_of(
    session: AsyncSession, conversation: Conversation
) -> tuple[Tree | None, list[uuid.UUID] | None]:
    """The tree and the ids of the current branch, first message first; (None, None) for a
    conversation without versions, whose branch is every message."""
    if not conversation.has_versions:
        return None, None
    tree = await load_tree(session, conversation.id)
    return tree, tree.branch(conversation.current_leaf_id)


def with_versions(items: Sequence[Item], tree: Tree | None) -> list[Item]:
    """List items (dicts with ``id``) with ``sibling_ids``: the versions of each message (only
    itself without a tree)."""
    return [
        {**item, "sibling_ids": tree.siblings(item["id"]) if tree else [item["id"]]}
        for item in items
    ]


async def has_children(
    session: AsyncSession, conversation_id: uuid.UUID, parent_id: uuid.UUID | None
) -> bool:
    """Whether a message (None: the conversation itself) already has a child, so that a new one
    there is another version."""
    m = MESSAGES.c
    where = m.parent_id == parent_id if parent_id is not None else m.parent_id.is_(None)
    found = await session.scalar(
        select(m.id).where(m.conversation_id == conversation_id, where).limit(1)
    )
    return found is not None


async def switch_branch(
    session: AsyncSession, conversation: Conversation, message_id: uuid.UUID
) -> None:
    """Show the branch through ``message_id`` (a version picked with ‹ ›): it continues to the
    newest answer below it. 404 when the message is not in this conversation."""
    tree = await load_tree(session, conversation.id)
    if message_id not in tree.nodes:
        raise NotFound("No se encontró el mensaje en esta conversación.", code="message_not_found")
    conversation.current_leaf_id = tree.newest_leaf_under(message_id)
    await session.flush()
