"""Policies for the 4-slot office compared over many seeds with bench/office_sim.py.

    .venv/bin/python -m bench.office_frontier [--seeds 20] [--slots 4] [--only NAME]

Per policy: the median over seeds (and the 10th-90th percentile) of the share of prompt tokens
evaluated and of TTFT p50 and p95, seed 1 alone, the requests per answer, p95 over A's in the
same seed, and how many seeds meet every goal of issue 25 against A in that seed. Then the
Pareto frontier, and the slot waits alone (every prompt token free).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
from dataclasses import dataclass, replace

from bench.office import pct
from bench.office_sim import A, B, Policy, simulate
from bench.office_standin import INF


@dataclass
class Summary:
    policy: Policy
    share: list[float]
    p50: list[float]
    p95: list[float]
    per_answer: list[float]

    def met(self, a: Summary) -> int:
        """Seeds meeting every goal of issue 25 against ``a`` (A) in the same seed."""
        seeds = zip(self.share, self.p95, self.p50, self.per_answer, a.p95, a.p50, strict=True)
        return sum(
            share <= 0.30 and p95 <= 2 / 3 * a95 and p50 <= 0.5 * a50 and requests <= 1.2
            for share, p95, p50, requests, a95, a50 in seeds
        )

    def ratio(self, a: Summary) -> float:
        """The median over seeds of p95 over ``a``'s p95 in the same seed."""
        return statistics.median(p / q for p, q in zip(self.p95, a.p95, strict=True))

    def line(self, a: Summary) -> str:
        def spread(values: list[float], fmt: str) -> str:
            low, mid, high = pct(values, 0.1), statistics.median(values), pct(values, 0.9)
            return f"{mid:{fmt}} ({low:{fmt}}-{high:{fmt}})"

        return (
            f"| {self.policy.name} | {spread(self.share, '.0%')} | {spread(self.p50, '.1f')} | "
            f"{spread(self.p95, '.1f')} | {self.share[0]:.0%} {self.p50[0]:.1f}/{self.p95[0]:.1f}"
            f" | {statistics.median(self.per_answer):.2f} | {self.ratio(a):.2f} | "
            f"{self.met(a)}/{len(self.share)} |"
        )


def summarise(policy: Policy, slots: int, seeds: list[int], **options: float) -> Summary:
    runs = [simulate(policy, slots, seed, **options) for seed in seeds]
    return Summary(
        policy,
        [r.share for r in runs],
        [pct(r.ttft, 0.5) for r in runs],
        [pct(r.ttft, 0.95) for r in runs],
        [r.requests / max(1, r.answers) for r in runs],
    )


def candidates() -> list[Policy]:
    """The policies swept by name (A and B first)."""
    found = [A, B, replace(A, name="A, no titles", titles="none", warm=True)]
    found += [replace(B, name=f"B hold {h:g}", hold=h) for h in (15, 30, 45, 90, 120)]
    found += [replace(B, name=f"keep all, hold {h:g}", hold=h, keep_all=True) for h in (30, 60, 90)]
    for h, p in itertools.product((60, 120), (30, 45, 90)):
        found += [replace(B, name=f"hold {h}, patience {p}", hold=h, patience=p)]
        found += [
            replace(B, name=f"keep all, hold {h}, patience {p}", hold=h, patience=p, keep_all=True)
        ]
    found += [replace(B, name="no hits first", hits_first=False)]
    found += [replace(B, name=f"misses first after {w:g} s", miss_after=w) for w in (10, 20, 40)]
    found += [
        replace(B, name=f"shortest prompt first, hold {h}", order="spf", hold=h)
        for h in (30, 60, 120)
    ]
    for c, h in itertools.product((1, 2, 3), (30, 60, 120)):
        found += [replace(B, name=f"misses only below {c} running, hold {h}", miss_cap=c, hold=h)]
    for gate, h, keep in itertools.product(("miss", "all"), (60, 120), (False, True)):
        found += [
            replace(
                B,
                name=f"gate {gate}, hold {h}{', keep all' if keep else ''}",
                gate=gate,
                hold=h,
                keep_all=keep,
            )
        ]
    found += [replace(B, name="B, system prompt in every slot", prefill=True)]
    for r, p, steer in itertools.product((0, 20, 40, 60), (30, 60, 120), (False, True)):
        found += [
            replace(
                B,
                name=f"ORACLE horizon {r}, patience {p}{', steered' * steer}",
                oracle=True,
                horizon=r,
                patience=p,
                steer=steer,
            )
        ]
    return found


