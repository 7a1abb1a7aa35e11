"""The floor of ``POST /chat``: the work the issue requires of an answer, and nothing else.

    .venv/bin/python -m bench.floor [--rounds 400] [--ttft-samples 200] [--concurrency 50]
                                    [--seconds 10] [--answer-tokens 64]

Issue 5 asks for a time-to-first-token overhead of at most 3 ms over the stand-in called
directly. Before the first token, ``POST /chat`` must check the caller's token and session in
the database, store the question and an empty answer (committed before Ollama is called),
send the conversation to Ollama and relay its first piece. This script measures how long that
work takes on this machine when nothing else is done: a relay in a process of its own, a
plain asyncio server (uvloop) with the app's own pieces and nothing around them: the app's
token check (``decode_access_token`` and the same checks of its ``SELECT``), the app's
statement that stores the question and the answer, on a bare asyncpg connection, the app's
prompt and payload, the app's aiohttp client function; after the answer, its final save and
the automatic title (the app's request and statements). No framework, no ORM, no
middleware, no queue, no registry of live answers, no metrics, no logs.

It starts one stand-in Ollama, the app (this checkout, ``energyapp serve``) and the relay on one
throwaway database, and sends one request at a time in rounds: the app, the relay (their order
swapped every round), then the stand-in directly, as ``bench/ttft_ab.py`` does. The relay's
overhead is the least any implementation of the issue's rules could reach on this machine in
this minute; the app's overhead minus the relay's is what the app's own layers cost.

Then each of the three on its own, one answer at a time (``--ttft-samples``), as
``bench/stream.py`` measures the goal; and the same three at ``--concurrency`` streams for
``--seconds`` each, as its throughput phase: answers per second of the app, of the relay and of
the stand-in alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvloop

from bench.stream import (
    BIN,
    MODEL,
    Direct,
    RssSampler,
    Target,
    ThroughApp,
    app_env,
    bench_database,
    concurrent_load,
    free_port,
    hardware,
    make_users,
    sequential_ttft,
    start_py_spy,
    start_stand_in,
    stop_all,
    wait_http,
)
from bench.ttft_ab import median_interval, rounds

HEAD_LIMIT = 16384
POOL_SIZE = 50  # the app's pool in these runs (ENERGYAPP_DB_POOL_SIZE), as in bench/stream.py
# The relay's connections are opened as needed, up to this many: the app keeps its own open
# meanwhile, and PostgreSQL's default max_connections (100) must hold both.
RELAY_POOL_MAX = 40


async def relay_main(port: int, db_url: str, stand_in: str) -> None:
    """The relay's server (run in its own process by :func:`main`)."""
    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

    from energyapp.auth.deps import _SESSION_CALLER
    from energyapp.auth.security import decode_access_token
    from energyapp.chat import prompt, sse
    from energyapp.chat.service import _FINISH_ANSWER, _SAVE_AUTO_TITLE, _single_statement
    from energyapp.config import load_settings
    from energyapp.core.direct import DirectStatement
    from energyapp.db import new_id, utcnow
    from energyapp.llm import client as llm

    settings = load_settings(db_url=db_url)  # the secret from app_env(), as the app's
    dialect = asyncpg_dialect()

    def compiled(statement: DirectStatement) -> tuple[str, Any]:
        done = statement._compile(dialect)  # the app's SQL and bind processors, verbatim
        return done.sql, done

    session_sql, session_c = compiled(_SESSION_CALLER)
    start_sql, start_c = compiled(_single_statement(True, False))
    finish_sql, finish_c = compiled(_FINISH_ANSWER)
    title_sql, title_c = compiled(_SAVE_AUTO_TITLE)
    pool = await asyncpg.create_pool(
        db_url.replace("postgresql+asyncpg", "postgresql").split("?")[0],
        min_size=4,
        max_size=RELAY_POOL_MAX,
    )
    http = llm.new_session(connect_timeout=5)
    titles: set[asyncio.Task[None]] = set()

    async def title(conversation: Any, asked: list[dict[str, str]], text: str) -> None:
        """The conversation's automatic title: the app's request, the app's statement."""
        options = prompt.chat_options(settings)
        options.update(num_predict=settings.title_num_predict, temperature=0.2)
        messages = prompt.title_follow_up(settings, asked, text)
        assert messages is not None  # noqa: S101 - a short benchmark conversation fits
        payload = llm.chat_payload(
            MODEL, messages, options=options, keep_alive=settings.keep_alive, stream=False
        )
        raw, _ = await llm.chat_once(http, stand_in, payload, read_timeout=120)
        name = prompt.clean_title(raw)
        if name:
            async with pool.acquire() as conn:
                values = {"b_id": conversation, "b_title": name}
                await conn.execute(title_sql, *DirectStatement._args(title_c, values))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > HEAD_LIMIT:
                    return
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
                await answer(headers, body, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def answer(
        headers: dict[bytes, bytes], body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        requested_at = time.perf_counter()
        token = headers[b"authorization"].decode().split(" ", 1)[1]
        claims = decode_access_token(settings, token)
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                session_sql,
                *DirectStatement._args(
                    session_c, {"user_id": claims.user_id, "session_id": claims.session_id}
                ),
            )
            if (
                row is None
                or row["session_revoked_at"] is not None
                or row["session_expires_at"] <= utcnow()
                or not row["is_active"]
            ):
                raise RuntimeError("refused")
            message = json.loads(body)["message"].strip()
            now = utcnow()
            question, answer_id, conversation = new_id(), new_id(), new_id()
            params = {
                "s_now": now,
                "s_conversation": conversation,
                "s_user": claims.user_id,
                "s_title": prompt.provisional_title(message),
                "s_question": question,
                "s_message": message,
                "s_answer": answer_id,
                "s_answer_created": now + timedelta(microseconds=1),
                "s_model": MODEL,
            }
            await conn.execute(start_sql, *DirectStatement._args(start_c, params))
        asked = prompt.build_messages(settings, [], message)
        payload = llm.chat_payload(
            MODEL,
            asked,
            options=prompt.chat_options(settings),
            keep_alive=settings.keep_alive,
        )
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        pending = sse.meta_event(str(answer_id), str(conversation), str(question))
        stats = llm.ChatStats()
        parts: list[str] = []
        async for piece in llm.stream_chat(http, stand_in, payload, token_timeout=120, stats=stats):
            parts.append(piece)
            chunk = pending + sse.event("token", {"content": piece})
            pending = b""
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        duration = int((time.perf_counter() - requested_at) * 1000)
        text = "".join(parts)
        async with pool.acquire() as conn:
            values = {
                "b_id": answer_id,
                "b_content": text,
                "b_status": "complete",
                "b_error_code": None,
                "b_prompt_tokens": stats.prompt_tokens,
                "b_completion_tokens": stats.completion_tokens,
                "b_duration_ms": duration,
                "b_first_token_ms": None,
                "b_now": utcnow(),
            }
            await conn.execute(finish_sql, *DirectStatement._args(finish_c, values))
        done = sse.event("done", {"assistant_message_id": str(answer_id), "status": "complete"})
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
        task = asyncio.get_running_loop().create_task(title(conversation, asked, text))
        titles.add(task)
        task.add_done_callback(titles.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def warm_then_ttft(target: Target, samples: int) -> list[float]:
    await sequential_ttft(target, 20)
    return await sequential_ttft(target, samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--ttft-samples", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="of each throughput run")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the app and the relay with py-spy (1,000 Hz) during their throughput runs",
    )
    parser.add_argument("--serve-relay", nargs=3, metavar=("PORT", "DB_URL", "STAND_IN"))
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    if args.serve_relay:
        port, db_url, stand_in = args.serve_relay
        uvloop.run(relay_main(int(port), db_url, stand_in))
        return

    procs: list[subprocess.Popen[bytes]] = []
    with bench_database("energyapp_floor") as db_url:
        try:
            tokens = asyncio.run(make_users(db_url, 4))
            stand_in_proc, stand_in = start_stand_in(args.answer_tokens)
            procs.append(stand_in_proc)
            app_port, relay_port = free_port(), free_port()
            app = subprocess.Popen(
                [str(BIN / "python"), "-m", "energyapp.cli", "serve", "--port", str(app_port)],
                env=app_env(db_url, stand_in, ENERGYAPP_DB_POOL_SIZE=str(POOL_SIZE)),
            )
            procs.append(app)
            relay = subprocess.Popen(
                [sys.executable, "-m", "bench.floor", "--serve-relay", str(relay_port), db_url]
                + [f"http://127.0.0.1:{stand_in}"],
                env=app_env(db_url, stand_in),
            )
            procs.append(relay)
            wait_http(f"http://127.0.0.1:{app_port}/health", 30, app)
            app_target, relay_target = ThroughApp(app_port, tokens), ThroughApp(relay_port, tokens)
            for _ in range(100):  # the relay has no /health: its first answer says it is up
                try:
                    asyncio.run(relay_target.once(0))
                    break
                except OSError:
                    time.sleep(0.1)
            direct = Direct(stand_in)
            values = asyncio.run(rounds(app_target, relay_target, direct, args.rounds))
            targets = {"stand-in alone": direct, "app": app_target, "floor relay": relay_target}
            sequential = {  # as bench/stream.py measures the goal: each path on its own
                name: uvloop.run(warm_then_ttft(target, args.ttft_samples))
                for name, target in targets.items()
            }
            servers = {"app": RssSampler(app.pid), "floor relay": RssSampler(relay.pid)}
            stand_in_cpu = RssSampler(stand_in_proc.pid)
            loads, cpu = {}, {}
            for name, target in targets.items():
                server = servers.get(name)
                before = (server.cpu_seconds() if server else 0.0, stand_in_cpu.cpu_seconds())
                spy = None
                if args.profile and server is not None:
                    output = args.profile / f"{name.replace(' ', '-')}.txt"
                    spy = start_py_spy(server.process.pid, output, args.seconds, 1000)
                loads[name] = uvloop.run(concurrent_load(target, args.concurrency, args.seconds))
                if spy is not None:
                    spy.wait(timeout=60)
                cpu[name] = (
                    server.cpu_seconds() - before[0] if server else 0.0,
                    stand_in_cpu.cpu_seconds() - before[1],
                )
        finally:
            stop_all(procs)
    direct_p50 = statistics.median(values["direct"])
    print(f"hardware: {hardware()}")
    print(f"load on the machine now (1/5/15 min): {os.getloadavg()}")
    print(f"rounds: {len(values['A'])}; stand-in directly: TTFT p50 {direct_p50:.2f} ms")
    for name, label in (("A", "app (POST /chat)"), ("B", "floor relay")):
        p50 = statistics.median(values[name])
        print(f"{label}: TTFT p50 {p50:.2f} ms, overhead p50 {p50 - direct_p50:.2f} ms")
    diffs = [va - vb for va, vb in zip(values["A"], values["B"], strict=True)]
    mid, low, high = median_interval(diffs)
    print(
        f"app - floor, paired by round: median {mid:+.2f} ms "
        f"(95 % interval {low:+.2f} to {high:+.2f})"
    )
    alone = statistics.median(sequential["stand-in alone"]) * 1000
    print(
        f"one stream, each path on its own ({args.ttft_samples} answers each, as bench/stream.py):"
        f" stand-in alone TTFT p50 {alone:.2f} ms"
    )
    for name in ("app", "floor relay"):
        p50 = statistics.median(sequential[name]) * 1000
        print(f"  {name}: TTFT p50 {p50:.2f} ms, overhead p50 {p50 - alone:.2f} ms")
    for name, load in loads.items():
        served, stand_in_seconds = (1000 * c / max(1, load.completed) for c in cpu[name])
        server_cpu = f"{name} {served:.2f} ms, " if name != "stand-in alone" else ""
        print(
            f"{args.concurrency} concurrent streams, {name}: "
            f"{load.completed / load.seconds:.0f} answers/s ({load.completed} in "
            f"{load.seconds:.1f} s), {load.errors} errors; CPU per answer: {server_cpu}"
            f"stand-in {stand_in_seconds:.2f} ms"
        )


if __name__ == "__main__":
    main()
