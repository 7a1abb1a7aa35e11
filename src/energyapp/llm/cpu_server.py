"""The stand-in's CPU mode (``energyapp fake-ollama --cpu``): a CPU Ollama server, timed.

It models what a user of a 6-vCPU server waits for, so that the app's choices (which requests,
in what order, with which prefix and options) can be measured without the model:

- one runner (one loaded model) with ``parallel`` slots, like ``OLLAMA_NUM_PARALLEL``; each
  slot keeps the KV cache of the last sequence it processed: the prompt rendered with Qwen's
  ChatML template, then the answer generated so far;
- a request takes the idle slot whose cache shares the longest prefix with its prompt, ties
  going to the least recently used slot, and evaluates only the rest, in batches of
  :data:`BATCH` tokens; it waits (FIFO) when every slot is busy, up to ``max_queue`` waiting;
- a request with another ``num_ctx`` waits for the runner to be idle, then reloads the model
  (``load_s``) and every cache is lost;
- busy slots share the CPU: each step takes as long as it would alone times the busy slots;
  or, with ``batching``, as Ollama's runner schedules them: it decodes one batch at a time
  holding every busy slot's next step (up to :data:`BATCH` prompt tokens, or one generated
  token), so a step lasts as long as all of them together. Beside three writing slots, a
  prompt batch of 512 tokens then takes its own time plus three tokens' (not four times its
  own), and the writers wait for it. The CPU spent is the same; who waits differs;
- a client that disconnects stops its request between two prompt batches or at the next
  generated token;
- every time is divided by ``speed`` (a benchmark of an hour runs in minutes); the final
  NDJSON line's durations are in server time (multiplied back).

Tokenisation is approximate but consistent: a token is 4 characters of the rendered text
(Spanish runs at about 3.5-4 with Qwen's tokenizer), for prompts and answers alike. The
answer is generated 4 characters a token, so a 120-token answer is 480 characters.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from starlette.types import Receive, Send

from energyapp.llm import asgi_io

CHARS_PER_TOKEN = 4
BATCH = 512  # llama.cpp's default n_batch: a cancel is noticed between two batches
END_OF_TURN = "<|im_end|>"


@dataclass
class CpuConfig:
    prompt_tps: float = 60.0  # prompt tokens evaluated per second by the whole CPU
    gen_tps: float = 10.0  # tokens generated per second by the whole CPU
    load_s: float = 4.0  # loading the model
    parallel: int = 1  # slots (OLLAMA_NUM_PARALLEL)
    speed: float = 1.0  # every time is divided by this
    num_ctx: int = 4096  # when a request sets none (OLLAMA_CONTEXT_LENGTH)
    max_queue: int = 512  # requests waiting for a slot before 503 (OLLAMA_MAX_QUEUE)
    batching: bool = False  # steps share the CPU as Ollama's batches do (see the docstring)


@dataclass
class CpuStats:
    """Totals since the start, served at ``GET /stats``."""

    requests: int = 0  # generations asked (warm-ups excepted)
    unstreamed: int = 0  # of which ``stream: false``
    prompt_tokens_sent: int = 0
    prompt_tokens_evaluated: int = 0
    completion_tokens: int = 0
    loads: int = 0  # the first load and every reload
    reloads: int = 0  # loads that threw a loaded model (and its caches) away
    cancelled: int = 0  # requests whose client left before the end
    rejected: int = 0  # 503: too many waiting


@dataclass
class Slot:
    index: int
    cache: str = ""  # the rendered sequence its KV cache holds
    busy: bool = False
    used_at: int = 0  # for ties: the least recently used slot goes first
    step: float = 0.0  # server seconds of its current step, alone (0: none yet)


class Cancelled(Exception):
    """The client disconnected."""


class QueueFull(Exception):
    """More requests wait than ``max_queue``."""


def token_count(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def shared_tokens(cache: str, prompt: str) -> int:
    """Whole tokens of ``prompt`` already in ``cache``."""
    return len(os.path.commonprefix([cache, prompt])) // CHARS_PER_TOKEN


def render(request: dict[str, Any], *, chat: bool) -> str:
    """The prompt as the model reads it (:func:`chatml`); empty to only load the model."""
    if not chat:
        prompt = str(request.get("prompt") or "")
        system = str(request.get("system") or "")
        if not prompt:
            return ""
        head = f"<|im_start|>system\n{system}{END_OF_TURN}\n" if system else ""
        return f"{head}<|im_start|>user\n{prompt}{END_OF_TURN}\n<|im_start|>assistant\n"
    messages = request.get("messages") or []
    return chatml(messages) if messages else ""


def chatml(messages: Sequence[dict[str, Any]]) -> str:
    """``messages`` in Qwen's ChatML layout, ending where the answer starts; a last message of
    the assistant is left open, as Ollama's Qwen template does: the answer continues it."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}{END_OF_TURN}\n" for m in messages)
    opened = messages and messages[-1].get("role") == "assistant"
    return text[: -len(END_OF_TURN) - 1] if opened else text + "<|im_start|>assistant\n"