def random_policies(count: int, seed: int) -> list[Policy]:
    """``count`` combinations of every knob (40 % of them oracles)."""
    rng = random.Random(seed)  # noqa: S311 - a search, not a secret
    found = []
    for index in range(count):
        oracle = rng.random() < 0.4
        found.append(
            replace(
                B,
                name=f"random {index}",
                hold=rng.choice([0, 10, 20, 30, 45, 60, 90, 120, 180]),
                patience=rng.choice([None, 20, 30, 45, 60, 90, 120, 180]),
                keep_all=rng.random() < 0.5,
                hits_first=rng.random() < 0.85,
                order=rng.choice(["fair", "fair", "spf"]),
                miss_after=rng.choice([INF, INF, INF, 10, 20, 40, 60]),
                miss_cap=rng.choice([0, 0, 0, 1, 2, 3]),
                gate=rng.choice(["", "", "miss", "all"]),
                oracle=oracle,
                horizon=rng.choice([0, 10, 20, 40, 60, 90]),
                steer=oracle and rng.random() < 0.5,
            )
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=20, help="seeds 1..N")
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--only", help="policies whose name contains this")
    parser.add_argument("--random", type=int, default=0, help="also N random combinations")
    args = parser.parse_args()
    seeds = list(range(1, args.seeds + 1))
    base = summarise(A, args.slots, seeds)
    print(
        f"{args.slots} slots, seeds 1-{args.seeds}: median (10th-90th percentile over seeds); "
        "seed 1; requests per answer; p95 / A's p95 (median); seeds meeting every goal\n"
    )
    print(HEADER)
    rows = []
    for policy in candidates():
        if not args.only or args.only in policy.name:
            rows.append(summarise(policy, args.slots, seeds))
            print(rows[-1].line(base), flush=True)
    searched = [summarise(p, args.slots, seeds) for p in random_policies(args.random, 1)]
    if searched:
        print(f"\n{args.random} random combinations, the 5 best p95 / A and the 5 meeting most:")
        print(HEADER)
        for row in sorted(searched, key=lambda r: r.ratio(base))[:5]:
            print(row.line(base))
        for row in sorted(searched, key=lambda r: -r.met(base))[:5]:
            print(row.line(base))
    print("\nPareto frontier (medians of evaluated, p95 and p50: none better in all three):")
    print(HEADER)
    for row in frontier(rows + searched):
        print(row.line(base))
    print("\nBeyond scheduling (not the goal's 4 prompt caches):")
    print(HEADER)
    free = replace(A, name="A, no titles, every prompt token free", titles="none", warm=True)
    print(summarise(free, args.slots, seeds, prompt_tps=1e9).line(base))
    more = replace(B, name="B, system prompt in every slot, 6 caches", prefill=True)
    print(summarise(more, args.slots, seeds, caches=6).line(base))
    print(summarise(replace(B, name="B, 6 caches"), args.slots, seeds, caches=6).line(base))


HEADER = (
    "| policy | evaluated | TTFT p50 s | TTFT p95 s | seed 1: evaluated p50/p95 | "
    "requests per answer | p95 / A | goals met |\n|---|---|---|---|---|---|---|---|"
)


def frontier(rows: list[Summary]) -> list[Summary]:
    """The rows no other row beats on the median share, p95 and p50 together."""

    def key(row: Summary) -> tuple[float, float, float]:
        return (
            statistics.median(row.share),
            statistics.median(row.p95),
            statistics.median(row.p50),
        )

    def beats(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    return sorted(
        (r for r in rows if not any(beats(key(o), key(r)) for o in rows)), key=lambda r: key(r)
    )


if __name__ == "__main__":
    main()
