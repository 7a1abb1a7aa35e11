"""What `energyapp serve` checks before starting uvicorn, so that a taken port or a log file it
cannot write stops it with one line that says what to do, not uvicorn's or logging's traceback."""

from __future__ import annotations

import errno
import socket
from pathlib import Path


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or ``None``. Bound as uvicorn binds it
    (``SO_REUSEADDR``), so a port left in TIME_WAIT by a previous run counts as free."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"la interfaz {host!r} no existe ({exc.strerror}): corrija --host o ENERGYAPP_HOST"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"el puerto {port} de {host} ya está en uso (¿EnergyApp ya está en marcha?): "
                    "detenga ese proceso o use otro con --port o ENERGYAPP_PORT"
                )
            if exc.errno == errno.EACCES:
                return f"sin permiso para escuchar en el puerto {port}: use uno mayor que 1023"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} no es una dirección de este equipo: corrija --host o ENERGYAPP_HOST"
            return f"no se puede escuchar en {host}:{port}: {exc.strerror}"
    return None


def log_file_problem(log_file: str) -> str | None:
    """Why the log file (``ENERGYAPP_LOG_TO_FILE``) cannot be written, or ``None``."""
    path = Path(log_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        return (
            f"ENERGYAPP_LOG_FILE: no se puede escribir {path} ({exc.strerror}): elija otra ruta "
            "(el servicio solo escribe en data/ y logs/) o ENERGYAPP_LOG_TO_FILE=false"
        )
    return None
