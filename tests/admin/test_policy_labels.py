"""The audit trail reads the 2FA policy, legal hold, ZIP export and retention events as Spanish
sentences naming who and what, like every other action."""

from __future__ import annotations

from typing import Any

import pytest

from energyapp.audit.labels import ACTION_NAMES, EventFacts, Names, Person, describe

pytestmark = pytest.mark.no_database

ANA = "7d0e3b9c-1111-4c1e-9a52-3f1e2b7c9a10"
LUIS = "7d0e3b9c-2222-4c1e-9a52-3f1e2b7c9a10"
CONV = "2b0b8f7e-1f7c-4bde-9d50-6a3c3d1c8e11"
NAMES = Names(
    people={ANA: Person("Ana Rojas", "ana@alvaradomazzei.cl"), LUIS: Person("Luis Soto", "l@x.cl")},
    conversations={CONV: ("Presupuesto mantención", ANA)},
)


def event(
    action: str, target_type: str | None, target_id: str | None, **details: Any
) -> EventFacts:
    return EventFacts(action, target_type, target_id, details)


@pytest.mark.parametrize(
    ("facts", "sentence"),
    [
        (
            event("user.2fa_required", "user", LUIS),
            "Exigió la verificación en dos pasos a Luis Soto",
        ),
        (
            event("user.2fa_requirement_removed", "user", LUIS),
            "Dejó de exigir la verificación en dos pasos a Luis Soto",
        ),
        (
            event("role.2fa_required", "role", "trabajador"),
            "Exigió la verificación en dos pasos al rol Trabajador",
        ),
        (
            event("conversation.legal_hold", "conversation", CONV, reason="Juicio 123"),
            "Puso la conversación «Presupuesto mantención» de Ana Rojas en retención legal "
            "(motivo: Juicio 123)",
        ),
        (
            event("conversation.legal_hold_released", "conversation", CONV),
            "Levantó la retención legal de la conversación «Presupuesto mantención» de Ana Rojas",
        ),
        (
            event("conversations.exported", None, None, conversations=12),
            "Descargó todas sus conversaciones (12)",
        ),
        (
            event("retention.run", None, None, conversations=3, messages=40, batches=1),
            "La política de retención eliminó 3 conversaciones (40 mensajes)",
        ),
    ],
)
def test_policy_events_read_as_sentences(facts: EventFacts, sentence: str) -> None:
    assert describe(facts, NAMES) == sentence
    assert facts.action in ACTION_NAMES  # offered in the action filter
