"""One unit run for `conformance repro`: in a worker of its kind, started and asked as every command
outside a run asks one (run/standalone.py), the unit run as `conformance run` runs it, with the worker
sending what the script is made of (check/reproduce.py); the known difference that explains a
record, as the run would apply it.
"""
from __future__ import annotations

import copy

from conformance.adapters.base import Target
from conformance.check.reproduce import REPRO_FIELD
from conformance.check.unit import Unit
from conformance.errors import ConformanceError, UsageError
from conformance.repro.script import UnitRun
from conformance.results.known import mark_known
from conformance.results.records import Result
from conformance.run.environment import host_environment, local_environment
from conformance.run.messages import Request
from conformance.run.standalone import run_requests, start_worker
from conformance.spec.case import Case
from conformance.spec.features import case_features


class UnitFailed(ConformanceError):
    """The unit gave no records: its worker crashed or hung."""


def run_unit(case: Case, target: Target, dtype: str, profile: str, *, seed: int, known=(), timeout: float,
             cache_dir: str | None) -> UnitRun:
    unit = Unit(target, dtype, profile)
    pool, info = start_worker(target.framework, timeout=timeout, jobs=1, shared_cache=cache_dir)
    with pool:
        if target.device not in info.get("devices", ["cpu"]):
            raise UsageError(f"--target {target.name}: no {target.device} visible to {target.framework} here "
                             f"(it sees: {', '.join(info.get('devices', []))})")
        request = Request(("repro", case.id), case.to_dict(), (unit,), seed, repro=True)
        reply = run_requests(pool, [(target.framework, request)])[request.request_id]
    if reply.failures or not reply.records:
        failure = reply.failures[0] if reply.failures else None
        why = f"{failure.status}: {failure.message}" if failure else "no records came back"
        tail = f"; its output ended with:\n{failure.stderr}" if failure and failure.stderr else ""
        raise UnitFailed(f"{case.id} on {target.name} ({dtype}) gave no records ({why}){tail}")
    material = reply.records[0].pop(REPRO_FIELD)
    records = [Result.from_dict(d) for d in reply.records]
    info = {**info, "host": host_environment()}
    run = UnitRun(case, unit, seed, records, material, info)
    run.known = explaining_entry(run, known)
    return run


def explaining_entry(run: UnitRun, known) -> dict | None:
    """The known difference that the run would apply to one of the unit's records (its `when:` read
    in this machine's environment, as the worker reported it), or the TF32 rule's; None if none."""
    marked = copy.deepcopy(run.records)
    environment = local_environment(run.unit.framework, run.info)
    mark_known(marked, list(known), {run.case.id: case_features(run.case)}, environment)
    return next((r.known for r in marked if r.known), None)
