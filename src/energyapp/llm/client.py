"""Ollama HTTP client. Knows the Ollama protocol; knows nothing about users or routes."""

from __future__ import annotations

import httpx


async def ollama_available(client: httpx.AsyncClient, base_url: str, wait_s: float = 1.5) -> bool:
    """True when an Ollama server (real or stand-in) answers ``/api/version``."""
    try:
        response = await client.get(f"{base_url.rstrip('/')}/api/version", timeout=wait_s)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
