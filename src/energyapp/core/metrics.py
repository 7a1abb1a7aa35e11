"""Prometheus metrics shared by the whole app.

One process: the values live in ``REGISTRY``. Several workers (``energyapp serve --workers N``, or
any instance with Redis): ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before this module is first
imported (core/multiproc.py), every process writes its values to files there, and ``/metrics``
sums them, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from energyapp.core.multiproc import MULTIPROC_ENV

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "energyapp_http_requests_total",
    "HTTP requests by route template, method and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "energyapp_http_request_duration_seconds",
    "Time to the response head, by route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
# livesum: with several workers, the sum over the processes alive now (a dead worker's answers are
# no longer running on it).
GENERATIONS_RUNNING = Gauge(
    "energyapp_generations_running",
    "Answers being generated now.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
GENERATIONS_QUEUED = Gauge(
    "energyapp_generations_queued",
    "Answers waiting for a generation slot.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
TITLES_PREEMPTED = Counter(
    "energyapp_titles_preempted_total",
    "Automatic-title requests that gave their slot up to a user's answer.",
    registry=REGISTRY,
)
TITLE_REQUESTS = Counter(
    "energyapp_title_requests_total",
    "Automatic-title requests sent to the model (titles from the first words send none).",
    registry=REGISTRY,
)
# What the model server's prompt cache saves: the prompts sent, as the model reads them, and the
# part it evaluated (Ollama's prompt_eval_count leaves the cached prefix out).
PROMPT_TOKENS_SENT = Counter(
    "energyapp_llm_prompt_tokens_sent_total",
    "Prompt tokens sent to the model (estimated at 4 characters a token).",
    registry=REGISTRY,
)
PROMPT_TOKENS_EVALUATED = Counter(
    "energyapp_llm_prompt_tokens_evaluated_total",
    "Prompt tokens the model evaluated (not found in its prompt cache).",
    registry=REGISTRY,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "energyapp_time_to_first_token_seconds",
    "From the request to the first token streamed.",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
# The two parts of the time to first token that are not the app's own: on a CPU server they are
# nearly all of it, and they call for different remedies (more slots vs. shorter prompts).
QUEUE_WAIT = Histogram(
    "energyapp_queue_wait_seconds",
    "Time an answer waited for a generation slot.",
    buckets=(0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
LLM_FIRST_TOKEN = Histogram(
    "energyapp_llm_first_token_seconds",
    "From the request to Ollama to its first token (the model reading the prompt, plus HTTP).",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
TOKENS_GENERATED = Counter(
    "energyapp_tokens_generated_total", "Completion tokens generated.", registry=REGISTRY
)
GENERATIONS_FINISHED = Counter(
    "energyapp_generations_finished_total",
    "Finished answers by final status.",
    ["status"],
    registry=REGISTRY,
)
LLM_ERRORS = Counter(
    "energyapp_llm_errors_total", "Errors talking to Ollama, by code.", ["code"], registry=REGISTRY
)
MAIL_FAILURES = Counter(
    "energyapp_mail_failures_total",
    "Emails the SMTP relay did not take, by kind (password_reset, email_verification).",
    ["kind"],
    registry=REGISTRY,
)

_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def _multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> bytes:
    """The metrics in Prometheus' text format: this process's, or with several workers the sum of
    every worker's files (counters and histograms of workers that died included, as Prometheus
    expects of a counter)."""
    directory = _multiproc_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_workers() -> None:
    """Drop the live gauges of workers that are gone (killed, so they could not do it
    themselves): their answers are no longer running. Called as each worker starts."""
    directory = _multiproc_dir()
    if directory is None:
        return
    for path in Path(directory).glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.match(path.name)
        if match and not _alive(int(match.group(1))):
            multiprocess.mark_process_dead(int(match.group(1)), directory)  # type: ignore[no-untyped-call]


def forget_this_worker() -> None:
    """At a worker's clean exit: its live gauges stop counting at once."""
    directory = _multiproc_dir()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
