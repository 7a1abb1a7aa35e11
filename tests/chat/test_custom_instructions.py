"""Custom instructions reach the model in the system message of the conversations created after
they were saved, and each conversation keeps its copy: later turns, regenerated answers and
edited questions are sent the same system message as its first turn (so the model server's
cached prompt stays valid), whatever the person changed meanwhile. ``/v1`` never applies them."""

from __future__ import annotations

from typing import Any

import httpx

from energyapp.chat import prompt
from energyapp.conversations.tree import NO_PARENT
from energyapp.core.tokens import message_limit
from energyapp.instructions.service import Instructions
from energyapp.llm.fake_server import FakeOllama
from tests.chat.conftest import LiveApp
from tests.chat.conftest import ask as _ask
from tests.conftest import HeadersFactory, UserFactory

SYSTEM = "Sistema de prueba."
STUDENT = "Soy estudiante de electricidad de INACAP."
BRIEF = "Responde breve y con ejemplos."
TEACHER = "Soy profesor de matemáticas."


def _system_sent(fake: tuple[str, FakeOllama]) -> str:
    """The system message of the last answer request (titles are not streamed)."""
    last = [r for r in fake[1].config.requests if r.get("stream") is not False][-1]
    first = last["messages"][0]
    assert first["role"] == "system"
    content: str = first["content"]
    return content


