"""The length cap of an answer: every answer request sends ``num_predict`` (the room the prompt
keeps for the answer), an answer it cuts is stored and told as ``finish_reason`` "length"
(messages, the ``done`` event, a re-attach, the export), and the warm-up and titles keep their
own options."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.core.tokens import answer_reserve
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp, collect, load_message, named
from tests.conftest import HeadersFactory, UserFactory

NUM_CTX = 512  # answer_reserve: 128 tokens


def _answers(fake: FakeOllama) -> list[dict[str, Any]]:
    """The answer requests the stand-in received (titles are not streamed)."""
    return [r for r in fake.config.requests if r.get("stream") is not False]


async def _chat(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], **body: Any
) -> list[tuple[str, dict[str, Any]]]:
    async with http.stream("POST", f"{base}/chat", json=body, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        return await collect(response)


async def test_every_answer_request_is_capped_and_a_cut_answer_says_so(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    cap = answer_reserve(NUM_CTX)
    async with live_app(num_ctx=NUM_CTX) as (base, _app):
        # Ended by the model: "stop".
        events = await _chat(http, base, headers, message="Hola")
        done = named(events, "done")[0]
        assert (done["status"], done["finish_reason"]) == ("complete", "stop")
        cid, first_id = events[0][1]["conversation_id"], done["assistant_message_id"]
        assert _answers(fake[1])[-1]["options"] == {
            "num_ctx": NUM_CTX, "temperature": 0.7, "num_predict": cap,
        }  # fmt: skip
        # The title asks for its own few tokens, with the same num_ctx.
        titles = [r for r in fake[1].config.requests if r.get("stream") is False]
        assert titles and titles[-1]["options"]["num_predict"] != cap
        assert titles[-1]["options"]["num_ctx"] == NUM_CTX

        # Longer than the room: cut at the cap, "length", stored and listed.
        fake[1].config.answer_tokens = 1000
        events = await _chat(http, base, headers, message="Cuéntame todo", conversation_id=cid)
        done = named(events, "done")[0]
        assert (done["status"], done["finish_reason"]) == ("complete", "length")
        assert done["completion_tokens"] == cap
        cut_id = done["assistant_message_id"]
        saved = await load_message(sessionmaker, cut_id)
        assert (saved.status, saved.finish_reason) == ("complete", "length")

        # Regenerate and edit are capped the same way.
        question = saved.parent_id
        await _chat(
            http, base, headers, conversation_id=cid,
            parent_message_id=str(question), regenerate=True,
        )  # fmt: skip
        assert _answers(fake[1])[-1]["options"]["num_predict"] == cap
        await _chat(
            http, base, headers, message="Otra", conversation_id=cid,
            parent_message_id=first_id,
        )  # fmt: skip
        assert _answers(fake[1])[-1]["options"]["num_predict"] == cap

        listed = await http.get(f"{base}/conversations/{cid}/messages", headers=headers)
        reasons = {m["id"]: m["finish_reason"] for m in listed.json()["items"]}
        assert reasons[first_id] == "stop"

        # A re-attach of the finished answer and the JSON export tell it too.
        async with http.stream("GET", f"{base}/chat/{cut_id}/stream", headers=headers) as r:
            assert named(await collect(r), "done")[0]["finish_reason"] == "length"
        exported = await http.get(
            f"{base}/conversations/{cid}/export",
            params={"format": "json", "scope": "tree"},
            headers=headers,
        )
        by_id = {m["id"]: m for m in exported.json()["messages"]}
        assert by_id[cut_id]["finish_reason"] == "length"
        assert by_id[str(question)]["finish_reason"] is None


async def test_a_stopped_answer_has_no_finish_reason(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    fake[1].config.tokens_per_second = 50
    fake[1].config.answer_tokens = 1000
    async with live_app(num_ctx=NUM_CTX) as (base, _app):
        async with http.stream(
            "POST", f"{base}/chat", json={"message": "Hola"}, headers=headers
        ) as response:
            events = []
            async for line in response.aiter_lines():
                if line.startswith("data: ") and '"content"' in line:
                    break
                events.append(line)
            meta = next(line for line in events if "assistant_message_id" in line)
            answer_id = meta.split('"assistant_message_id":"')[1].split('"')[0]
            stopped = await http.post(f"{base}/chat/{answer_id}/stop", headers=headers)
            assert stopped.json()["status"] == "stopped"
        saved = await load_message(sessionmaker, answer_id)
        assert (saved.status, saved.finish_reason) == ("stopped", None)
