from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from energyapp.llm import client as llm
from energyapp.llm.fake_server import FakeConfig, FakeOllama
from tests.llm.stand_in import stand_in


@pytest.fixture
async def fake() -> AsyncIterator[tuple[str, FakeOllama]]:
    async with stand_in(FakeConfig(tokens_per_second=0, answer_tokens=12, seed=1)) as served:
        yield served


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The client session the app talks to Ollama with."""
    async with llm.new_session(connect_timeout=5.0) as session:
        yield session


@pytest.fixture
async def raw() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client, to look at the stand-in's answers byte for byte."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client
