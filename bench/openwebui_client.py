"""Open WebUI's browser, as far as the model server can tell: the office-hour people on its API.

Run by ``bench/openwebui.py`` with Open WebUI's own Python (it needs ``python-socketio``, which
Open WebUI installs and this project does not): ``<venv>/bin/python bench/openwebui_client.py``
reads the job as JSON on stdin and prints the measurements as JSON on stdout. It imports only
what Open WebUI's venv has (httpx, python-socketio), nothing of this project.

What one turn sends, read from Open WebUI 0.12.4's own front end (``Chat.svelte``:
``sendMessageSocket``, ``chatEventHandler``, ``chatCompletedHandler``) with its default settings:

- the browser holds a Socket.IO connection (``/ws/socket.io``, token in ``auth``, then
  ``user-join``); the answer arrives there, not in the HTTP response;
- ``POST /api/chat/completions`` with ``stream: true``, the model entry of ``GET /api/models``
  as ``model_item``, the socket's id as ``session_id``, the new user and assistant message ids,
  ``parent_id`` (null on the first turn: the server creates the chat and answers its id) and
  ``background_tasks``: ``title_generation`` and ``tags_generation`` on the first turn,
  ``follow_up_generation`` on every turn. No ``messages``: the server reads the history from its
  database (only a system prompt would be sent, and there is none by default);
- after the first answer, ``events:chat`` ``join`` for the new chat; after each answer the chat
  list (``GET /api/v1/chats/?page=1``); on ``chat:title`` the chat list again; on ``chat:tags``
  the chat and ``GET /api/v1/chats/all/tags``.

The server then asks the model for the title at once (beside the answer, from the first
message), and after the answer for the tags and the follow-up questions, each an unstreamed
``/api/chat`` request with Open WebUI's default prompt template and the chat model. Every chat
request also carries the definitions of its 30 built-in tools (native function calling, its
default), which the stand-in does not render into the prompt (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import socketio  # type: ignore[import-not-found,unused-ignore]  # in Open WebUI's venv only

PASSWORD = "Bench-office-2026"  # noqa: S105 - a throwaway account on a throwaway data dir


@dataclass
class Person:
    """What one simulated person did."""

    ttft: list[float] = field(default_factory=list)  # wall seconds
    total: list[float] = field(default_factory=list)
    answers: int = 0
    failed: int = 0
    titles: int = 0
    tags: int = 0
    follow_ups: int = 0


class Turn:
    """The socket events of one assistant message."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None
        self.done = asyncio.Event()
        self.ok = False
        self.follow_ups = asyncio.Event()


def _has_text(kind: str, data: dict[str, Any]) -> bool:
    if kind == "response:completion":
        return bool(data.get("type", "").endswith(".delta") and data.get("delta"))
    return bool(data.get("content") or data.get("choices"))


