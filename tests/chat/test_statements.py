"""Every statement on the answer path can be cached by SQLAlchemy: one that cannot (a multi-row
VALUES, for example) is compiled again for every answer, which cost 1.7 ms each time."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.sql import ClauseElement

from energyapp.auth.deps import _SESSION_CALLER, _SESSION_USER
from energyapp.chat import service


def _answer_path() -> list[ClauseElement]:
    statements: list[ClauseElement] = [
        _SESSION_USER.statement,
        _SESSION_CALLER.statement,
        service._SAVE_PROGRESS.statement,
        service._FINISH_ANSWER.statement,
        service._SAVE_AUTO_TITLE.statement,
        service._HISTORY,
    ]
    for new, touch in itertools.product((True, False), repeat=2):
        statements.append(service._single_statement(new, touch).statement)
        statements.extend(service._start_statements(new, touch))
    return statements


@pytest.mark.parametrize("statement", _answer_path(), ids=lambda s: type(s).__name__)
def test_statement_is_cacheable(statement: ClauseElement) -> None:
    assert statement._generate_cache_key() is not None