class Runner:
    """One loaded model and its slots."""

    def __init__(self, config: CpuConfig) -> None:
        self.config = config
        self.slots = [Slot(i) for i in range(config.parallel)]
        self.stats = CpuStats()
        self.num_ctx: int | None = None  # None: not loaded
        self._changed: asyncio.Condition | None = None
        self._clock = itertools.count(1)
        self._waiting = 0

    async def work(self, slot: Slot, server_seconds: float) -> None:
        """One step of ``slot``, ``server_seconds`` long alone, with the busy slots' (see
        the module's docstring; Ollama's runner: ``processBatch``, one ``Decode`` a step)."""
        slot.step = server_seconds
        if self.config.batching:
            lasts = sum(s.step for s in self.slots if s.busy and s is not slot) + server_seconds
        else:
            lasts = server_seconds * max(1, sum(s.busy for s in self.slots))
        await asyncio.sleep(lasts / self.config.speed)

    async def acquire(self, prompt: str, num_ctx: int) -> tuple[Slot, float]:
        """Wait for a slot (reloading the model for another ``num_ctx``); the slot and the
        server seconds spent loading."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        if self._waiting >= self.config.max_queue:
            raise QueueFull
        self._waiting += 1
        try:
            async with self._changed:
                await self._changed.wait_for(lambda: self._can_start(num_ctx))
                loaded = 0.0
                if self.num_ctx != num_ctx:
                    loaded = await self._load(num_ctx)
                slot = max(
                    (s for s in self.slots if not s.busy),
                    key=lambda s: (shared_tokens(s.cache, prompt), -s.used_at),
                )
                slot.busy = True
                slot.used_at = next(self._clock)
                return slot, loaded
        finally:
            self._waiting -= 1

    async def release(self, slot: Slot) -> None:
        slot.busy, slot.step = False, 0.0
        slot.used_at = next(self._clock)
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def ensure_loaded(self, num_ctx: int) -> float:
        """A warm-up: load the model with ``num_ctx`` unless it already is."""
        slot, loaded = await self.acquire("", num_ctx)
        await self.release(slot)
        return loaded

    def _can_start(self, num_ctx: int) -> bool:
        if self.num_ctx == num_ctx:
            return any(not slot.busy for slot in self.slots)
        return not any(slot.busy for slot in self.slots)

    async def _load(self, num_ctx: int) -> float:
        if self.num_ctx is not None:
            self.stats.reloads += 1
        self.stats.loads += 1
        for slot in self.slots:
            slot.cache = ""
        self.num_ctx = num_ctx
        await asyncio.sleep(self.config.load_s / self.config.speed)
        return self.config.load_s

    async def evaluate(self, slot: Slot, prompt: str, gone: asyncio.Event) -> int:
        """Read ``prompt`` past what ``slot`` holds, batch by batch; the tokens evaluated."""
        total = token_count(prompt)
        shared = min(shared_tokens(slot.cache, prompt), total - 1)  # the last one is always read
        slot.cache = prompt[: shared * CHARS_PER_TOKEN]
        todo = total - shared
        self.stats.prompt_tokens_sent += total
        done = 0
        while done < todo:
            if gone.is_set():
                raise Cancelled
            batch = min(BATCH, todo - done)
            await self.work(slot, batch / self.config.prompt_tps)
            done += batch
            self.stats.prompt_tokens_evaluated += batch
            slot.cache = prompt[: (shared + done) * CHARS_PER_TOKEN]
        slot.cache = prompt
        return todo


@dataclass
class Timing:
    speed: float
    started: float = field(default_factory=time.perf_counter)
    load_s: float = 0.0
    prompt_s: float = 0.0
    evaluated: int = 0


def answer_tokens(rng: random.Random, words: Sequence[str], count: int) -> list[str]:
    """``count`` tokens of 4 characters of synthetic Spanish (the last may be shorter)."""
    text = ""
    while len(text) < count * CHARS_PER_TOKEN:
        text += (" " if text else "") + rng.choice(words)
    text = text[: count * CHARS_PER_TOKEN - 1].capitalize() + "."
    return [text[i : i + CHARS_PER_TOKEN] for i in range(0, len(text), CHARS_PER_TOKEN)]


async def watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


class CpuModel:
    """``/api/chat`` and ``/api/generate`` on a :class:`Runner`, and ``GET /stats``."""

    def __init__(self, config: CpuConfig, rng: random.Random, words: Sequence[str]) -> None:
        self.runner = Runner(config)
        self._rng = rng
        self._words = words

    async def stats(self, send: Send) -> None:
        await asgi_io.send_json(send, 200, asdict(self.runner.stats))

    async def generate(
        self,
        receive: Receive,
        send: Send,
        request: dict[str, Any],
        *,
        chat: bool,
        count: int,
        done_reason: str,
    ) -> None:
        """``count`` tokens, then the final line with ``done_reason`` (as Ollama's)."""
        options = request.get("options") or {}
        num_ctx = int(options.get("num_ctx") or self.runner.config.num_ctx)
        prompt = render(request, chat=chat)
        model = str(request.get("model"))
        if not prompt:
            loaded = await self.runner.ensure_loaded(num_ctx)
            await asgi_io.send_json(send, 200, _loaded_line(model, chat, loaded))
            return
        gone = asyncio.Event()
        watcher = asyncio.create_task(watch_disconnect(receive, gone))
        try:
            await self._answer(
                send, request, prompt, num_ctx, count, gone, chat=chat, done_reason=done_reason
            )
        except (Cancelled, OSError):  # OSError: uvicorn's send to a closed connection
            self.runner.stats.cancelled += 1
        finally:
            watcher.cancel()

    async def _answer(
        self,
        send: Send,
        request: dict[str, Any],
        prompt: str,
        num_ctx: int,
        count: int,
        gone: asyncio.Event,
        *,
        chat: bool,
        done_reason: str,
    ) -> None:
        runner = self.runner
        timing = Timing(runner.config.speed)
        runner.stats.requests += 1
        streamed = request.get("stream", True) is not False
        runner.stats.unstreamed += not streamed
        # Past num_ctx the start of the prompt is dropped (the cache no longer matches).
        prompt = prompt[-num_ctx * CHARS_PER_TOKEN :]
        try:
            slot, timing.load_s = await runner.acquire(prompt, num_ctx)
        except QueueFull:
            runner.stats.rejected += 1
            await asgi_io.send_json(send, 503, {"error": "server busy, please try again."})
            return
        try:
            before = time.perf_counter()
            timing.evaluated = await runner.evaluate(slot, prompt, gone)
            timing.prompt_s = (time.perf_counter() - before) * runner.config.speed
            tokens = answer_tokens(self._rng, self._words, count)
            model = str(request.get("model"))
            emit = _emitter(send, model, streamed, chat=chat)
            text = await self._generation(slot, tokens, gone, emit)
            if done_reason != "length":  # a cut answer has no end marker: it can go on
                slot.cache += END_OF_TURN
            runner.stats.completion_tokens += len(tokens)
            # Streamed, the text went token by token; unstreamed, it is all in the one line.
            shown = "" if streamed else text
            final = _final_line(model, chat, timing, tokens, shown, done_reason)
            await emit(json.dumps(final, ensure_ascii=False, separators=(",", ":")), False)
        finally:
            await runner.release(slot)

    async def _generation(
        self,
        slot: Slot,
        tokens: list[str],
        gone: asyncio.Event,
        emit: Callable[[str, bool], Awaitable[None]],
    ) -> str:
        text = ""
        for token in tokens:
            await self.runner.work(slot, 1 / self.runner.config.gen_tps)
            if gone.is_set():
                raise Cancelled
            text += token
            slot.cache += token
            await emit(json.dumps(token, ensure_ascii=False), True)
        return text


def _emitter(
    send: Send, model: str, streamed: bool, *, chat: bool
) -> Callable[[str, bool], Awaitable[None]]:
    """Sends a token (a JSON string) or the final line; the status line leaves with the first
    (or, unstreamed, only the final line is sent)."""
    started = False
    prefix = f'{{"model":{json.dumps(model)},"created_at":"{asgi_io.now()}",' + (
        '"message":{"role":"assistant","content":' if chat else '"response":'
    )
    suffix = '},"done":false}\n' if chat else ',"done":false}\n'

    async def emit(data: str, token: bool) -> None:
        nonlocal started
        if token and not streamed:
            return
        if not started:
            started = True
            headers = asgi_io.NDJSON if streamed else asgi_io.JSON
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = prefix + data + suffix if token else data + ("\n" if streamed else "")
        await send({"type": "http.response.body", "body": body.encode(), "more_body": token})

    return emit


def _final_line(
    model: str, chat: bool, timing: Timing, tokens: list[str], text: str, done_reason: str
) -> dict[str, Any]:
    total = (time.perf_counter() - timing.started) * timing.speed
    data: dict[str, Any] = {"model": model, "created_at": asgi_io.now()}
    data["message" if chat else "response"] = (
        {"role": "assistant", "content": text} if chat else text
    )
    ns = 1_000_000_000
    data.update(
        done=True,
        done_reason=done_reason,
        total_duration=int(total * ns),
        load_duration=int(timing.load_s * ns),
        prompt_eval_count=timing.evaluated,
        prompt_eval_duration=int(timing.prompt_s * ns),
        eval_count=len(tokens),
        eval_duration=max(0, int((total - timing.prompt_s - timing.load_s) * ns)),
    )
    return data


def _loaded_line(model: str, chat: bool, loaded_s: float) -> dict[str, Any]:
    data: dict[str, Any] = {"model": model, "created_at": asgi_io.now()}
    data["message" if chat else "response"] = {"role": "assistant", "content": ""} if chat else ""
    data.update(done=True, done_reason="load", load_duration=int(loaded_s * 1_000_000_000))
    return data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The CPU mode's options on the stand-in's command line."""
    defaults = CpuConfig()
    parser.add_argument("--cpu", action="store_true", help="a timed CPU server with slots")
    for name in ("prompt_tps", "gen_tps", "load_s", "parallel", "speed", "num_ctx", "max_queue"):
        default = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    parser.add_argument(
        "--batching", action="store_true", help="steps share the CPU as Ollama's batches do"
    )


def config_from_args(args: argparse.Namespace) -> CpuConfig | None:
    if not args.cpu:
        return None
    config = CpuConfig(**{f.name: getattr(args, f.name) for f in fields(CpuConfig)})
    if min(config.prompt_tps, config.gen_tps, config.speed, config.parallel) <= 0:
        raise SystemExit("--prompt-tps, --gen-tps, --speed y --parallel deben ser positivos")
    return config
