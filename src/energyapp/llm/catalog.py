"""The models the configured Ollama servers offer, asked at most every few seconds."""

from __future__ import annotations

import time

import aiohttp

from energyapp.errors import ServiceUnavailable, Unprocessable
from energyapp.llm import client as llm

CACHE_SECONDS = 10.0


class ModelCatalog:
    """What ``GET /models`` lists and what ``POST /chat`` accepts as ``model``."""

    def __init__(self, http: aiohttp.ClientSession, servers: list[str], default_model: str) -> None:
        self.http = http
        self.servers = servers
        self.default_model = default_model
        self._cache: tuple[float, list[llm.ModelInfo]] | None = None

    async def available(self) -> list[llm.ModelInfo]:
        """Every model the servers offer (the first server's entry wins); 503 when none of
        them answers."""
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < CACHE_SECONDS:
            return self._cache[1]
        found: dict[str, llm.ModelInfo] = {}
        failures = 0
        for url in self.servers:
            try:
                for info in await llm.list_models(self.http, url):
                    found.setdefault(info.name, info)
            except llm.LLMError:
                failures += 1
        if failures == len(self.servers):
            raise ServiceUnavailable(
                "El servicio del modelo (Ollama) no está disponible en este momento.",
                code="llm_unavailable",
            )
        models = list(found.values())
        self._cache = (now, models)
        return models

    async def resolve(self, name: str | None) -> str:
        """The model to use: the default (without asking the servers), or one they offer, a
        name without a tag standing for its ``:latest`` as in Ollama (``llama3`` is listed as
        ``llama3:latest``); 422 ``unknown_model`` otherwise."""
        if name is None or name == self.default_model:
            return self.default_model
        offered = {model.name for model in await self.available()}
        for candidate in (name, f"{name}:latest"):
            if candidate in offered:
                return candidate
        raise Unprocessable(
            f"El modelo «{name}» no está disponible. Consulte la lista en /models.",
            code="unknown_model",
        )
