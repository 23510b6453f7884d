"""Sharding: split a run's cases into N disjoint parts, the same on every machine, for a CI matrix.

    conformance run --shard 2/4 --json results-2.json     (one CI job per shard)
    conformance merge results-*.json -o results.json       (one job joins them)

A shard is chosen from the case list alone, never from the machine, the clock or Python's salted
`hash`: the cases sorted by id, each in turn given to the shard with the least work so far (work:
the number of (case, dtype) runs, which is what a run's time scales with; ties go to the lowest
shard). So every machine given the same case files and options computes the same split, the shards
are disjoint and together cover every case, and their sizes differ by at most one case's work.
Sorting by id keeps the parametrized variants of a case (`conv2d_k3[...]`), which cost about the
same, adjacent, so they are dealt out evenly. Adding a case can move other cases between shards;
that is harmless, since each CI run computes its split afresh from its own checkout.
"""
from __future__ import annotations

import re

from conformance.errors import UsageError

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str, option: str = "--shard") -> tuple[int, int]:
    """'I/N' -> (I, N), with 1 <= I <= N; anything else is a usage error saying what is allowed."""
    m = _SHARD.match(str(text))
    if m:
        index, count = int(m.group(1)), int(m.group(2))
        if 1 <= index <= count:
            return index, count
    raise UsageError(f"{option} {text!r} is not a shard; allowed: I/N with 1 <= I <= N, "
                     f"e.g. {option} 1/4 ... {option} 4/4")


def assign(ids_and_weights, count: int) -> dict:
    """id -> shard number (1..count): ids in sorted order, each to the least-loaded shard so far."""
    loads = [0] * count
    out = {}
    for key, weight in sorted(ids_and_weights):
        shard = min(range(count), key=lambda s: (loads[s], s))
        loads[shard] += max(int(weight), 1)
        out[key] = shard + 1
    return out


def select_shard(cases, shard: tuple[int, int] | None, weight=lambda case: len(case.dtypes)):
    """The cases of shard (I, N); all of them when `shard` is None."""
    if shard is None:
        return list(cases)
    index, count = shard
    owner = assign([(c.id, weight(c)) for c in cases], count)
    return [c for c in cases if owner[c.id] == index]
