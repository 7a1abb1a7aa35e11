"""The API-key events in the audit trail: Spanish sentences and names like every other action,
and a supervisor sees what an admin did to the keys of its people."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from energyapp.audit.labels import ACTION_NAMES, EventFacts, Names, Person, describe
from tests.conftest import HeadersFactory, UserFactory


async def _trail(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/admin/audit", params={"limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_key_events_read_as_sentences_and_reach_the_supervisor(
    client: httpx.AsyncClient, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    admin = await make_user("admin", full_name="Ana Admin")
    supervisor = await make_user("supervisor", full_name="Sara Supervisora")
    juan = await make_user("trabajador", full_name="Juan Pérez")
    admin_h, sup_h, juan_h = [await auth_headers(u) for u in (admin, supervisor, juan)]
    created = await client.post("/api-keys", json={"name": "Planilla"}, headers=juan_h)
    assert created.status_code == 201, created.text
    key_id, prefix = created.json()["id"], created.json()["prefix"]
    for enabled in (False, True):
        switched = await client.put(
            f"/admin/users/{juan.id}/api-access", json={"enabled": enabled}, headers=admin_h
        )
        assert switched.status_code == 200, switched.text
    revoked = await client.delete(f"/admin/api-keys/{key_id}", headers=admin_h)
    assert revoked.status_code == 200, revoked.text

    expected = {
        "api_key_created": f"Creó la clave de API «Planilla» ({prefix}…)",
        "api_keys_disabled": "Deshabilitó las claves de API de Juan Pérez",
        "api_keys_enabled": "Habilitó las claves de API de Juan Pérez",
        "api_key_revoked": f"Revocó la clave de API «Planilla» ({prefix}…) de Juan Pérez",
    }
    for headers in (admin_h, sup_h):
        trail = {e["action"]: e for e in await _trail(client, headers)}
        assert {code: trail[code]["label"] for code in expected} == expected
        assert all(trail[code]["action_name"] == ACTION_NAMES[code] for code in expected)
    actions = await client.get("/admin/audit/actions", headers=admin_h)
    offered = {a["code"] for a in actions.json()}
    assert set(expected) | {"api_key_new_ip"} <= offered


@pytest.mark.no_database
def test_first_use_from_a_new_address_reads_as_a_sentence() -> None:
    facts = EventFacts("api_key_new_ip", "api_key", "k", {"prefix": "ea_AbCdE"})
    names = Names(people={"u": Person("Juan Pérez", "juan@alvaradomazzei.cl")})
    assert describe(facts, names) == "Usó la clave de API ea_AbCdE… desde una dirección IP nueva"
    assert "api_key_new_ip" in ACTION_NAMES
