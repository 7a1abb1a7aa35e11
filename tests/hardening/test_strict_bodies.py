"""Request bodies take JSON's own types for flags and counts: ``{"pinned": "yes"}`` is a client
bug (a form value sent unconverted), and pydantic's lax mode would read it as ``true``. Every body
of the app's API refuses it with 422 ``validation_error`` in Spanish; ``/v1`` keeps the leniency
OpenAI's clients rely on (docs/api.md)."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError

from energyapp.conversations.models import Conversation
from tests.hardening.conftest import Actor

# What lax mode turns into the field's type, and must not.
COERCIBLE = {bool: ("yes", "true", 1, 0), int: ("30", 30.0, True)}


def _bodies(app: FastAPI) -> list[tuple[str, type[BaseModel]]]:
    found = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            for param in context.dependant.body_params:
                model = param.field_info.annotation
                if isinstance(model, type) and issubclass(model, BaseModel):
                    found.append((str(context.path), model))
    return found


def _plain_type(annotation: Any) -> Any:
    """``bool`` for ``bool``, ``StrictBool | None`` and the like."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return get_args(annotation)[0] if get_args(annotation) else annotation


def _coercible_fields(model: type[BaseModel]) -> list[tuple[str, Any]]:
    found = []
    for name, field in model.model_fields.items():
        kind = _plain_type(field.annotation)
        for value in COERCIBLE.get(kind, ()):
            found.append((name, value))
    return found


def test_app_bodies_take_flags_and_counts_only_as_json_types(app: FastAPI) -> None:
    checked = 0
    for path, model in _bodies(app):
        if path.startswith("/v1/"):
            continue
        for name, value in _coercible_fields(model):
            with pytest.raises(ValidationError) as caught:
                model.model_validate({name: value})
            types_at = {e["type"] for e in caught.value.errors() if e["loc"] == (name,)}
            assert types_at <= {"bool_type", "int_type"} and types_at, (path, name, value)
            checked += 1
    assert checked >= 20  # pinned, archived, regenerate, is_active, require_2fa, enabled, days


def test_openai_bodies_stay_lenient(app: FastAPI) -> None:
    (model,) = [m for path, m in _bodies(app) if path == "/v1/chat/completions"]
    request = model.model_validate(
        {"messages": [{"role": "user", "content": "hola"}], "max_tokens": 100.0, "temperature": 1}
    )
    assert request.model_dump()["max_tokens"] == 100


async def test_a_string_for_pinned_is_refused_in_spanish(
    client: httpx.AsyncClient, actors: dict[str, Actor], make_conversation: Any
) -> None:
    worker = actors["trabajador"]
    conversation: Conversation = await make_conversation(worker.user)
    url = f"/conversations/{conversation.id}"
    response = await client.patch(url, json={"pinned": "yes"}, headers=worker.headers)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Datos inválidos: pinned: debe ser verdadero o falso.",
        "code": "validation_error",
    }
    response = await client.patch(url, json={"pinned": True}, headers=worker.headers)
    assert response.status_code == 200 and response.json()["pinned"] is True


async def test_a_string_for_the_days_of_a_key_is_refused(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    headers = actors["trabajador"].headers
    body = {"name": "Integración", "expires_in_days": "30"}
    response = await client.post("/api-keys", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Datos inválidos: expires_in_days: debe ser un número entero."
    )
