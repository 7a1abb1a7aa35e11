"""Liveness/readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from energyapp import __version__
from energyapp.core.metrics import exposition
from energyapp.health import service
from energyapp.health.deps import require_metrics_access

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: Literal["ok", "degraded", "draining", "error"]
    db: service.DbState
    ollama: service.OllamaState
    # The model server answering is the project's stand-in: answers are synthetic, not a model's.
    ollama_stand_in: bool = False
    redis: service.RedisState | None = None
    draining: bool = False
    version: str


@router.get(
    "/health",
    response_model=Health,
    responses={
        503: {
            "model": Health,
            "description": "La base de datos no responde, o el proceso se está deteniendo.",
        }
    },
)
async def health(request: Request, response: Response) -> Health:
    """200 while the database answers (Ollama or Redis down is ``degraded``); 503 when it does
    not, or while this process drains before stopping (the load balancer then skips it)."""
    app = request.app
    db = await service.db_status(app)
    ollama, stand_in = await service.ollama_status(app)
    redis = await service.redis_status(app)
    draining = service.is_draining(app)
    status: Literal["ok", "degraded", "draining", "error"] = "ok"
    if db == "error":
        status = "error"
    elif draining:
        status = "draining"
    elif ollama != "ok" or redis == "down":
        status = "degraded"
    if status in ("error", "draining"):
        response.status_code = 503
    return Health(
        status=status,
        db=db,
        ollama=ollama,
        ollama_stand_in=stand_in,
        redis=redis,
        draining=draining,
        version=__version__,
    )


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_access)])
async def metrics() -> Response:
    """Prometheus' text format, for the metrics token or a direct local connection."""
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
