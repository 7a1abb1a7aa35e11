"""`energyapp fake-ollama`: the stand-in Ollama from the command line (registered in
``energyapp/cli.py``), and how `energyapp dev` starts it when no Ollama answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Annotated
from urllib.parse import urlparse

import typer

from energyapp.logging import redact_text


def fake_ollama(
    host: Annotated[str, typer.Option(help="Interfaz")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Puerto")] = 11434,
    tokens_per_second: Annotated[
        float, typer.Option(help="Velocidad de las respuestas (0: sin límite)")
    ] = 20.0,
    answer_tokens: Annotated[int, typer.Option(help="Tokens por respuesta")] = 64,
    first_token_delay_ms: Annotated[float, typer.Option(help="Espera antes del 1er token")] = 0.0,
    prompt_tokens_per_second: Annotated[
        float,
        typer.Option(help="Lectura del prompt no cacheado (0: instantánea)"),
    ] = 0.0,
    fail_after_tokens: Annotated[
        int | None, typer.Option(help="Falla a mitad de respuesta tras N tokens")
    ] = None,
    stall_after_tokens: Annotated[
        int | None, typer.Option(help="Se queda mudo (conexión abierta) tras N tokens")
    ] = None,
    malformed_after_tokens: Annotated[
        int | None, typer.Option(help="Envía una línea NDJSON inválida tras N tokens")
    ] = None,
    busy: Annotated[bool, typer.Option(help="Responde 503 (cola de Ollama llena)")] = False,
    model: Annotated[list[str] | None, typer.Option(help="Modelo ofrecido (repetible)")] = None,
    cpu: Annotated[bool, typer.Option(help="Servidor CPU simulado: slots y caché")] = False,
    prompt_tps: Annotated[float, typer.Option(help="--cpu: tokens de prompt/s")] = 60.0,
    gen_tps: Annotated[float, typer.Option(help="--cpu: tokens generados/s")] = 10.0,
    load_s: Annotated[float, typer.Option(help="--cpu: segundos de carga")] = 4.0,
    parallel: Annotated[int, typer.Option(help="--cpu: slots (OLLAMA_NUM_PARALLEL)")] = 1,
    speed: Annotated[float, typer.Option(help="--cpu: divide todos los tiempos")] = 1.0,
    batching: Annotated[
        bool, typer.Option(help="--cpu: la CPU se reparte por lotes, como en Ollama")
    ] = False,
) -> None:
    """Serve a stand-in Ollama (synthetic answers) for tests, benchmarks and demos; with
    ``--cpu``, a timed CPU server with slots and prompt caches (``llm/cpu_server.py``)."""
    from energyapp.llm.cpu_server import CpuConfig
    from energyapp.llm.fake_server import DEFAULT_MODELS, FakeConfig, run

    if min(prompt_tps, gen_tps, speed, parallel) <= 0:
        typer.echo("--prompt-tps, --gen-tps, --speed y --parallel deben ser positivos", err=True)
        raise typer.Exit(2)
    timed = (
        CpuConfig(prompt_tps, gen_tps, load_s, parallel, speed, batching=batching) if cpu else None
    )

    config = FakeConfig(
        tokens_per_second=tokens_per_second,
        answer_tokens=answer_tokens,
        first_token_delay_ms=first_token_delay_ms,
        prompt_tokens_per_second=prompt_tokens_per_second,
        fail_after_tokens=fail_after_tokens,
        stall_after_tokens=stall_after_tokens,
        malformed_after_tokens=malformed_after_tokens,
        busy=busy,
        models=tuple(model) if model else DEFAULT_MODELS,
        cpu=timed,
    )
    run(config, host, port)


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def ollama_answers(url: str, timeout: float = 1.5) -> bool:
    """Whether an Ollama (or the stand-in) answers at ``url``."""
    import httpx  # only `energyapp dev` probes; `serve` does not pay for the import

    try:
        return httpx.get(f"{url}/api/version", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def start_stand_in(url: str, default_port: int) -> subprocess.Popen[bytes] | None:
    """Start the stand-in Ollama for ``url`` (`energyapp dev`, when no Ollama answers) and say
    so; ``None``, with a warning, when it cannot serve there: ``url`` is another machine, or
    its port is taken by something that is not an Ollama."""
    parsed = urlparse(url)
    shown = redact_text(url)  # a URL with basic auth is named without its password
    if parsed.hostname not in _LOOPBACK:
        typer.echo(
            f"AVISO: no respondió ningún Ollama en {shown}, que no es de este equipo: no se inicia "
            "el Ollama de reemplazo y el chat no podrá responder."
        )
        return None
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "energyapp.llm.fake_server",
            "--port",
            str(parsed.port or default_port),
            # uvicorn re-raises SIGTERM after its shutdown, so the caller's `finally` may never
            # run: the stand-in watches this process and exits with it.
            "--parent-pid",
            str(os.getpid()),
        ]
    )
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        if ollama_answers(url, timeout=0.5):
            typer.echo(
                "AVISO: no respondió ningún Ollama; se inició el Ollama DE REEMPLAZO (stand-in) "
                f"en {shown}. Las respuestas son SINTÉTICAS, no de un modelo real."
            )
            return proc
        time.sleep(0.1)
    proc.terminate()
    proc.wait(timeout=10)
    typer.echo(
        f"AVISO: no se pudo iniciar el Ollama de reemplazo en {shown} (¿otro programa usa el "
        "puerto?): el chat no podrá responder. Libere el puerto o configure ENERGYAPP_OLLAMA_URL."
    )
    return None
