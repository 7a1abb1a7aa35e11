"""What one answer costs the database: on the CPU server the model's seconds dominate, but every
statement is a round trip that each process pays per answer under load."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event

from tests.chat.conftest import LiveApp, collect, named
from tests.conftest import HeadersFactory, UserFactory


async def test_a_new_conversation_answer_is_six_statements_in_three_transactions(
    live_app: LiveApp,
    http: httpx.AsyncClient,
    make_user: UserFactory,
    auth_headers: HeadersFactory,
) -> None:
    """The request's transaction (the user; the conversation, both messages, the user's
    counters), the end of the answer, which also reads whether the conversation still waits
    for its title, with its usage ledger row, and the title."""
    headers = await auth_headers(await make_user())
    statements: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(_verb_and_table(statement))

    def on_begin(_conn: Any) -> None:
        statements.append("BEGIN")

    async with live_app() as (base, app):
        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", on_statement)
        event.listen(engine, "begin", on_begin)
        async with http.stream(
            "POST",
            f"{base}/chat",
            json={"message": "¿Qué es la potencia reactiva?"},
            headers=headers,
        ) as response:
            events = await collect(response)
        event.remove(engine, "before_cursor_execute", on_statement)  # before the shutdown's
        event.remove(engine, "begin", on_begin)

    assert named(events, "done")[0]["status"] == "complete" and named(events, "title")
    assert statements == [
        "BEGIN", "SELECT users", "INSERT conversations", "INSERT messages", "UPDATE users",
        "BEGIN", "UPDATE messages", "INSERT usage_events",
        "BEGIN", "UPDATE conversations",
    ]  # fmt: skip


def _verb_and_table(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper()
    table = (
        words[words.index("FROM") + 1] if verb == "SELECT" else words[2 if verb != "UPDATE" else 1]
    )
    return f"{verb} {table}"
