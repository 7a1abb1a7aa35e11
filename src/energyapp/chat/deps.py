"""Chat dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from energyapp.chat.engine import ChatEngine


async def get_chat_engine(request: Request) -> ChatEngine:
    engine: ChatEngine = request.app.state.chat
    return engine


ChatEngineDep = Annotated[ChatEngine, Depends(get_chat_engine)]
