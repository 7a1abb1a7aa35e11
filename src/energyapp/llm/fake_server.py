"""A stand-in Ollama: the real HTTP protocol, synthetic Spanish-looking answers.

Used by the tests, the benchmarks and ``make run`` when no real Ollama answers. It says it is a
stand-in wherever a person can see it (``/api/version``, model details, its log line).

Run it with ``energyapp fake-ollama --port 11434`` or ``python -m energyapp.llm.fake_server``.
It is a bare ASGI app under uvicorn (no framework): it is the floor of the streaming benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send

from energyapp.llm import asgi_io, cpu_server
from energyapp.llm.client import STAND_IN_FAMILY, STAND_IN_VERSION
from energyapp.llm.cpu_server import CpuConfig, CpuModel
from energyapp.llm.fake_loaded import LoadedModels

logger = logging.getLogger("energyapp.fake_ollama")

DEFAULT_MODELS = ("qwen2.5:3b-instruct",)
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
_WORDS = (  # noqa: SIM905 - reads as the sentence it is
    "la energía eléctrica de la planta se distribuye por la red según la demanda del "
    "sistema y el informe mensual indica que los consumos bajaron gracias a las medidas "
    "de eficiencia que aplicó el equipo de mantención durante el invierno pasado en "
    "cada una de las subestaciones de la región"
).split()
_CHARS_PER_TOKEN = 4


@dataclass
class FakeConfig:
    """Behaviour of the stand-in; tests change it between requests."""

    tokens_per_second: float = 0.0  # 0: as fast as possible
    answer_tokens: int = 64
    first_token_delay_ms: float = 0.0
    # 0: reading the prompt costs nothing. Otherwise the prompt is read at this rate, except the
    # part it shares with the last prompt read and its answer: a one-slot prompt cache like
    # Ollama's (OLLAMA_NUM_PARALLEL=1), so a client that keeps a conversation's prefix pays
    # only for what is new.
    prompt_tokens_per_second: float = 0.0
    fail_after_tokens: int | None = None  # an {"error"} line (status 200) after N tokens
    stall_after_tokens: int | None = None  # stop sending (connection kept open) after N tokens
    malformed_after_tokens: int | None = None  # a line that is not JSON after N tokens
    busy: bool = False  # every generation answers 503 like a full Ollama queue
    models: tuple[str, ...] = DEFAULT_MODELS
    seed: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)  # the last bodies received
    keep_requests: int = 0
    evaluated: list[int] = field(default_factory=list)  # prompt tokens read, per generation
    cpu: CpuConfig | None = None  # a timed CPU server with slots (cpu_server.py) instead


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-01-01T00:00:00Z",
        "size": 1_929_912_432,
        "digest": "0" * 64,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "stand-in (Ollama de reemplazo, respuestas sintéticas)",
            "families": [STAND_IN_FAMILY],
            "parameter_size": "3.1B",
            "quantization_level": "Q4_K_M",
        },
    }


class FakeOllama:
    """The ASGI app. Answers are built from a fixed word list, one word per token."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self._rng = random.Random(self.config.seed)  # noqa: S311 - not for security
        self.active_streams = 0
        self._cached = ""  # the last prompt read, as laid out for the model, and its answer
        self.cpu = CpuModel(self.config.cpu, self._rng, _WORDS) if self.config.cpu else None
        self.loaded = LoadedModels()  # GET /api/ps (llm/fake_loaded.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        body = await asgi_io.read_body(receive) if method == "POST" else b""
        if path == "/api/version" or path == "/":
            if path == "/":
                await asgi_io.send_bytes(send, 200, b"Ollama is running (stand-in)", [])
                return
            await asgi_io.send_json(send, 200, {"version": STAND_IN_VERSION})
        elif path == "/api/tags":
            await asgi_io.send_json(
                send, 200, {"models": [_model_entry(m) for m in self.config.models]}
            )
        elif path == "/api/ps":
            loaded = [self.loaded.running(_model_entry(m)) for m in self.loaded.names()]
            await asgi_io.send_json(send, 200, {"models": loaded})
        elif path == "/api/show" and method == "POST":
            await self._show(send, body)
        elif path in ("/api/chat", "/api/generate") and method == "POST":
            await self._generate(send, body, chat=path == "/api/chat", receive=receive)
        elif path == "/stats" and self.cpu is not None:
            await self.cpu.stats(send)
        else:
            await asgi_io.send_bytes(
                send, 404, b"404 page not found", [(b"content-type", b"text/plain")]
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _show(self, send: Send, body: bytes) -> None:
        request = asgi_io.json_or_none(body)
        name = (request or {}).get("model") or (request or {}).get("name")
        if name not in self.config.models:
            await asgi_io.send_json(send, 404, {"error": f"model '{name}' not found"})
            return
        entry = _model_entry(str(name))
        await asgi_io.send_json(
            send,
            200,
            {
                "license": "Ollama de reemplazo (stand-in): no es un modelo real.",
                "modelfile": "# Ollama de reemplazo de EnergyApp: respuestas sintéticas\n",
                "parameters": "num_ctx 4096",
                "template": "{{ .Prompt }}",
                "details": entry["details"],
                "model_info": {"general.architecture": "stand-in", "stand_in": True},
                "capabilities": ["completion"],
                "modified_at": entry["modified_at"],
            },
        )

    async def _generate(self, send: Send, body: bytes, *, chat: bool, receive: Receive) -> None:
        cfg = self.config
        request = asgi_io.json_or_none(body)
        if request is None:
            await asgi_io.send_json(send, 400, {"error": "invalid character in request body"})
            return
        if request.get("model") in cfg.models:
            self.loaded.touch(request["model"], request.get("keep_alive"), request.get("options"))
        if not chat and not request.get("prompt") and self.cpu is None:  # only loads the model
            await asgi_io.send_json(send, 200, {"model": request.get("model"), "done": True})
            return
        if cfg.keep_requests:
            cfg.requests.append(request)
            del cfg.requests[: -cfg.keep_requests]
        model = request.get("model")
        if model not in cfg.models:
            await asgi_io.send_json(send, 404, {"error": f"model '{model}' not found"})
            return
        if cfg.busy:
            await asgi_io.send_json(send, 503, {"error": BUSY_MESSAGE})
            return
        options = request.get("options") or {}
        count = cfg.answer_tokens
        if isinstance(options.get("num_predict"), int) and options["num_predict"] > 0:
            count = min(count, options["num_predict"])
        # As Ollama: an answer cut by num_predict ends with done_reason "length".
        done_reason = "length" if count < cfg.answer_tokens else "stop"
        if self.cpu is not None:
            await self.cpu.generate(
                receive, send, request, chat=chat, count=count, done_reason=done_reason
            )
            return
        words = [self._rng.choice(_WORDS) for _ in range(count)]
        going_on = chat and (request.get("messages") or [{}])[-1].get("role") == "assistant"
        tokens = [(" " + w if i or going_on else w.capitalize()) for i, w in enumerate(words)]
        if tokens and done_reason != "length":  # a cut answer stops mid-sentence
            tokens[-1] += "."
        prompt_tokens = _prompt_tokens(request, chat=chat)
        started = time.perf_counter_ns()
        reading = 0.0
        if cfg.prompt_tokens_per_second > 0:
            reading = self._read_prompt(_layout(request, chat=chat), "".join(tokens))
        if request.get("stream", True) is False:
            await self._delay(
                reading + cfg.first_token_delay_ms / 1000 + _spacing(cfg) * len(tokens)
            )
            text = "".join(tokens)
            final = _final(model, chat, text, prompt_tokens, len(tokens), started, done_reason)
            await asgi_io.send_json(send, 200, final)
            return
        self.active_streams += 1
        try:
            await self._stream(
                send, model, chat, tokens, prompt_tokens, started, reading, done_reason
            )
        finally:
            self.active_streams -= 1

    async def _stream(
        self,
        send: Send,
        model: str,
        chat: bool,
        tokens: list[str],
        prompt_tokens: int,
        started: int,
        reading: float = 0.0,
        done_reason: str = "stop",
    ) -> None:
        cfg = self.config
        responded = False

        async def emit(body: bytes, more: bool = True) -> None:
            nonlocal responded
            if not responded:
                # As Go's net/http sends Ollama's: the status line and the headers leave with
                # the first line of the body (after the prompt is read), not before it.
                responded = True
                await send(
                    {"type": "http.response.start", "status": 200, "headers": asgi_io.NDJSON}
                )
            await send({"type": "http.response.body", "body": body, "more_body": more})

        await self._delay(reading + cfg.first_token_delay_ms / 1000)
        spacing = _spacing(cfg)
        created = asgi_io.now()
        prefix = f'{{"model":{json.dumps(model)},"created_at":"{created}",' + (
            '"message":{"role":"assistant","content":' if chat else '"response":'
        )
        suffix = '},"done":false}\n' if chat else ',"done":false}\n'
        for index, token in enumerate(tokens):
            if cfg.fail_after_tokens is not None and index >= cfg.fail_after_tokens:
                await emit(b'{"error":"an error was encountered while running the model"}\n', False)
                return
            if cfg.stall_after_tokens is not None and index >= cfg.stall_after_tokens:
                await asyncio.sleep(3600)
            if cfg.malformed_after_tokens is not None and index >= cfg.malformed_after_tokens:
                await emit(b'{"model": "stand-in", "message": {"content": "roto\n', False)
                return
            await emit((prefix + json.dumps(token, ensure_ascii=False) + suffix).encode())
            if spacing:
                await asyncio.sleep(spacing)
        final = _final(model, chat, "", prompt_tokens, len(tokens), started, done_reason)
        last = json.dumps(final, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        await emit(last, False)

    def _read_prompt(self, prompt: str, answer: str) -> float:
        """Seconds to read ``prompt`` past the prefix it shares with the cache; the cache then
        holds it and ``answer`` (as if the answer were generated to the end)."""
        shared = len(os.path.commonprefix([self._cached, prompt]))
        tokens = max(1, (len(prompt) - shared) // _CHARS_PER_TOKEN)
        self.config.evaluated.append(tokens)
        del self.config.evaluated[:-100]
        self._cached = prompt + answer
        return tokens / self.config.prompt_tokens_per_second

    @staticmethod
    async def _delay(seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)


def _spacing(cfg: FakeConfig) -> float:
    return 1.0 / cfg.tokens_per_second if cfg.tokens_per_second > 0 else 0.0


def _layout(request: dict[str, Any], *, chat: bool) -> str:
    """The prompt as the model reads it (Qwen's ChatML template), ending where the answer
    starts."""
    if not chat:
        return str(request.get("system", "")) + str(request.get("prompt", ""))
    return cpu_server.chatml(request.get("messages") or [])


def _prompt_tokens(request: dict[str, Any], *, chat: bool) -> int:
    if chat:
        chars = sum(len(str(m.get("content", ""))) for m in request.get("messages") or [])
    else:
        chars = len(str(request.get("prompt", ""))) + len(str(request.get("system", "")))
    return max(1, chars // _CHARS_PER_TOKEN)


def _final(
    model: str,
    chat: bool,
    text: str,
    prompt_tokens: int,
    eval_count: int,
    started: int,
    done_reason: str = "stop",
) -> dict[str, Any]:
    total = max(1, time.perf_counter_ns() - started)
    data: dict[str, Any] = {"model": model, "created_at": asgi_io.now()}
    if chat:
        data["message"] = {"role": "assistant", "content": text}
    else:
        data["response"] = text
    data.update(
        done=True,
        done_reason=done_reason,
        total_duration=total,
        load_duration=1000,
        prompt_eval_count=prompt_tokens,
        prompt_eval_duration=total // 10,
        eval_count=eval_count,
        eval_duration=total - total // 10,
    )
    return data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Ollama de reemplazo (stand-in) de EnergyApp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--tokens-per-second", type=float, default=20.0)
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--first-token-delay-ms", type=float, default=0.0)
    parser.add_argument("--prompt-tokens-per-second", type=float, default=0.0)
    parser.add_argument("--fail-after-tokens", type=int, default=None)
    parser.add_argument("--stall-after-tokens", type=int, default=None)
    parser.add_argument("--malformed-after-tokens", type=int, default=None)
    parser.add_argument("--busy", action="store_true")
    parser.add_argument("--model", action="append", dest="models", default=None)
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when it exits")
    cpu_server.add_arguments(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> FakeConfig:
    return FakeConfig(
        tokens_per_second=args.tokens_per_second,
        answer_tokens=args.answer_tokens,
        first_token_delay_ms=args.first_token_delay_ms,
        prompt_tokens_per_second=args.prompt_tokens_per_second,
        fail_after_tokens=args.fail_after_tokens,
        stall_after_tokens=args.stall_after_tokens,
        malformed_after_tokens=args.malformed_after_tokens,
        busy=args.busy,
        models=tuple(args.models) if args.models else DEFAULT_MODELS,
        cpu=cpu_server.config_from_args(args),
    )


def run(config: FakeConfig, host: str, port: int) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.warning(
        "Ollama DE REEMPLAZO (stand-in, respuestas sintéticas) en http://%s:%d  modelos=%s  "
        "tokens/s=%s  tokens=%d",
        host,
        port,
        ",".join(config.models),
        config.tokens_per_second or "sin límite",
        config.answer_tokens,
    )
    uvicorn.run(
        FakeOllama(config),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


def exit_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Stop (SIGTERM to ourselves, so uvicorn shuts down) once ``parent_pid`` is gone."""

    def _watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=_watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.parent_pid is not None:
        exit_with_parent(args.parent_pid)
    run(config_from_args(args), args.host, args.port)


if __name__ == "__main__":
    main()
