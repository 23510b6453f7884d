"""Merge results files of several machines or CI jobs (the shards of a run, a CPU job and a GPU job) into one.

Shards (`conformance run --shard I/N`) hold disjoint cases, so their records never collide; each
input's environment is kept under `merged_from` (with its `shard`), the cases tables and skips are
joined, a known difference is stale only if no input used it, and a missing shard (some I of N
absent) makes the merged results partial, as an interrupted input does.
"""
from __future__ import annotations

from conformance.errors import UsageError
from conformance.results.records import RunResults


def merge(runs: list[tuple[str, RunResults]]) -> RunResults:
    """Union of the records; the same record (same key) in two files is an error, not a silent choice."""
    by_key, sources = {}, {}
    environment = {"merged_from": []}
    cases, skipped, stale = {}, [], {}
    for source, run in runs:
        environment["merged_from"].append({"source": source, **run.environment})
        for r in run.results:
            if r.key in by_key:
                raise UsageError(f"{source}: result {'/'.join(map(str, r.key))} is also in {sources[r.key]}; "
                                 "merge takes results of different targets, devices or frameworks")
            by_key[r.key], sources[r.key] = r, source
        cases.update(run.cases)
        skipped.extend(run.skipped)
        stale.update({s["id"]: s for s in run.stale_known})
    # Stale in one job but used in another (e.g. a GPU-only difference) is not stale.
    used = {r.known["id"] for r in by_key.values() if r.known}
    stale = {k: v for k, v in stale.items() if k not in used}
    ran = {(r.framework, r.device) for r in by_key.values()}
    # A skip that another job made up for (the CPU job had no GPU; the GPU job ran it) is not a skip.
    skipped = [s for s in skipped if not ("device" in s and (s.get("framework"), s["device"]) in ran)]
    unique = []
    for s in skipped:
        if s not in unique:
            unique.append(s)
    partial = [f"{source}: {run.partial}" for source, run in runs if run.partial]
    missing = _missing_shards(run.environment.get("shard") for _, run in runs)
    if missing:
        partial.append(f"shards {', '.join(missing)} missing: the results hold only the shards given")
    if partial:  # one interrupted input makes the whole incomplete
        environment["partial"] = "; ".join(partial)
    return RunResults(results=list(by_key.values()), environment=environment, skipped=unique,
                      stale_known=list(stale.values()), cases=cases)


def _missing_shards(shards) -> list[str]:
    """'I/N' of every shard absent from a split that some input belongs to."""
    seen: dict[int, set] = {}
    for text in shards:
        if text:
            index, count = (int(v) for v in str(text).split("/"))
            seen.setdefault(count, set()).add(index)
    return [f"{i}/{n}" for n, got in sorted(seen.items()) for i in range(1, n + 1) if i not in got]
