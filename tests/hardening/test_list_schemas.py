"""Every list renders one way: the service's rows, serialised by the route's ``response_model``.
Each list's first and second page, with real rows, must conform to the OpenAPI schema the app
publishes (schemathesis' response-schema check)."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

import httpx
import schemathesis
from fastapi import FastAPI
from schemathesis import checks
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.apikeys.models import ApiKey
from energyapp.conversations.models import Conversation, Message
from energyapp.db import utcnow
from energyapp.feedback.models import MessageFeedback
from energyapp.sharing.models import SharedLink
from tests.conftest import HeadersFactory, UserFactory
from tests.hardening.conftest import list_operations

CONFORMANCE = [checks.response_schema_conformance, checks.content_type_conformance]


async def _seed(sessionmaker: async_sessionmaker[AsyncSession], owner_id: Any) -> Conversation:
    async with sessionmaker() as session:
        conversations = [
            Conversation(user_id=owner_id, title=f"Conversación {n}", message_count=2)
            for n in range(2)
        ]
        session.add_all(conversations)
        await session.flush()
        for conversation in conversations:
            answer_id = uuid.uuid4()
            session.add_all(
                [
                    Message(
                        conversation_id=conversation.id,
                        user_id=owner_id,
                        role="user",
                        content="¿Qué es un kWh?",
                    ),
                    Message(
                        id=answer_id,
                        conversation_id=conversation.id,
                        user_id=owner_id,
                        role="assistant",
                        content="Una **unidad** de energía.",
                        model="qwen2.5:3b-instruct",
                        prompt_tokens=12,
                        completion_tokens=7,
                    ),
                ]
            )
            # Shared links for "Enlaces compartidos" (two pages).
            session.add(
                SharedLink(
                    token=secrets.token_urlsafe(32),
                    conversation_id=conversation.id,
                    user_id=owner_id,
                    leaf_message_id=answer_id,
                )
            )
            # Poorly rated answers for the "Uso" tab's list.
            await session.flush()
            session.add(
                MessageFeedback(
                    message_id=answer_id, user_id=owner_id, rating="down", comment="Mal"
                )
            )
        # Keys for the admin panel's key list (two pages).
        session.add_all(
            ApiKey(
                user_id=owner_id,
                name=f"Clave {n}",
                prefix="ea_abcde",
                digest=secrets.token_hex(32),
                expires_at=utcnow() + timedelta(days=90),
            )
            for n in range(2)
        )
        await session.commit()
    return conversations[0]


async def test_every_list_page_conforms_to_its_schema(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await make_user(role="admin")
    headers = await auth_headers(admin)
    await make_user(role="trabajador")
    conversation = await _seed(sessionmaker, admin.id)
    worker = await make_user(role="trabajador")
    await _seed(sessionmaker, worker.id)
    # Audit events to page through: viewing another user's conversations is audited.
    for _ in range(2):
        await client.get(
            "/admin/conversations", params={"user_id": str(worker.id)}, headers=headers
        )
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = list_operations(app)
    assert len(operations) >= 6, operations
    for method, path in operations:
        operation = schema[path][method]
        path_parameters = {"conversation_id": str(conversation.id)} if "{" in path else {}
        cursor: str | None = None
        for page in (1, 2):
            query: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            url = path.format(**path_parameters)
            response = await client.request(method, url, params=query, headers=headers)
            assert response.status_code == 200, (path, page, response.text)
            body = response.json()
            assert body["items"], (path, page)  # real rows, not an empty page
            case = operation.Case(path_parameters=path_parameters, query=query)
            case.validate_response(response, checks=CONFORMANCE)
            cursor = body["next_cursor"]
            assert cursor is not None or page == 2, path
