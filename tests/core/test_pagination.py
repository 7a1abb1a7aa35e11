"""The cursor's binding: a cursor decodes only under the binding it was made for."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pytest

from energyapp.core.pagination import ContextValue, PageRequest, cursor_binding
from energyapp.errors import Unprocessable

pytestmark = pytest.mark.no_database

VIEWER = uuid.uuid4()
PARENT = uuid.uuid4()


def _binding(
    name: str = "messages",
    viewer: uuid.UUID = VIEWER,
    context: Mapping[str, ContextValue] | None = None,
) -> bytes:
    return cursor_binding(
        name, viewer, {"conversation_id": PARENT, "q": None} if context is None else context
    )


def test_a_cursor_decodes_under_its_binding_only() -> None:
    page = PageRequest(limit=10, cursor=None, secret=b"k" * 32)
    cursor = page.encode(_binding(), [7, "x"])
    reader = PageRequest(limit=10, cursor=cursor, secret=b"k" * 32)
    assert reader.after(_binding(), [int, str]) == [7, "x"]
    # Key order is not part of the binding; every value is.
    reordered = cursor_binding("messages", VIEWER, {"q": None, "conversation_id": PARENT})
    assert reader.after(reordered, [int, str]) == [7, "x"]
    for other in (
        _binding(name="admin.messages"),
        _binding(viewer=uuid.uuid4()),
        _binding(context={"conversation_id": uuid.uuid4(), "q": None}),
        _binding(context={"conversation_id": PARENT, "q": "tarifa"}),
        _binding(context={"conversation_id": PARENT}),
    ):
        with pytest.raises(Unprocessable) as refused:
            reader.after(other, [int, str])
        assert refused.value.code == "invalid_cursor"