class Browser:
    """One person's browser tab: a token, a socket and the chat it holds."""

    def __init__(self, http: httpx.AsyncClient, token: str, person: Person) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.token = token
        self.person = person
        self.sio = socketio.AsyncClient()
        self.turns: dict[str, Turn] = {}
        self.chat_id: str | None = None
        self.parent_id: str | None = None
        self.refreshes: set[asyncio.Task[Any]] = set()
        self.sio.on("events", self._on_event)

    async def connect(self, base: str) -> None:
        await self.sio.connect(
            base,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            auth={"token": self.token},
        )
        await self.sio.emit("user-join", {"auth": {"token": self.token}})

    async def _on_event(self, event: dict[str, Any]) -> None:
        turn = self.turns.get(event.get("message_id", ""))
        data = event.get("data") or {}
        kind, payload = data.get("type", ""), data.get("data") or {}
        if kind == "chat:title":
            self.person.titles += 1
            self._refresh("/api/v1/chats/?page=1")
        elif kind == "chat:tags":
            self.person.tags += 1
            self._refresh(f"/api/v1/chats/{event.get('chat_id')}", "/api/v1/chats/all/tags")
        if turn is None:
            return
        if kind == "chat:message:follow_ups":
            self.person.follow_ups += 1
            turn.follow_ups.set()
        elif kind in ("chat:completion", "response:completion") and isinstance(payload, dict):
            if turn.first is None and _has_text(kind, payload):
                turn.first = time.perf_counter() - turn.started
            if kind == "chat:completion" and (payload.get("done") or payload.get("error")):
                turn.ok = bool(payload.get("done")) and not payload.get("error")
                turn.done.set()
        elif kind == "chat:message:error":
            turn.done.set()

    def _refresh(self, *paths: str) -> None:
        async def get() -> None:
            for path in paths:
                await self.http.get(path, headers=self.headers)

        task = asyncio.create_task(get())
        self.refreshes.add(task)
        task.add_done_callback(self.refreshes.discard)

    async def turn(self, model_item: dict[str, Any], question: str) -> Turn:
        model = model_item["id"]
        user_id, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
        first = self.chat_id is None
        body: dict[str, Any] = {
            "stream": True,
            "model": model,
            "params": {"model_controls": {}},
            "tool_ids": [],
            "tool_servers": [],
            "features": {
                "voice": False,
                "image_generation": False,
                "code_interpreter": False,
                "web_search": False,
                "memory": True,  # its default: memories are on for every user
            },
            "variables": {"{{USER_LANGUAGE}}": "es-CL", "{{USER_LOCATION}}": "Unknown"},
            "model_item": model_item,
            "session_id": self.sio.get_sid(namespace="/"),
            "id": answer_id,
            "message_ids": [{"model_id": model, "message_id": answer_id, "modelIdx": 0}],
            "parent_id": self.parent_id,
            "user_message": {
                "id": user_id,
                "parentId": self.parent_id,
                "childrenIds": [answer_id],
                "role": "user",
                "content": question,
                "timestamp": int(time.time()),
                "models": [model],
            },
            "background_tasks": (
                {"title_generation": True, "tags_generation": True} if first else {}
            )
            | {"follow_up_generation": True},
        }
        if first:
            body["chat_variables"] = {}
        else:
            body["chat_id"] = self.chat_id
        turn = self.turns[answer_id] = Turn()
        response = await self.http.post("/api/chat/completions", json=body, headers=self.headers)
        if response.status_code != 200:
            turn.done.set()
            return turn
        if first:
            self.chat_id = response.json().get("chat_id")
            self._refresh("/api/v1/chats/?page=1")
            await self.sio.emit("events:chat", {"chat_id": self.chat_id, "data": {"type": "join"}})
        self.parent_id = answer_id
        await turn.done.wait()
        self._refresh("/api/v1/chats/?page=1")  # chatCompletedHandler
        return turn


async def converse(
    browser: Browser, model_item: dict[str, Any], job: dict[str, Any], speed: float
) -> None:
    person = browser.person
    last: Turn | None = None
    for pause, question in zip(job["pauses"], job["questions"], strict=True):
        await asyncio.sleep(pause / speed)
        last = await browser.turn(model_item, question)
        if last.ok and last.first is not None:
            person.answers += 1
            person.ttft.append(last.first)
            person.total.append(time.perf_counter() - last.started)
        else:
            person.failed += 1
    if last is not None and last.ok:  # the last follow-ups before the stand-in's totals
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(last.follow_ups.wait(), timeout=600 / speed)


async def accounts(http: httpx.AsyncClient, users: int) -> list[str]:
    """The first account is Open WebUI's admin; the people are plain users it adds."""
    admin = await http.post(
        "/api/v1/auths/signup",
        json={"name": "Admin", "email": "admin@bench.example", "password": PASSWORD},
    )
    admin.raise_for_status()
    headers = {"Authorization": f"Bearer {admin.json()['token']}"}
    tokens = []
    for index in range(users):
        added = await http.post(
            "/api/v1/auths/add",
            json={
                "name": f"Persona {index + 1}",
                "email": f"persona{index + 1}@bench.example",
                "password": PASSWORD,
                "role": "user",
            },
            headers=headers,
        )
        added.raise_for_status()
        tokens.append(added.json()["token"])
    return tokens


async def run(job: dict[str, Any]) -> dict[str, Any]:
    base, speed = job["base"], job["speed"]
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(None, connect=10)) as http:
        tokens = await accounts(http, len(job["people"]))
        browsers = [Browser(http, token, Person()) for token in tokens]
        for browser in browsers:
            await browser.connect(base)
        models = await http.get("/api/models", headers=browsers[0].headers)
        model_item = next(m for m in models.json()["data"] if m["id"] == job["model"])
        started = time.perf_counter()
        await asyncio.gather(
            *(
                converse(browser, model_item, person, speed)
                for browser, person in zip(browsers, job["people"], strict=True)
            )
        )
        wall = time.perf_counter() - started
        for browser in browsers:
            await asyncio.gather(*browser.refreshes, return_exceptions=True)
            await browser.sio.disconnect()
    return {"wall": wall, "people": [asdict(browser.person) for browser in browsers]}


def main() -> None:
    job = json.load(sys.stdin)
    json.dump(asyncio.run(run(job)), sys.stdout)


if __name__ == "__main__":
    main()
