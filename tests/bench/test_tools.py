"""The benchmark tools still run: each once, tiny, against the real stand-in and PostgreSQL.

They measure nothing here (their figures come from full runs, docs/performance.md); these runs
catch a tool broken by a change in the app it drives.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get(
    "ENERGYAPP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

pytestmark = pytest.mark.postgres_only  # the tools make throwaway PostgreSQL databases


def run_tool(results: Path, *args: str, **env: str) -> str:
    """``python -m <args>`` from the repository; its reports go to ``results``."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=dict(
            os.environ,
            ENERGYAPP_BENCH_RESULTS=str(results),
            ENERGYAPP_BENCH_PG_URL=PG_ADMIN_URL,
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_stream_measures_two_checkouts_in_one_run(tmp_path: Path) -> None:
    out = run_tool(
        tmp_path, "bench.stream", ".", ".", "--ttft-samples", "5", "--seconds", "0.5",
        "--concurrency", "4", "--starts", "1",
    )  # fmt: skip
    assert "stand-in directly: TTFT p50/p90" in out
    assert out.count("start to healthy /health: median") == 2
    assert "answers/s at 4 streams: " in out  # B as a share of A
    rows = [line for line in out.splitlines() if line.startswith(("| A ", "| B "))]
    assert len(rows) == 2 and all(row.endswith("| 0 | OK |") for row in rows), rows
    (report,) = tmp_path.iterdir()
    assert report.name.startswith("stream-") and report.read_text().endswith(rows[1] + "\n")


def test_broker_measures_three_set_ups_in_one_run(tmp_path: Path) -> None:
    out = run_tool(
        tmp_path, "bench.broker", "--ttft-samples", "3", "--seconds", "0.5", "--rounds", "1",
        "--concurrency", "4", "--redis-answers", "8",
    )  # fmt: skip
    assert out.count(": OK; not complete: none") == 3, out  # every answer stored complete
    assert re.search(r"^c: Redis broker \(2 processes\)$", out, re.MULTILINE)
    assert re.search(r"RSS per process: idle [\d.]+, [\d.]+ MB", out)  # c's two processes
    per_answer = re.findall(r"^  [bc]: ([\d.]+) commands per answer \(\d+ for 8 answers", out, re.M)
    assert len(per_answer) == 2 and all(float(n) > 0 for n in per_answer), out
    assert "evalsha" in out  # the broker's scripts, among the top commands
    bounds = re.findall(r" → (met|MISSED)$", out, re.MULTILINE)
    assert len(bounds) == 3, out
    (report,) = tmp_path.iterdir()
    assert report.name.startswith("broker-") and "bounds (issue 21):" in report.read_text()


def test_load_checks_every_answer_in_the_database(tmp_path: Path) -> None:
    out = run_tool(
        tmp_path, "bench.load", "--users", "3", "--ramp", "0.5", "--seconds", "2",
        "--think", "0.1", "0.3",
    )  # fmt: skip
    report = json.loads(out[out.index("\n{") :])
    assert report["unexpected_errors"] == 0
    assert (
        report["database_check"]["questions_stored"]
        == report["database_check"]["questions_accepted"]
    )


def test_list_endpoints_on_a_small_generated_data_set(tmp_path: Path) -> None:
    db_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/energyapp_bench_test_{secrets.token_hex(4)}"
    try:
        run_tool(
            tmp_path, "bench.generate_data", "--db-url", db_url, "--users", "200",
            "--conversations", "300", "--messages", "3000", "--heavy-conversations", "60",
            "--heavy-messages", "600",
        )  # fmt: skip
        ledger = asyncio.run(_ledger_check(db_url))
        # One ledger row per answer, as the app writes it: the question and its answer (2
        # messages), the answer's tokens, model and time, its owner's, web.
        assert ledger["answers"] > 0
        assert ledger["events"] == ledger["answers"] == ledger["matching"], ledger
        assert ledger["orphans"] == 0
        out = run_tool(
            tmp_path, "bench.list_endpoints", "--db-url", db_url, "--requests", "3",
            "--limit", "5",
        )  # fmt: skip
    finally:
        asyncio.run(drop_database(db_url.rsplit("/", 1)[1]))

    # 7 lists at their first and deep page, 2 searches at their first page.
    assert len(re.findall(r"^GET /.+ (first|deep) +\d", out, re.MULTILINE)) == 16, out
    assert out.count("\n=== GET ") == 16  # the EXPLAIN of each row's list query


