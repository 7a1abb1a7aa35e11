"""HEAD wherever GET (RFC 9110 §9.3.2): every GET route answers HEAD with GET's status and
headers and no body (core/head.py); before, only /health did and the rest answered 405."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from energyapp.core.metrics import REGISTRY
from tests.conversations.conftest import ConversationFactory
from tests.hardening.conftest import Actor, endpoints


async def test_every_get_route_answers_head_as_get(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Without credentials: what GET answers (401 where a session is needed), never 405."""
    gets = [endpoint for endpoint in endpoints(app) if endpoint.method == "GET"]
    assert len(gets) > 20  # the enumeration found the included routers' routes
    for endpoint in gets:
        url = endpoint.url()
        head, get = await client.head(url), await client.get(url)
        assert head.status_code == get.status_code != 405, endpoint
        assert head.content == b"", endpoint
        assert head.headers.get("content-type") == get.headers.get("content-type"), endpoint
        if endpoint.needs_user:
            assert head.status_code == 401, endpoint
            assert head.headers["www-authenticate"] == "Bearer"


def _heads_counted() -> float:
    labels = {"method": "HEAD", "route": "/conversations/{conversation_id}", "status": "200"}
    return REGISTRY.get_sample_value("energyapp_http_requests_total", labels) or 0.0


async def test_head_with_credentials_is_get_without_the_body(
    client: httpx.AsyncClient, actors: dict[str, Actor], make_conversation: ConversationFactory
) -> None:
    worker, admin = actors["trabajador"], actors["admin"]
    conversation = await make_conversation(worker.user, messages=["Hola", "Buenos días"])
    cases = [
        (worker, "/auth/me"),
        (worker, "/conversations"),
        (worker, f"/conversations/{conversation.id}"),
        (worker, f"/conversations/{conversation.id}/messages"),
        (worker, f"/conversations/{conversation.id}/export?format=md"),
        (worker, "/conversations/export"),  # a streamed ZIP
        (worker, "/api-keys"),
        (admin, "/admin/users"),
        (admin, "/admin/audit"),
    ]
    counted = _heads_counted()
    for actor, url in cases:
        head = await client.head(url, headers=actor.headers)
        get = await client.get(url, headers=actor.headers)
        assert head.status_code == get.status_code == 200, (url, head.status_code)
        assert head.content == b"" and get.content != b"", url
        assert head.headers["content-type"] == get.headers["content-type"], url
    # Counted as HEAD under the route's template, as a GET is under its own.
    assert _heads_counted() == counted + 1
    # Someone else's conversation: the same 404 as GET, without its body.
    other = await client.head(f"/conversations/{conversation.id}", headers=admin.headers)
    assert other.status_code == 404 and other.content == b""


async def test_head_of_an_answer_stream_sends_its_headers_without_following_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    actors: dict[str, Actor],
    make_conversation: ConversationFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = actors["trabajador"]
    conversation = await make_conversation(worker.user, messages=["Hola", "Buenos días"])
    answer_id = conversation.current_leaf_id

    async def no_stream(*args: object, **kwargs: object) -> None:
        raise AssertionError("a HEAD started following the answer")

    monkeypatch.setattr(app.state.chat, "follow", no_stream)
    head = await client.head(f"/chat/{answer_id}/stream", headers=worker.headers)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/event-stream")
    # The same checks as GET: someone else's answer is not found.
    intruder = await client.head(f"/chat/{answer_id}/stream", headers=actors["admin"].headers)
    assert intruder.status_code == 404


async def test_a_405_allows_head_wherever_it_allows_get(client: httpx.AsyncClient) -> None:
    get_only = await client.delete("/auth/me")
    assert get_only.status_code == 405
    assert get_only.headers["allow"] == "GET, HEAD"
    post_only = await client.head("/auth/login")
    assert post_only.status_code == 405
    assert post_only.headers["allow"] == "POST"
