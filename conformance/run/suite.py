"""The run of a suite: every selected case on every selected target, through the worker pool
(run/pool.py); each unit's attempts, retries and repeats go through run/attempts.py.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone

from conformance import adapters
from conformance.check.evaluate import checks_for
from conformance.check.relations import relations_for
from conformance.results.records import Result, RunResults
from conformance.run.attempts import Attempts
from conformance.run.pool import Reply, Unit, WorkerPool
from conformance.run.selection import Selection, default_jobs, dtypes_for, plan_targets, resolve_frameworks
from conformance.run.worker import host_environment
from conformance.spec.case import Case


def units_for(triples, dtypes) -> list[Unit]:
    """Units in the order a worker runs them: by dtype first, so the oracle runs once per dtype."""
    return [(dtype, api, device, profile) for dtype in dtypes for api, device, profile in triples]


def records_from(reply: Reply, case: Case, framework: str, relations: bool = False) -> list[Result]:
    """Result records of a reply (or a piece of one): a lost unit gives one record per check (and per
    relation, when the request had them)."""
    out = [Result.from_dict(r) for r in reply.records]
    for (dtype, api, device, profile), status, message, stderr in reply.failures:
        target = adapters.Target(framework, api, device)
        for check in checks_for(case, target) + (relations_for(case) if relations else ()):
            out.append(Result(case=case.id, framework=framework, api=api, device=device, dtype=dtype,
                              check=check, status=status, message=message, precision=profile, stderr=stderr))
    return out


def run_suite(cases: list[Case], selection: Selection, *, progress=None, on_records=None, known=(),
              on_start=None) -> RunResults:
    """Run every case on every selected target; never loses one framework's results to another's crash.

    `known`: the known differences, which the workers need for the relation checks (a relation that
    fails because a case it relies on is a known difference is `known`); the caller marks the
    ordinary records.

    `on_records(results)` is called with each batch of records as it arrives (for streaming them to
    disk): a unit's records once all its attempts are in (conformance/run/attempts.py);
    `on_start(environment)` before the first, once the workers have said what they run on (the
    environment that known differences' `when:` conditions read). Ctrl-C (KeyboardInterrupt) stops
    the run and returns what finished, with `environment["partial"]` saying so.
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

    with WorkerPool(frameworks, timeout=selection.timeout, stream=True, jobs=jobs, known=known,
                    capture=not selection.verbose) as pool:
        attempts = Attempts(pool, selection)
        try:
            plan, environment["frameworks"], skips = plan_targets(pool.start(), selection)
            skipped.extend(skips)
            if on_start:
                on_start(environment)
            for case in cases:
                dtypes = dtypes_for(case, selection)
                if not dtypes:
                    continue
                for name, triples in plan.items():
                    attempts.submit(name, (case.id, name), case, units_for(triples, dtypes))
            # Everything is queued: a framework whose queue empties is done (a retry later starts a
            # fresh worker, which it needs anyway).
            pool.retire_idle = True
            attempts.drive(arrived, progress)
        except KeyboardInterrupt:
            arrived(attempts.drain())
            environment["partial"] = (f"interrupted: {attempts.finished} of {attempts.requests} (case, "
                                      "framework) requests finished; the results hold only what finished")
        # each worker imports its framework once, whatever the number of cases it runs
        environment["workers_started"] = dict(pool.spawned)
    environment["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    environment["cases"] = len(cases)
    return RunResults(results=results, environment=environment, skipped=skipped)
