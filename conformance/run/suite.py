"""The run of a suite: every selected case on every selected target, through the worker pool
(run/pool.py); each unit's attempts, retries and repeats go through run/attempts.py.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone

from conformance.adapters.base import Target
from conformance.check.unit import Unit
from conformance.results.records import Result, RunResults
from conformance.run.attempts import Attempts
from conformance.run.environment import host_environment
from conformance.run.kernel_log import name_kernels
from conformance.run.pool import WorkerPool
from conformance.run.selection import Selection, default_jobs, dtypes_for, plan_targets, resolve_frameworks
from conformance.spec.case import Case
from conformance.spec.threads import thread_counts


def units_for(framework: str, triples, dtypes, thread_counts=(1,)) -> list[Unit]:
    """The units of a case on `framework`, from its (api, device, profile) triples, at each of its
    worker thread counts, in the order a worker runs them: by dtype first, so the oracle runs once
    per dtype."""
    return [Unit(Target(framework, api, device), dtype, profile, threads)
            for threads in thread_counts for dtype in dtypes for api, device, profile in triples]


def _submit(cases: list[Case], plan: dict, selection: Selection, attempts: Attempts) -> list[int]:
    """Queue every (case, framework) request; returns the worker thread counts they use."""
    counts = {1}
    for case in cases:
        dtypes = dtypes_for(case, selection)
        if not dtypes:
            continue
        counts.update(thread_counts(case))
        for name, triples in plan.items():
            attempts.submit((case.id, name), case, units_for(name, triples, dtypes, thread_counts(case)))
    return sorted(counts)


def run_suite(cases: list[Case], selection: Selection, *, progress=None, on_records=None,
              known=()) -> RunResults:
    """Run every case on every selected target; never loses one framework's results to another's crash.

    `known`: the known differences, applied to the records with the run's environment (and in the
    workers, to the relation checks: a relation that fails because a case it relies on is a known
    difference is `known`).

    `on_records(results)` is called with each batch of records as it arrives (for streaming them to
    disk): a unit's records once all its attempts are in (conformance/run/attempts.py). Ctrl-C
    (KeyboardInterrupt) stops the run and returns what finished, with `environment["partial"]`
    saying so.
    """
    selection.validate()
    frameworks, skipped = resolve_frameworks(selection)
    environment = {"host": host_environment(), "seed": selection.seed, "frameworks": {},
                   "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "command": " ".join(sys.argv)}
    results: list[Result] = []
    environment["jobs"] = jobs = selection.jobs or default_jobs()
    environment["attempts"] = {"retries": selection.retries, "repeat": selection.repeat}

    def arrived(batch):
        results.extend(batch)
        if on_records:
            on_records(batch)

    environment["cache_dir"] = selection.shared_cache
    with WorkerPool(frameworks, timeout=selection.timeout, stream=True, jobs=jobs, known=known,
                    shared_cache=selection.shared_cache, capture=not selection.verbose) as pool:
        attempts = Attempts(pool, selection, known=known, environment=environment)
        try:
            plan, environment["frameworks"], skips = plan_targets(pool.start(), selection)
            skipped.extend(skips)
            # the worker thread counts the records were made at (each record's `threads`)
            environment["threads"] = _submit(cases, plan, selection, attempts)
            # Everything is queued: a framework whose queue empties is done (a retry later starts a
            # fresh worker, which it needs anyway).
            pool.retire_idle = True
            attempts.drive(arrived, progress)
            # the run's workers are done: name the oneDNN kernels of the failing units (run/kernel_log.py)
            logged = name_kernels(results, {c.id: c for c in cases}, selection, jobs)
            if logged:
                environment["kernel_logs"] = logged
        except KeyboardInterrupt:
            arrived(attempts.drain())
            environment["partial"] = (f"interrupted: {attempts.finished} of {attempts.requests} (case, "
                                      "framework) requests finished; the results hold only what finished")
        # each worker imports its framework once, whatever the number of cases it runs
        environment["workers_started"] = dict(pool.spawned)
    environment["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    environment["cases"] = len(cases)
    return RunResults(results=results, environment=environment, skipped=skipped)