async def _ledger_check(db_url: str) -> dict[str, int]:
    """Counts of the generated answers and of their ledger rows (``usage_events``)."""
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow(
            """
            SELECT
              (SELECT count(*) FROM messages WHERE role = 'assistant') AS answers,
              (SELECT count(*) FROM usage_events) AS events,
              (SELECT count(*) FROM usage_events e
                 JOIN messages m ON m.id = e.message_id
                 JOIN conversations c ON c.id = m.conversation_id
                WHERE m.role = 'assistant' AND e.user_id = c.user_id AND e.source = 'web'
                  AND e.status = m.status AND e.model = m.model
                  AND e.prompt_tokens = m.prompt_tokens
                  AND e.completion_tokens = m.completion_tokens
                  AND e.first_token_ms = m.first_token_ms
                  AND e.messages = 2 AND e.answers = 1 AND e.key_id IS NULL
                  AND e.created_at = m.updated_at) AS matching,
              (SELECT count(*) FROM usage_events e
                WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = e.message_id)) AS orphans
            """
        )
    finally:
        await conn.close()
    return dict(row)


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def test_office_runs_a_tiny_office_on_the_cpu_stand_in(tmp_path: Path) -> None:
    # A PYTHONPATH of the caller's (a worktree's) is replaced by each checkout's, not a crash.
    out = run_tool(
        tmp_path, "bench.office", ".", "--users", "2", "--turns", "2", "--think", "2",
        "--answer-tokens", "5", "--speed", "50", "--load-s", "1", "--slots", "2", "--batching",
        PYTHONPATH=str(ROOT / "src"),
    )  # fmt: skip
    assert "stand-in --cpu --speed 50 --batching" in out
    (row,) = [line for line in out.splitlines() if line.startswith("| A ")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "2" and cells[9] == "4 / 0", row  # two slots; every answer complete
    assert float(cells[2]) > 0 and cells[5].endswith("%")
    (report,) = tmp_path.iterdir()
    assert report.name.startswith("office-") and row in report.read_text()


def test_office_says_when_open_webui_is_not_installed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ENERGYAPP_BENCH_OPENWEBUI"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.office", "--openwebui-only", "--openwebui", str(tmp_path)],
        cwd=ROOT,
        env=dict(env, ENERGYAPP_BENCH_RESULTS=str(tmp_path / "results")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Open WebUI skipped: {tmp_path}/bin/open-webui does not exist" in done.stderr
    assert not (tmp_path / "results").exists()  # nothing measured, no report


@pytest.mark.skipif(
    not os.environ.get("ENERGYAPP_BENCH_OPENWEBUI"),
    reason="Open WebUI is not installed here (ENERGYAPP_BENCH_OPENWEBUI, bench/openwebui.py)",
)
def test_office_drives_open_webui_like_its_browser(tmp_path: Path) -> None:
    out = run_tool(
        tmp_path, "bench.office", "--openwebui-only", "--users", "2", "--turns", "2",
        "--think", "2", "--answer-tokens", "5", "--speed", "50", "--load-s", "1", "--slots", "2",
    )  # fmt: skip
    (row,) = [line for line in out.splitlines() if line.startswith("| Open WebUI ")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "2" and cells[9] == "4 / 0", row  # every answer complete
    # Two titles, two tag sets and four follow-up sets for two conversations of two turns.
    assert cells[7] == "3.00" and cells[8] == "4.0", row
