"""`energyapp fake-ollama`: the stand-in Ollama from the command line (registered in
``energyapp/cli.py``)."""

from __future__ import annotations

from typing import Annotated

import typer


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
) -> None:
    """Serve a stand-in Ollama (synthetic answers) for tests, benchmarks and demos; with
    ``--cpu``, a timed CPU server with slots and prompt caches (``llm/cpu_server.py``)."""
    from energyapp.llm.cpu_server import CpuConfig
    from energyapp.llm.fake_server import DEFAULT_MODELS, FakeConfig, run

    if min(prompt_tps, gen_tps, speed, parallel) <= 0:
        typer.echo("--prompt-tps, --gen-tps, --speed y --parallel deben ser positivos", err=True)
        raise typer.Exit(2)
    timed = CpuConfig(prompt_tps, gen_tps, load_s, parallel, speed) if cpu else None

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
