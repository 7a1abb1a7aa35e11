"""Prometheus metrics shared by the whole app (one registry per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
GENERATIONS_RUNNING = Gauge(
    "energyapp_generations_running", "Answers being generated now.", registry=REGISTRY
)
GENERATIONS_QUEUED = Gauge(
    "energyapp_generations_queued", "Answers waiting for a generation slot.", registry=REGISTRY
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
