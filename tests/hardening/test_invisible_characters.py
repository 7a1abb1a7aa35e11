"""Names and labels people read refuse control and invisible characters (Unicode Cc, Cf, Zl,
Zp, and the letters that draw nothing; a joiner inside an emoji sequence aside) and must show
something, through every way one is written: registration, profile, conversation create and
rename, API key names, the CLI's account creation."""

from __future__ import annotations

import unicodedata
import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth import service as auth_service
from energyapp.auth.models import User
from energyapp.chat import prompt
from energyapp.chat import service as chat_service
from energyapp.conversations.models import Conversation, Message
from energyapp.core import text
from energyapp.errors import Unprocessable
from tests.conftest import UserFactory
from tests.hardening.conftest import Actor

# Each one displays as something else or as nothing at all.
INVISIBLE = {
    "right-to-left override": "Juan \u202enimda",
    "left-to-right embedding": "Juan \u202aadmin",
    "bidi isolates": "\u2067Juan\u2069 Pérez",
    "zero width space": "ad\u200bmin",
    "zero width non-joiner": "ad\u200cmin",
    "joiner between letters": "ad\u200dmin",
    "word joiner": "ad\u2060min",
    "byte order mark": "\ufeffJuan",
    "soft hyphen": "Ju\u00adan",
    "tag characters": "Juan\U000e0041\U000e0042",
    "bell": "Juan\x07",
    "escape": "Juan \x1b[31mrojo",
    "start of heading": "\x01Juan",
    "delete": "Juan\x7f",
    "next line (C1)": "Juan\x85Pérez",
    "C1 control": "Juan\x9bPérez",
    "newline": "Juan\nPérez",
    "tab": "Juan\tPérez",
    "line separator": "Juan\u2028Pérez",
    "paragraph separator": "Juan\u2029Pérez",
    # Letters and symbols that draw nothing: a name of them looks empty, one inside a word
    # splits it ("ad min").
    "hangul filler": "ad\u3164min",
    "halfwidth hangul filler": "\uffa0\uffa0",
    "hangul jamo fillers": "Juan\u115f\u1160",
    "braille blank": "\u2800\u2800\u2800",
}
# Marks with no letter to sit on: nothing shows.
BLANK = {
    "variation selectors": "\ufe0f\ufe0f",
    "combining grapheme joiner": "\u034f\u034f",
    "khmer inherent vowels": "\u17b4\u17b5",
    "accents on a space": "\u0301 \u0308",
}
FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # 👩‍👩‍👧, joined by ZWJ
VISIBLE = (
    "José Ñúñez-Pérez",
    "María José O'Higgins",
    "Ана Иванова",
    f"Familia {FAMILY}",
    "Zoë ⚡ 李",
    "Zoe\u0308 (acento combinado)",
    "Equipo \u2764\ufe0f 1\ufe0f\u20e3",
    "한국 지사",
)


def _assert_refused(response: httpx.Response, context: str, reason: str) -> None:
    assert response.status_code == 422, f"{context}: {response.status_code} {response.text}"
    body = response.json()
    assert body["code"] == "validation_error", context
    assert reason in body["detail"], context


