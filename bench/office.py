"""Office-hour benchmark: people chatting with the app on a simulated CPU model server.

    .venv/bin/python -m bench.office                    # this checkout
    .venv/bin/python -m bench.office /work/base .       # A/B: another checkout, then this one
        [--users 6] [--turns 5] [--think 20] [--answer-tokens 120] [--speed 10]
        [--slots 1 4 6] [--seed 1] [--ollama-parallel N] [--hold 60]

For each slot count and each checkout, in one run: a throwaway PostgreSQL database with the
users (made by that checkout's code, ``bench/stream.py --prepare``), the stand-in Ollama of this
checkout in ``--cpu`` mode (60 prompt tokens/s, 10 generated tokens/s, 4 s to load, ``--parallel``
slots, every time divided by ``--speed``) and that checkout's app with ``ollama_max_parallel``
set to the same slot count and ``slot_hold_seconds`` to ``--hold`` (server seconds, sped up like
everything else; a checkout without slot affinity ignores it). Then ``--users`` people each hold
one conversation of ``--turns`` turns: a Spanish question of 15-60 words, the answer read to its
end (``--answer-tokens`` tokens), an exponential pause of mean ``--think`` seconds, the next
question. Every person and every pause is the same for every checkout and slot count (``--seed``).

Printed per checkout and slot count: time to first token (from the request to the first token,
p50 and p95, in the server's seconds: wall time times ``--speed``), the answer's whole time
(p50, to its last token: busy slots share the CPU, so more slots stream each answer slower),
the share of prompt tokens
the model evaluated (the rest came from the slots' caches), the model's loads and reloads, the
model requests per answer (titles included) and the title requests per conversation (the
stand-in counts both: an app's answers are streamed, its titles are not). The report is printed
and kept in ``bench/results/`` (not committed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import openwebui
from bench.stream import (
    ROOT,
    app_env,
    bench_database,
    checkout_env,
    free_port,
    recorded,
    revision,
    stop_all,
    wait_http,
)

_VOCABULARY = (  # noqa: SIM905 - reads as the sentence it is
    "cómo calculo el consumo mensual de la planta norte si el medidor de la subestación "
    "marcó lecturas distintas durante la mantención del transformador y necesito un informe "
    "para gerencia con las tarifas vigentes la potencia contratada los cortes programados "
    "las horas punta del invierno y una comparación con el año anterior en cada turno de "
    "operación además de recomendaciones de eficiencia energética para las bombas los "
    "motores y la iluminación de las oficinas y bodegas"
).split()


@dataclass
class Person:
    name: str
    questions: list[str]
    pauses: list[float]  # server seconds before each question


def workload(users: int, turns: int, think: float, seed: int) -> list[Person]:
    rng = random.Random(seed)  # noqa: S311 - a workload, not a secret
    people = []
    for index in range(users):
        questions = [
            " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(15, 60))).capitalize() + "?"
            for _ in range(turns)
        ]
        pauses = [rng.expovariate(1 / think) for _ in range(turns)]
        people.append(Person(f"p{index + 1}", questions, pauses))
    return people


@dataclass
class Run:
    """What one checkout did with one slot count."""

    checkout: str
    slots: int
    ttft: list[float] = field(default_factory=list)  # server seconds
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (TTFT, "person/turn")
    total: list[float] = field(default_factory=list)  # request to the answer's end
    answers: int = 0
    failed: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    events: dict[str, int] = field(default_factory=dict)  # Open WebUI's task results received
    # (told, waited): the first wait a queue event told, and the time from it to the first
    # token (slot wait and prompt reading), server seconds (chat/waits.py).
    waits: list[tuple[float, float]] = field(default_factory=list)


async def converse(
    client: httpx.AsyncClient, base: str, token: str, person: Person, speed: float, run: Run
) -> None:
    conversation: str | None = None
    headers = {"Authorization": f"Bearer {token}"}
    for turn, (pause, question) in enumerate(zip(person.pauses, person.questions, strict=True)):
        await asyncio.sleep(pause / speed)
        body: dict[str, str] = {"message": question}
        if conversation:
            body["conversation_id"] = conversation
        started = time.perf_counter()
        first = None
        status = None
        told: tuple[float, float] | None = None  # (wait told, when)
        async with client.stream("POST", f"{base}/chat", json=body, headers=headers) as response:
            if response.status_code != 200:
                run.failed += 1
                continue
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "meta":
                        conversation = data.get("conversation_id") or conversation
                    elif event == "queue" and told is None and data.get("wait_seconds") is not None:
                        told = (data["wait_seconds"], time.perf_counter())
                    elif event == "token" and first is None:
                        first = time.perf_counter() - started
                        if told is not None:
                            waited = time.perf_counter() - told[1]
                            run.waits.append((told[0] * speed, waited * speed))
                    elif event == "done":
                        status = data.get("status")
                        break
        ended = time.perf_counter() - started
        if status == "complete" and first is not None:
            run.answers += 1
            run.ttft.append(first * speed)
            run.slowest.append((first * speed, f"{person.name}/{turn + 1}"))
            run.total.append(ended * speed)
        else:
            run.failed += 1


def start_stand_in(
    slots: int, answer_tokens: int, args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "energyapp.llm.fake_server", "--port", str(port)),
            *("--cpu", "--parallel", str(slots), "--speed", str(args.speed)),
            *("--load-s", str(args.load_s)),
            *(("--batching",) if args.batching else ()),
            *("--answer-tokens", str(answer_tokens)),
        ],
        cwd=ROOT,
        env=checkout_env(ROOT),
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/version", 20, proc)
    except BaseException:
        stop_all([proc])
        raise
    return proc, port


def start_app(
    checkout: Path, db_url: str, stand_in: int, slots: int, args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = checkout_env(checkout, **app_env(db_url, stand_in))
    env.update(
        # the app's own clock runs at the server's: the slot hold is sped up too
        ENERGYAPP_SLOT_HOLD_SECONDS=str(args.hold / args.speed),
        ENERGYAPP_OLLAMA_MAX_PARALLEL=str(slots),
        ENERGYAPP_MAX_ACTIVE_PER_USER="1",
        ENERGYAPP_LLM_TOKEN_TIMEOUT="600",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "energyapp.cli", "serve", "--port", str(port)],
        env=env,
        cwd=checkout,
    )
    wait_http(f"http://127.0.0.1:{port}/health", 30, proc)
    return proc, port


def stand_in_stats(port: int) -> dict[str, int]:
    data: dict[str, int] = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=10).json()
    return data


def prepare_users(checkout: Path, db_url: str, users: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, ROOT / "bench" / "stream.py", "--prepare", db_url, str(users)],
        env=checkout_env(checkout),
        cwd=checkout,
        stdout=subprocess.PIPE,
        check=True,
    )
    tokens: list[str] = json.loads(done.stdout)
    return tokens


def measure(checkout: Path, slots: int, people: list[Person], args: argparse.Namespace) -> Run:
    run = Run(str(checkout), slots)
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(bench_database("energyapp_bench_office"))
        tokens = prepare_users(checkout, db_url, len(people))
        cache_slots = args.ollama_parallel or slots
        stand_in, stand_in_port = start_stand_in(cache_slots, args.answer_tokens, args)
        stack.callback(stop_all, [stand_in])
        app, port = start_app(checkout, db_url, stand_in_port, slots, args)
        stack.callback(stop_all, [app])
        time.sleep(args.load_s / args.speed + 0.5)  # a warm-up at start-up, if any, is over

        async def everyone() -> None:
            timeout = httpx.Timeout(None, connect=10)
            async with httpx.AsyncClient(timeout=timeout) as client:
                await asyncio.gather(
                    *(
                        converse(client, f"http://127.0.0.1:{port}", token, person, args.speed, run)
                        for token, person in zip(tokens, people, strict=True)
                    )
                )

        started = time.perf_counter()
        asyncio.run(everyone())
        run.wall = time.perf_counter() - started
        time.sleep(60 / args.speed)  # the last titles
        run.stats = stand_in_stats(stand_in_port)
    return run


def measure_openwebui(
    venv: Path, slots: int, people: list[Person], args: argparse.Namespace
) -> Run:
    """The same people through Open WebUI on a stand-in of ``slots`` slots (bench/openwebui.py)."""
    run = Run(str(venv), slots)
    with contextlib.ExitStack() as stack:
        stand_in, stand_in_port = start_stand_in(
            args.ollama_parallel or slots, args.answer_tokens, args
        )
        stack.callback(stop_all, [stand_in])
        model = openwebui.first_model(stand_in_port)
        base = stack.enter_context(openwebui.serving(venv, stand_in_port, model))
        jobs = [{"questions": p.questions, "pauses": p.pauses} for p in people]
        driven = openwebui.drive(venv, base, model, jobs, args.speed)
        time.sleep(60 / args.speed)  # tags and follow-ups still running
        run.stats = stand_in_stats(stand_in_port)
    run.ttft = [t * args.speed for t in driven.ttft]
    run.total = [t * args.speed for t in driven.total]
    run.answers, run.failed, run.wall, run.events = (
        driven.answers,
        driven.failed,
        driven.wall,
        driven.events,
    )
    return run


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_accuracy(waits: list[tuple[float, float]]) -> str:
    """How close the waits told were to the waits had."""
    told = [t for t, _ in waits]
    had = [w for _, w in waits]
    errors = [abs(t - w) for t, w in waits]
    within = sum(1 for t, w in waits if abs(t - w) <= max(30.0, 0.5 * w)) / len(waits)
    return (
        f"{len(waits)} told; told p50 {pct(told, 0.5):.0f}, waited p50 {pct(had, 0.5):.0f}; "
        f"|told - waited| p50 {pct(errors, 0.5):.0f}, p95 {pct(errors, 0.95):.0f}; "
        f"within 30 s or half the wait: {within:.0%}"
    )


def row(name: str, run: Run, users: int, ollama_parallel: int = 0) -> str:
    s = run.stats
    slots_note = f" (Ollama {ollama_parallel})" if ollama_parallel else ""
    evaluated = s["prompt_tokens_evaluated"] / max(1, s["prompt_tokens_sent"])
    per_answer = s["requests"] / max(1, run.answers)
    titles = s["unstreamed"] / max(1, users)
    return (
        f"| {name} | {run.slots}{slots_note} | "
        f"{pct(run.ttft, 0.5):.1f} | {pct(run.ttft, 0.95):.1f} | {pct(run.total, 0.5):.0f} | "
        f"{evaluated:.0%} | {s['loads']} / {s['reloads']} | {per_answer:.2f} | {titles:.1f} | "
        f"{run.answers} / {run.failed} | {s['cancelled']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("checkouts", nargs="*", type=Path, default=[ROOT])
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--think", type=float, default=20.0, help="mean pause, server seconds")
    parser.add_argument("--answer-tokens", type=int, default=120)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--load-s", type=float, default=4.0)
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 4, 6])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--batching", action="store_true", help="the stand-in shares the CPU as Ollama's batches"
    )
    parser.add_argument(
        "--hold", type=float, default=60.0, help="the app's slot_hold_seconds, server seconds"
    )
    parser.add_argument(
        "--ollama-parallel",
        type=int,
        default=0,
        help="the stand-in's slots (OLLAMA_NUM_PARALLEL) when not --slots: more prompt caches "
        "than answers at once",
    )
    parser.add_argument(
        "--openwebui",
        metavar="VENV",
        help=f"also measure the Open WebUI installed in VENV (default ${openwebui.VENV_VARIABLE}; "
        "bench/openwebui.py)",
    )
    parser.add_argument("--openwebui-only", action="store_true", help="no checkout of the app")
    args = parser.parse_args()
    checkouts = [Path(c).resolve() for c in args.checkouts]
    for checkout in checkouts:
        if not (checkout / "src" / "energyapp").is_dir():
            parser.error(f"{checkout} is not a checkout of this project (no src/energyapp)")
    venv, skipped = openwebui.find(args.openwebui)
    if skipped:
        print(skipped, file=sys.stderr)
        if args.openwebui_only:
            return
    owui = f"Open WebUI {openwebui.version(venv)}" if venv else ""
    if args.openwebui_only:
        checkouts = []
    people = workload(args.users, args.turns, args.think, args.seed)
    runs: list[tuple[str, Run]] = []
    for slots in args.slots:
        for index, checkout in enumerate(checkouts):
            name = chr(ord("A") + index)
            runs.append((name, measure(checkout, slots, people, args)))
            print(row(name, runs[-1][1], args.users, args.ollama_parallel), file=sys.stderr)
        if venv:
            runs.append((owui, measure_openwebui(venv, slots, people, args)))
            print(row(owui, runs[-1][1], args.users, args.ollama_parallel), file=sys.stderr)
    with recorded("office"):
        for index, checkout in enumerate(checkouts):
            print(f"{chr(ord('A') + index)} = {checkout} at {revision(checkout)}")
        if venv:
            print(f"{owui} = {venv}, driven as its browser drives it (bench/openwebui.py)")
        print(
            f"{args.users} users x {args.turns} turns, think {args.think:g} s, "
            f"{args.answer_tokens}-token answers, stand-in --cpu --speed {args.speed:g}"
            f"{' --batching' if args.batching else ''} "
            "(60 prompt tok/s, 10 tok/s, 4 s load); times in server seconds\n"
        )
        print(
            "| app | slots | TTFT p50 s | TTFT p95 s | answer p50 s | prompt evaluated | "
            "loads / reloads | "
            "requests per answer | titles per conversation | answers / failed | cancelled |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, run in runs:
            print(row(name, run, args.users, args.ollama_parallel))
        print("\nThe five slowest first tokens (server s, person/turn):")
        for name, run in runs:
            slowest = ", ".join(f"{t:.0f} {who}" for t, who in sorted(run.slowest)[-5:][::-1])
            if slowest:  # the app's runs (Open WebUI's client reports only its totals)
                print(f"- {name}, {run.slots} slots: {slowest}")
        estimates = [(name, run) for name, run in runs if run.waits]
        if estimates:
            print(
                "\nWaits for a slot told by queue events (the first one each answer got) against "
                "the wait from it to the first token, which adds the prompt's reading (server s):"
            )
        for name, run in estimates:
            print(f"- {name}, {run.slots} slots: {wait_accuracy(run.waits)}")
        notes = [(name, run) for name, run in runs if run.events]
        if notes:
            print(
                "\nOpen WebUI's 'titles per conversation' counts all its unstreamed task requests "
                "(titles, tags, follow-ups); what its people received:"
            )
        for name, run in notes:
            print(
                f"- {name}, {run.slots} slots: {run.events['titles']} titles, "
                f"{run.events['follow_ups']} follow-up sets, {run.events['tags']} tag sets (tags "
                "are announced only when the model answers JSON, which the stand-in does not)"
            )


if __name__ == "__main__":
    main()
