"""Merge results files of several machines or CI jobs (e.g. a CPU job and a GPU job) into one."""
from __future__ import annotations

from .errors import UsageError
from .results import RunResults


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
    return RunResults(results=list(by_key.values()), environment=environment, skipped=unique,
                      stale_known=list(stale.values()), cases=cases)
