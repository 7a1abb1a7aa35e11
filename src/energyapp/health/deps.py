"""Who may read the metrics: Prometheus with the metrics token, or a direct local connection."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from energyapp.config import Settings
from energyapp.core.client_ip import is_direct_local
from energyapp.core.deps import SettingsDep
from energyapp.errors import Unauthorized

_metrics_bearer = HTTPBearer(auto_error=False, description="ENERGYAPP_METRICS_TOKEN")


def _valid_token(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> bool:
    if settings.metrics_token is None or credentials is None:
        return False
    expected = settings.metrics_token.get_secret_value().encode()
    return secrets.compare_digest(credentials.credentials.encode(), expected)


async def require_metrics_access(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> None:
    """401 unless the request carries the metrics token or, when ``metrics_allow_loopback``,
    comes straight from this machine (not through Caddy)."""
    if _valid_token(settings, credentials):
        return
    if settings.metrics_allow_loopback and is_direct_local(request):
        return
    raise Unauthorized(
        "Las métricas requieren el token de métricas (Authorization: Bearer) o una conexión "
        "local directa al servidor.",
        code="metrics_unauthorized",
    )
