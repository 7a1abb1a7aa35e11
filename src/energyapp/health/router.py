"""Liveness/readiness and Prometheus metrics."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from energyapp import __version__
from energyapp.core.metrics import REGISTRY
from energyapp.core.stopping import stopping
from energyapp.health.deps import require_metrics_access
from energyapp.llm.client import ollama_available

router = APIRouter(tags=["service"])

_OLLAMA_CACHE_SECONDS = 5.0


class Health(BaseModel):
    status: Literal["ok", "degraded", "error"]
    db: Literal["ok", "error"]
    ollama: Literal["ok", "unavailable"]
    version: str


async def _ollama_status(request: Request) -> Literal["ok", "unavailable"]:
    state = request.app.state
    cached: tuple[float, bool] | None = getattr(state, "ollama_health_cache", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > _OLLAMA_CACHE_SECONDS:
        urls = state.settings.llm_urls
        ok = False
        for url in urls:
            if await ollama_available(state.llm_http, url):
                ok = True
                break
        cached = (now, ok)
        state.ollama_health_cache = cached
    return "ok" if cached[1] else "unavailable"


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "La base de datos no responde."}},
)
async def health(request: Request, response: Response) -> Health:
    """200 while the database answers (Ollama down is ``degraded``); 503 when it does not."""
    db: Literal["ok", "error"] = "ok"
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        db = "error"
    ollama = await _ollama_status(request)
    if db == "error" or stopping():  # stopping: Caddy takes this instance out of the pool
        response.status_code = 503
        status: Literal["ok", "degraded", "error"] = "error"
    else:
        status = "ok" if ollama == "ok" else "degraded"
    return Health(status=status, db=db, ollama=ollama, version=__version__)


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_access)])
async def metrics() -> Response:
    """Prometheus' text format, for the metrics token or a direct local connection."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
