from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from energyapp.llm.fake_server import FakeConfig, FakeOllama
from tests.llm.stand_in import stand_in


@pytest.fixture
async def fake() -> AsyncIterator[tuple[str, FakeOllama]]:
    async with stand_in(FakeConfig(tokens_per_second=0, answer_tokens=12, seed=1)) as served:
        yield served


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client
