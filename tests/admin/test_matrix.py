"""Every endpoint × every role × (own, in-scope, out-of-scope object): exact statuses.

The cast: admin A (caller) and admin A2; supervisor S (caller) and supervisor S2; trabajador T
(caller) and trabajador T2. Each owns one conversation. For a caller, "own" is its own object,
"in_scope" belongs to T2 (a trabajador) and "out_of_scope" to S2 (another supervisor), which only
an admin may see. A missing object answers exactly like an out-of-scope one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from energyapp.auth.models import User
from energyapp.conversations.models import Conversation
from tests.conftest import HeadersFactory, UserFactory
from tests.conversations.conftest import ConversationFactory

ROLES = ("admin", "supervisor", "trabajador")
OBJECTS = ("own", "in_scope", "out_of_scope", "missing")


@dataclass
class World:
    users: dict[str, User]
    conversations: dict[str, Conversation]
    headers: dict[str, dict[str, str]]

    def user_for(self, role: str, obj: str) -> uuid.UUID:
        key = {"own": role, "in_scope": "trabajador2", "out_of_scope": "supervisor2"}.get(obj)
        return self.users[key].id if key else uuid.uuid4()

    def conversation_for(self, role: str, obj: str) -> uuid.UUID:
        key = {"own": role, "in_scope": "trabajador2", "out_of_scope": "supervisor2"}.get(obj)
        return self.conversations[key].id if key else uuid.uuid4()


@pytest.fixture
async def world(
    make_user: UserFactory, auth_headers: HeadersFactory, make_conversation: ConversationFactory
) -> World:
    users: dict[str, User] = {}
    for role in ROLES:
        users[role] = await make_user(role)
        users[f"{role}2"] = await make_user(role)
    conversations = {
        key: await make_conversation(user, f"de {key}", messages=[f"secreto de {key}", "ok"])
        for key, user in users.items()
    }
    headers = {role: await auth_headers(users[role]) for role in ROLES}
    return World(users, conversations, headers)


# status by (role, object) for endpoints on the caller's own conversations
OWN_ONLY = {(role, obj): (200 if obj == "own" else 404) for role in ROLES for obj in OBJECTS}
# admin-panel reads: admins see everything, supervisors trabajadores and themselves
SCOPED = {
    **{("admin", obj): (404 if obj == "missing" else 200) for obj in OBJECTS},
    **{("supervisor", obj): (200 if obj in ("own", "in_scope") else 404) for obj in OBJECTS},
    **{("trabajador", obj): 403 for obj in OBJECTS},
}
ADMIN_ONLY = {
    **{("admin", obj): (404 if obj == "missing" else 200) for obj in OBJECTS},
    **{(role, obj): 403 for role in ("supervisor", "trabajador") for obj in OBJECTS},
}


def _request(world: World, endpoint: str, role: str, obj: str) -> tuple[str, str, object]:
    cid = world.conversation_for(role, obj)
    uid = world.user_for(role, obj)
    target = world.users["trabajador"].id
    return {
        "get": ("GET", f"/conversations/{cid}", None),
        "patch": ("PATCH", f"/conversations/{cid}", {"pinned": True}),
        "delete": ("DELETE", f"/conversations/{cid}", None),
        "messages": ("GET", f"/conversations/{cid}/messages", None),
        "export_md": ("GET", f"/conversations/{cid}/export?format=md", None),
        "export_json": ("GET", f"/conversations/{cid}/export?format=json", None),
        "admin_messages": ("GET", f"/admin/conversations/{cid}/messages", None),
        "admin_conversations": ("GET", f"/admin/conversations?user_id={uid}", None),
        "reassign": ("POST", f"/admin/conversations/{cid}/reassign", {"user_id": str(target)}),
        "admin_patch_user": ("PATCH", f"/admin/users/{uid}", {"is_active": True}),
    }[endpoint]


EXPECTED = {
    "get": OWN_ONLY,
    "patch": OWN_ONLY,
    "delete": {k: (204 if v == 200 else v) for k, v in OWN_ONLY.items()},
    "messages": OWN_ONLY,
    "export_md": OWN_ONLY,
    "export_json": OWN_ONLY,
    "admin_messages": SCOPED,
    "admin_conversations": SCOPED,
    "reassign": SCOPED,
    "admin_patch_user": ADMIN_ONLY,
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(EXPECTED))
async def test_object_matrix(
    client: httpx.AsyncClient, world: World, endpoint: str, role: str
) -> None:
    """One world per (endpoint, role): the four objects of a row never touch each other."""
    for obj in OBJECTS:
        status = EXPECTED[endpoint][(role, obj)]
        method, url, body = _request(world, endpoint, role, obj)
        response = await client.request(method, url, json=body, headers=world.headers[role])
        assert response.status_code == status, (obj, response.text)
        if status == 404:
            assert response.json()["code"] in ("not_found", "user_not_found")
            assert "secreto" not in response.text
        if status == 403:
            assert response.json() == {
                "detail": "No tiene permiso para realizar esta acción.",
                "code": "forbidden",
            }
        if status == 200 and endpoint.startswith("export"):
            assert f"secreto de {role}" in response.text
        if status == 200 and endpoint == "admin_messages":
            assert len(response.json()["items"]) == 2


LISTS = {
    "/admin/users": {"admin": 200, "supervisor": 200, "trabajador": 403},
    "/admin/conversations": {"admin": 200, "supervisor": 200, "trabajador": 403},
    "/admin/usage": {"admin": 200, "supervisor": 200, "trabajador": 403},
    "/admin/audit": {"admin": 200, "supervisor": 200, "trabajador": 403},
    "/admin/audit/export.csv": {"admin": 200, "supervisor": 200, "trabajador": 403},
    "/admin/audit/actions": {"admin": 200, "supervisor": 200, "trabajador": 403},
    "/admin/usage/export.csv": {"admin": 200, "supervisor": 200, "trabajador": 403},
    "/admin/usage/ratings": {"admin": 200, "supervisor": 200, "trabajador": 403},
    "/admin/usage/ratings/down": {"admin": 200, "supervisor": 200, "trabajador": 403},
    "/conversations": {"admin": 200, "supervisor": 200, "trabajador": 200},
}


@pytest.mark.parametrize("role", ROLES)
async def test_list_matrix(client: httpx.AsyncClient, world: World, role: str) -> None:
    for url, table in LISTS.items():
        response = await client.get(url, headers=world.headers[role])
        assert response.status_code == table[role], (url, response.text)
    # Whatever the role, the own list holds only the caller's conversations.
    own = await client.get("/conversations", headers=world.headers[role])
    assert [c["id"] for c in own.json()["items"]] == [str(world.conversations[role].id)]
    searched = await client.get("/conversations?q=secreto", headers=world.headers[role])
    assert [c["id"] for c in searched.json()["items"]] == [str(world.conversations[role].id)]
    created = await client.post("/conversations", json={}, headers=world.headers[role])
    assert created.status_code == 201


ALL_ENDPOINTS = [
    ("GET", "/conversations"),
    ("POST", "/conversations"),
    ("GET", "/conversations/{cid}"),
    ("PATCH", "/conversations/{cid}"),
    ("DELETE", "/conversations/{cid}"),
    ("GET", "/conversations/{cid}/messages"),
    ("GET", "/conversations/{cid}/export"),
    ("GET", "/admin/users"),
    ("GET", "/admin/users/{uid}"),
    ("PATCH", "/admin/users/{uid}"),
    ("GET", "/admin/conversations"),
    ("GET", "/admin/conversations/{cid}/messages"),
    ("POST", "/admin/conversations/{cid}/reassign"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/audit/actions"),
    ("GET", "/admin/audit/export.csv"),
    ("GET", "/admin/conversations/{cid}"),
    ("GET", "/admin/usage/export.csv"),
    ("GET", "/admin/usage"),
    ("GET", "/admin/usage/ratings"),
    ("GET", "/admin/usage/ratings/down"),
    ("PUT", "/conversations/{cid}/messages/{cid}/feedback"),
    ("DELETE", "/conversations/{cid}/messages/{cid}/feedback"),
]


async def test_unauthenticated(client: httpx.AsyncClient) -> None:
    for method, path in ALL_ENDPOINTS:
        url = path.format(cid=uuid.uuid4(), uid=uuid.uuid4())
        response = await client.request(method, url, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "not_authenticated"


async def test_trabajador_forbidden_before_validation(
    client: httpx.AsyncClient, world: World
) -> None:
    # Even a malformed request does not tell a trabajador what the admin API expects.
    for method, path in ALL_ENDPOINTS:
        if path.startswith("/admin"):
            url = path.format(cid="x", uid="x")
            headers = world.headers["trabajador"]
            response = await client.request(method, url, json={}, headers=headers)
            assert response.status_code == 403, (method, path)
