"""bench/office.py's comparison of the waits queue events told with the waits people had."""

from __future__ import annotations

import pytest
from bench.office import wait_accuracy


@pytest.mark.no_database
def test_wait_accuracy_reports_the_told_the_had_and_their_gap() -> None:
    # (told, waited), server seconds: two close, one far off.
    line = wait_accuracy([(60.0, 70.0), (120.0, 100.0), (10.0, 200.0)])
    assert line == (
        "3 told; told p50 60, waited p50 100; |told - waited| p50 20, p95 190; "
        "within 30 s or half the wait: 67%"
    )
