"""The names of the chat broker's Redis keys and channel (``chat/redis_broker.py``), and the
messages a process that runs no chat runtime sends: ``energyapp deactivate-user`` asking every
app process to stop a person's answers, and a console command that ended a person's sessions
or API keys telling their streams to check now (``chat/console.py``)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

# On the ``events`` channel: every process stops the answers it generates for that user.
STOP_USER = "stop-user"
# On the ``events`` channel: every process's streams of that user check their credential now.
CREDENTIALS_ENDED = "creds"


@dataclass(frozen=True, slots=True)
class BrokerKeys:
    """The names of the broker's Redis keys, under a prefix shared by every process."""

    prefix: str
    process: str

    @property
    def admitted(self) -> str:
        return f"{self.prefix}admitted"

    def admitted_by(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}adm:{user_id}"

    @property
    def queue_users(self) -> str:
        return f"{self.prefix}q:users"

    def queued_by(self, user_id: uuid.UUID) -> str:
        return self.queued_by_name(str(user_id))

    def queued_by_name(self, user: str) -> str:
        return f"{self.prefix}q:u:{user}"

    @property
    def queue_background(self) -> str:
        return f"{self.prefix}q:bg"

    @property
    def granted(self) -> str:
        return f"{self.prefix}granted"

    def slots(self, server: str) -> str:
        return f"{self.prefix}slots:{server}"

    def lines(self, server: str) -> str:  # the conversation each slot holds (chat/slots.py)
        return f"{self.prefix}lines:{server}"

    @property
    def tickets(self) -> str:  # waiting ticket -> since when, conversation
        return f"{self.prefix}tinfo"

    @property
    def board(self) -> str:  # process -> its work through the queue (chat/redis_board.py)
        return f"{self.prefix}board"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    def lease(self, process: str) -> str:
        return f"{self.prefix}lease:{process}"

    @property
    def owner(self) -> str:
        return f"{self.prefix}owner"

    def stream(self, answer_id: uuid.UUID | str) -> str:
        return f"{self.prefix}ans:{answer_id}"

    def orphan(self, answer_id: uuid.UUID | str) -> str:
        return f"{self.prefix}orphan:{answer_id}"

    def stopping(self, work_id: str) -> str:  # an admin's stop under way (admin/status_stop.py)
        return f"{self.prefix}stopping:{work_id}"

    @property
    def recovery_lock(self) -> str:
        return f"{self.prefix}recovery"


def process_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


async def announce_stop_of(redis: Redis, keys: BrokerKeys, user_id: uuid.UUID) -> int:
    """Ask every app process to stop the answers of ``user_id`` (web and API); how many
    processes listened."""
    listeners: int = await redis.publish(keys.events, f"{STOP_USER} {user_id}")
    return listeners


async def announce_credentials_ended(redis: Redis, keys: BrokerKeys, user_id: uuid.UUID) -> None:
    """Every app process's streams of ``user_id`` check their session or key now
    (``chat/revocation.py``)."""
    await redis.publish(keys.events, f"{CREDENTIALS_ENDED} {user_id}")
