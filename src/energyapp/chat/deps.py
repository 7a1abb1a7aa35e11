"""Chat dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from energyapp.auth.deps import BearerCredentials, SettingsDep, authenticate_caller
from energyapp.auth.models import Caller
from energyapp.chat.generation import ChatEngine


async def get_chat_engine(request: Request) -> ChatEngine:  # async: no thread-pool hop
    engine: ChatEngine = request.app.state.chat
    return engine


ChatEngineDep = Annotated[ChatEngine, Depends(get_chat_engine)]


@dataclass(frozen=True, slots=True)
class ChatCaller:
    """The authenticated caller of ``POST /chat`` and the connection that checked them."""

    user: Caller
    conn: AsyncConnection


async def get_chat_caller(
    request: Request, settings: SettingsDep, credentials: BearerCredentials, engine: ChatEngineDep
) -> AsyncIterator[ChatCaller]:
    """The hottest request of the app checks its caller, and then stores the question, on one
    pooled Core connection in autocommit mode: no ORM session and no transaction, which took
    10-20 % off the app's CPU per answer (docs/performance.md). Same checks as ``CurrentUser``."""
    async with engine.connect() as conn:
        yield ChatCaller(await authenticate_caller(request, conn, settings, credentials), conn)


# scope="function": the connection goes back to the pool when the handler returns, before the
# answer streams.
ChatCallerDep = Annotated[ChatCaller, Depends(get_chat_caller, scope="function")]
