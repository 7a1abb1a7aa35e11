"""The office-hour simulator (bench/office_sim.py) keeps its invariants on a tiny office."""

from __future__ import annotations

from dataclasses import replace

import pytest
from bench.office_frontier import frontier, summarise
from bench.office_sim import A, B, Sim

ORACLE = replace(B, name="oracle", oracle=True, horizon=60, patience=120, steer=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_answer_once_and_never_more_read_than_sent(seed: int) -> None:
    for policy in (A, B, ORACLE):
        result = Sim(policy, 2, seed, users=3, turns=2).run()
        assert result.answers == len(result.ttft) == 6
        assert 0 < result.evaluated <= result.sent
        assert all(t > 0 for t in result.ttft)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_oracle_reads_no_more_than_no_affinity(seed: int) -> None:
    plain = Sim(A, 2, seed, users=3, turns=2).run()
    oracle = Sim(ORACLE, 2, seed, users=3, turns=2).run()
    assert oracle.evaluated <= plain.evaluated


def test_deterministic_and_a_frontier() -> None:
    first = Sim(B, 2, 7, users=3, turns=2).run()
    again = Sim(B, 2, 7, users=3, turns=2).run()
    assert (first.ttft, first.evaluated) == (again.ttft, again.evaluated)
    rows = [summarise(policy, 4, [1]) for policy in (A, B)]
    assert frontier(rows)  # never empty
