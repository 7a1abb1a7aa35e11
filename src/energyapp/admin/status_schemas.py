"""What ``GET /admin/status`` sends: the model servers, the answers being written and waiting
(who, never what), today's answers, and whether the database and Redis answer."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from energyapp.chat.board import WorkKind
from energyapp.core.roles import Role


class LoadedModelOut(BaseModel):
    name: str
    size: int  # bytes in memory
    expires_at: str | None  # when the server unloads it (as the server says it)


class ModelServerOut(BaseModel):
    url: str
    reachable: bool
    version: str | None
    stand_in: bool  # the project's stand-in Ollama (synthetic answers)
    loaded: list[LoadedModelOut] | None  # None: the server did not answer /api/ps
    slots: int  # answers the app sends it at once (ollama_max_parallel)
    num_ctx: int


class WorkOut(BaseModel):
    """An answer (or a title) being written or waiting for a slot."""

    id: str
    user_id: uuid.UUID | None  # None: a title (background work)
    full_name: str | None
    email: str | None
    role: Role | None
    kind: WorkKind
    state: Literal["writing", "waiting"]
    position: int | None  # place in the queue while waiting (1: next)
    seconds: int  # since it started writing, or since it began to wait
    stoppable: bool  # an admin may stop it (POST /admin/status/work/{id}/stop); not a title


class WorkStopOut(BaseModel):
    """An answer an admin stopped."""

    id: str
    # "stopped"; "stopping": an API answer another process generates was asked to stop and had
    # not left the board after a few seconds (an older release there ignores the notice)
    status: Literal["stopped", "stopping"]


class QueueOut(BaseModel):
    available: bool  # False: the shared queue (Redis) did not answer
    broker: Literal["local", "redis"]
    running: list[WorkOut]
    waiting: list[WorkOut]
    longest_wait_seconds: int | None
    # The wait of an answer asked now (chat/waits.py); None until enough answers were measured.
    estimated_wait_seconds: int | None


class TodayOut(BaseModel):
    """Answers started today (Santiago day) in the web chat."""

    day: date
    finished: int
    failed: int  # error or interrupted
    stopped: int
    cut: int  # finished, but cut by the length cap
    avg_first_token_ms: float | None
    p95_first_token_ms: int | None


class StatusOut(BaseModel):
    generated_at: datetime
    servers: list[ModelServerOut]
    queue: QueueOut
    today: TodayOut
    database: Literal["ok", "error"]
    redis: Literal["ok", "down"] | None  # None: no Redis configured
