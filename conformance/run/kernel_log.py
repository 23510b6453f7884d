"""Name the kernel where a bug is: the oneDNN primitives a failing unit ran, from oneDNN's verbose log.

After the run, each unit with a `fail`, `flaky` or `crashed` record on a CPU target whose framework
has oneDNN in its process (`Declaration.onednn`) runs once more, in a worker pool of its
own whose processes start with `ONEDNN_VERBOSE=2`: oneDNN reads the variable once, at its first
use (TensorFlow's build reads it only then), so the run's own workers, which log nothing, cannot
be switched. The pool hands back all that the worker wrote while it ran the unit
(`WorkerPool(unit_output=True)`); `results.kernels` reads the primitives from it, and every failing
record of the unit gets them in `kernels`, with the status its check had in the re-run. A unit
that ran no oneDNN kernel gets an empty list and a note saying so.

The cost is bounded: only failing units, once each, at most `Selection.kernel_logs` of them per
run (`--kernel-logs`; 0 turns it off); the units over that limit get a note that says so.
"""
from __future__ import annotations

from conformance.adapters.base import Target
from conformance.check.unit import Unit
from conformance.results.kernels import kernels_field
from conformance.run.attempts import records_from
from conformance.run.messages import Request
from conformance.run.pool import WorkerPool
from conformance.spec.frameworks import onednn_logged

LOGGED_STATUSES = ("fail", "flaky", "crashed")
# oneDNN's level 2: every primitive's creation and execution. A kernel that crashes prints no exec
# line (that line comes after it ran), but its creation line names it.
LOG_VARIABLES = {"ONEDNN_VERBOSE": "2"}


def units_to_log(records) -> list[tuple[str, Unit]]:
    """(case id, unit) of each unit with a failing record on a oneDNN-backed CPU target, in record order."""
    out: dict = {}
    for r in records:
        if r.status in LOGGED_STATUSES and onednn_logged(r.api) and r.device == "cpu":
            out.setdefault((r.case, _unit(r)), None)
    return list(out)


def _unit(r) -> Unit:
    return Unit(Target(r.framework, r.api, r.device), r.dtype, r.precision)


def name_kernels(records, cases: dict, selection, jobs: int) -> dict | None:
    """Re-run the failing oneDNN-backed units of `records` (at most `selection.kernel_logs`) with
    oneDNN's log on, and set `kernels` on their failing records. `cases`: case id -> Case. Returns
    what the run's environment says of it (None when nothing was to log)."""
    limit = selection.kernel_logs
    wanted = [(case_id, unit) for case_id, unit in units_to_log(records) if case_id in cases]
    if not wanted or not limit:
        return None
    logged, over = wanted[:limit], wanted[limit:]
    fields = _rerun(logged, cases, selection, jobs) if logged else {}
    why = f"not logged: over this run's limit of {limit} kernel-log re-runs (--kernel-logs)"
    for key in over:
        fields[key] = lambda check: {"onednn": [], "note": why}
    for r in records:
        field_of = fields.get((r.case, _unit(r)))
        if field_of is not None and r.status in LOGGED_STATUSES:
            r.kernels = field_of(r.check)
    return {"limit": limit, "logged": len(logged), "over_limit": len(over), "variables": dict(LOG_VARIABLES)}


def _rerun(units, cases: dict, selection, jobs: int) -> dict:
    """(case id, unit) -> a function of a check giving its `kernels`, from one re-run of each unit,
    each its own request, in a pool whose workers log oneDNN's primitives."""
    frameworks = sorted({unit.framework for _, unit in units})
    with WorkerPool(frameworks, timeout=selection.timeout, stream=True, jobs=max(1, min(jobs, len(units))),
                    shared_cache=selection.shared_cache, capture=True, variables=LOG_VARIABLES,
                    unit_output=True) as pool:
        pool.start()
        for n, (case_id, unit) in enumerate(units):
            pool.submit(unit.framework, Request(("kernel-log", n), cases[case_id].to_dict(), (unit,), selection.seed,
                                                selection.relations))
        pool.retire_idle = True  # everything is queued: a framework whose queue empties is done
        while pool.pending:
            pool.collect(block=0.5)
        pieces = pool.take_arrivals()
    out = {}
    for (_, n), piece in pieces:
        case_id, unit = units[n]
        statuses = {r.check: r.status for r in records_from(piece, cases[case_id], selection.relations)}
        out[(case_id, unit)] = _field_maker(piece.output, statuses)
    return out


def _field_maker(output: str | None, statuses: dict):
    def field(check: str) -> dict:
        return kernels_field(output, statuses.get(check, "error"), "the re-run's output could not be read")
    return field