async def _save(http: httpx.AsyncClient, base: str, headers: dict[str, str], **body: Any) -> None:
    response = await http.put(f"{base}/auth/me/instructions", json=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_each_conversation_keeps_the_instructions_it_was_created_with(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    other = await auth_headers(await make_user())
    async with live_app(system_prompt=SYSTEM) as (base, _app):
        before = await _ask(http, base, headers, message="Antes de guardarlas")
        assert _system_sent(fake) == SYSTEM

        await _save(http, base, headers, about_user=STUDENT, response_style=BRIEF, enabled=True)
        first = await _ask(http, base, headers, message="Primera")
        with_student = _system_sent(fake)
        assert with_student.startswith(SYSTEM + "\n\n")
        block = with_student[len(SYSTEM) :]
        assert prompt.INSTRUCTIONS_OPEN in block and block.endswith(prompt.INSTRUCTIONS_CLOSE)
        assert f"{prompt.ABOUT_HEADING}\n{STUDENT}\n{prompt.STYLE_HEADING}\n{BRIEF}" in block
        assert with_student == prompt.system_content(
            _app.state.settings, Instructions(STUDENT, BRIEF)
        )

        # Another person's conversation is not touched by them.
        await _ask(http, base, other, message="Hola")
        assert _system_sent(fake) == SYSTEM

        # Changed: the conversation started before keeps its copy at every kind of turn.
        await _save(http, base, headers, about_user=TEACHER, response_style="", enabled=True)
        cid = first["conversation_id"]
        second = await _ask(http, base, headers, message="Segunda", conversation_id=cid)
        assert _system_sent(fake) == with_student
        await _ask(
            http, base, headers, conversation_id=cid,
            parent_message_id=second["user_message_id"], regenerate=True,
        )  # fmt: skip
        assert _system_sent(fake) == with_student
        await _ask(
            http, base, headers, message="Primera, editada", conversation_id=cid,
            parent_message_id=str(NO_PARENT),
        )  # fmt: skip
        assert _system_sent(fake) == with_student
        # A conversation created before any instructions stays without them.
        await _ask(http, base, headers, message="Sigo", conversation_id=before["conversation_id"])
        assert _system_sent(fake) == SYSTEM

        # A new conversation takes the new ones.
        newer = await _ask(http, base, headers, message="Nueva")
        with_teacher = _system_sent(fake)
        assert TEACHER in with_teacher and STUDENT not in with_teacher
        assert prompt.STYLE_HEADING not in with_teacher  # an empty text has no heading

        # Switched off: new conversations get the global prompt alone, the others keep theirs.
        await _save(http, base, headers, about_user=TEACHER, response_style="", enabled=False)
        await _ask(http, base, headers, message="Sin instrucciones")
        assert _system_sent(fake) == SYSTEM
        await _ask(http, base, headers, message="Y esta", conversation_id=newer["conversation_id"])
        assert _system_sent(fake) == with_teacher


async def test_the_openai_api_does_not_apply_them(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    headers = await auth_headers(await make_user())
    async with live_app(system_prompt=SYSTEM) as (base, _app):
        await _save(http, base, headers, about_user=STUDENT, response_style=BRIEF, enabled=True)
        created = await http.post(f"{base}/api-keys", json={"name": "Script"}, headers=headers)
        key = {"Authorization": f"Bearer {created.json()['key']}"}
        for store in (False, True):
            response = await http.post(
                f"{base}/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "Hola"}], "store": store},
                headers=key,
            )
            assert response.status_code == 200, response.text
            assert fake[1].config.requests[-1]["messages"][0] == {
                "role": "system",
                "content": SYSTEM,
            }
        # The conversation /v1 stored keeps no instructions: continued on the web, neither.
        listed = await http.get(f"{base}/conversations", headers=headers)
        (stored,) = listed.json()["items"]
        await _ask(http, base, headers, message="Desde la web", conversation_id=stored["id"])
        assert _system_sent(fake) == SYSTEM


async def test_a_question_must_fit_beside_the_conversations_instructions(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    fake: tuple[str, FakeOllama],
) -> None:
    """The composer's limit counts the global system prompt only; long instructions take room
    in the context too, and a question that fits without them but not with them is a 413 (the
    conversation and the question are not kept), not a prompt whose start Ollama would cut."""
    headers = await auth_headers(await make_user())
    long_text = "Contexto de trabajo. " * 47  # just under 1000 characters
    async with live_app(system_prompt=SYSTEM, num_ctx=2048) as (base, app):
        settings = app.state.settings
        plain = message_limit(settings)
        with_them = message_limit(
            settings, prompt.system_content(settings, Instructions(long_text, long_text))
        )
        assert with_them < plain

        async def limit(conversation_id: str | None = None, who: dict[str, str] = headers) -> Any:
            params = {"conversation_id": conversation_id} if conversation_id else {}
            return await http.get(f"{base}/chat/limit", params=params, headers=who)

        assert (await limit()).json() == {"max_message_chars": plain}
        before = await _ask(http, base, headers, message="Antes de las instrucciones")
        await _save(
            http, base, headers, about_user=long_text, response_style=long_text, enabled=True
        )
        # What the composer asks: a new conversation gets the limit beside the instructions in
        # force, one created before keeps the room its copy (none) leaves.
        assert (await limit()).json() == {"max_message_chars": with_them}
        assert (await limit(before["conversation_id"])).json() == {"max_message_chars": plain}
        stranger = await auth_headers(await make_user())
        assert (await limit(before["conversation_id"], stranger)).status_code == 404
        message = "x" * (with_them + 1)
        refused = await http.post(f"{base}/chat", json={"message": message}, headers=headers)
        assert refused.status_code == 413, refused.text
        assert refused.json() == {
            "detail": f"El mensaje es demasiado largo ({with_them + 1} caracteres; el máximo con"
            f" sus instrucciones personalizadas es {with_them}). Divídalo en partes.",
            "code": "message_too_long",
        }
        listed = await http.get(f"{base}/conversations", headers=headers)
        # Nothing half-written: the refused question made no conversation.
        assert [c["id"] for c in listed.json()["items"]] == [before["conversation_id"]]
        # Without them the same question goes.
        await _save(http, base, headers, about_user=long_text, response_style="", enabled=False)
        assert (await limit()).json() == {"max_message_chars": plain}
        answered = await _ask(http, base, headers, message=message)
        assert answered["conversation_id"]