async def test_every_name_and_title_refuses_invisible_characters(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    headers = actors["trabajador"].headers
    created = await client.post("/conversations", json={"title": "inicial"}, headers=headers)
    conversation = f"/conversations/{created.json()['id']}"
    refusals = {
        name: (value, "caracteres de control ni invisibles") for name, value in INVISIBLE.items()
    }
    refusals.update({name: (value, "algún carácter visible") for name, value in BLANK.items()})
    for name, (value, reason) in refusals.items():
        writes = (
            ("PATCH", "/auth/me", {"full_name": value}, headers),
            ("POST", "/conversations", {"title": value}, headers),
            ("PATCH", conversation, {"title": value}, headers),
            (
                "POST",
                "/auth/register",
                {
                    "email": f"nombre-{uuid.uuid4().hex[:8]}@alvaradomazzei.cl",
                    "password": "Clave-muy-segura-2026",
                    "full_name": value,
                },
                {},
            ),
            ("POST", "/api-keys", {"name": value}, headers),
        )
        for method, url, body, request_headers in writes:
            response = await client.request(method, url, json=body, headers=request_headers)
            _assert_refused(response, f"{method} {url} {name}", reason)
    me = await client.get("/auth/me", headers=headers)
    assert me.json()["full_name"] == actors["trabajador"].user.full_name
    stored = await client.get(conversation, headers=headers)
    assert stored.json()["title"] == "inicial"


async def test_visible_names_and_titles_are_kept(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    headers = actors["trabajador"].headers
    for value in VISIBLE:
        stored = unicodedata.normalize("NFC", value)  # "Zoe\u0308" is kept as "Zoë"
        profile = await client.patch("/auth/me", json={"full_name": value}, headers=headers)
        assert profile.status_code == 200, value
        assert profile.json()["full_name"] == stored
        created = await client.post("/conversations", json={"title": value}, headers=headers)
        assert created.status_code == 201, value
        assert created.json()["title"] == stored


async def test_a_nul_is_refused_by_the_json_guard(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    """NUL, the one control no database stores, never reaches the name rule: the body guard in
    front of every route refuses it with its own code."""
    response = await client.patch(
        "/auth/me", json={"full_name": "Juan\x00"}, headers=actors["trabajador"].headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_characters"


@pytest.mark.parametrize("name", ["Juan \u202enimda", "ad\u200bmin", "Juan\x07"])
async def test_accounts_created_outside_the_api_take_the_same_rule(
    sessionmaker: async_sessionmaker[AsyncSession], name: str
) -> None:
    """``energyapp create-user`` (and the demo seed) create accounts through the service."""
    email = f"cli-{uuid.uuid4().hex[:8]}@alvaradomazzei.cl"
    async with sessionmaker() as session:
        with pytest.raises(Unprocessable) as refused:
            await auth_service.create_user(
                session, email=email, password="Clave-muy-segura-2026", full_name=name
            )
        assert "caracteres de control ni invisibles" in refused.value.detail
        assert await session.scalar(select(User).where(User.email == email)) is None


async def test_a_chat_message_is_free_text_but_its_title_is_a_label(
    sessionmaker: async_sessionmaker[AsyncSession], make_user: UserFactory
) -> None:
    """A new conversation is named after its first message until the model names it: the
    message keeps every character, the title drops what no label may hold."""
    user = await make_user()
    message = "factura\u202egnp.exe ad\u200bmin\x07 revisar"
    async with sessionmaker() as session:
        started = await chat_service.start_chat(session, user, None, message, "modelo")
        await session.commit()
        conversation = await session.get(Conversation, started.conversation_id)
        question = await session.get(Message, started.user_message_id)
    assert question is not None and question.content == message
    assert conversation is not None and conversation.title == "facturagnp.exe admin revisar"


def test_labels_made_from_free_text_drop_what_the_rule_refuses() -> None:
    for value in INVISIBLE.values():
        assert not text.has_invisible(text.without_invisible(value)), value
        assert not text.has_invisible(prompt.provisional_title(value)), value
        assert not text.has_invisible(prompt.clean_title(value) or ""), value
    # Cutting a title at 200 characters never leaves an emoji's joiner last.
    assert not text.has_invisible(prompt.provisional_title("x" * 198 + FAMILY))
    assert prompt.clean_title(f"Título: «\u202eFactura {FAMILY}»") == f"Factura {FAMILY}"
    assert text.without_invisible("Juan \u202enimda") == "Juan nimda"
    assert text.without_invisible("Juan\nPérez\u2028x") == "Juan Pérez x"
    assert text.without_invisible(f"Familia {FAMILY}") == f"Familia {FAMILY}"
