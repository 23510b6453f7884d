"""Attempts of a unit: retries after a crash or an error, `--repeat`, and what their records say.

A unit is one (target, dtype, profile) of a case, on one framework worker (`check.unit.Unit`).
`Attempts` stands between a `pool.WorkerPool` (in stream mode) and whoever consumes its records:
`run_suite` for `conformance run`, the pytest plugin's session, and `conformance explore`'s
`IsolatedFramework`. It holds back the records of a unit until the unit is final:

- a unit that crashed (its worker died) or errored (a timeout, or an `error` record) runs again, up to
  `Selection.retries` more times, each time in a worker the pool started after the one that failed;
- with `Selection.repeat` N, every unit runs N times, each attempt in another worker process.

`combine` turns the attempts into the unit's records: the last attempt's, each with `attempts` (the
earlier attempts' status and message). A check whose status differs between attempts is `flaky` (a
crash then a pass, an error then a fail: the crash or error costs every check of the unit, so every
check of it is flaky); one with the same status but other values in another process (--repeat) keeps
its status and gets `varies`. Records of crashed, errored and flaky units carry the case's
parameters in the message, the worker's stderr (`stderr`) and a command that reruns the unit (`rerun`).
Then the known differences turn the failures they explain `known`, with the run's environment.
"""
from __future__ import annotations

import itertools
import os
import shlex

from conformance.adapters.base import Target
from conformance.options import TIMEOUT
from conformance.check.evaluate import checks_for
from conformance.check.unit import Unit
from conformance.check.relations import relations_for
from conformance.results.known import mark_known
from conformance.results.records import FAILING, Result
from conformance.run.messages import Reply, Request
from conformance.run.thread_verdicts import ThreadVerdicts
from conformance.spec.features import case_features

RETRIED = ("crashed", "error")  # a unit with a record of one of these statuses gets another attempt
RERUN_JSON = "/tmp/conformance-rerun.json"


class Attempts:
    """Submits units to the pool, gives each unit the attempts it needs, and hands out final records
    with the known differences applied.

    `known`: the known differences; their `when:` read `environment`, the run's, which the caller
    may fill in (the same dict) once its workers said what they run on, before any record arrives.
    """

    def __init__(self, pool, selection, *, known=(), environment: dict | None = None):
        self.pool = pool
        self.selection = selection
        self.known = list(known)
        self.environment = environment
        self.finished = 0  # requests (case, framework) whose every unit is final
        self._requests: dict = {}  # pool request id -> (request key, case)
        self._tries: dict = {}  # (request key, unit) -> [records of each attempt so far]
        self._open: dict = {}  # request key -> its units that are not final yet
        self._cases: dict = {}  # request key -> its case
        self._counts: dict = {}  # request key -> the thread counts its units run at
        self._threads = ThreadVerdicts()
        self._features: dict = {}  # case id -> its features (for the known differences)
        self._ids = itertools.count(1)

    @property
    def pending(self) -> int:
        return self.pool.pending

    @property
    def requests(self) -> int:
        """(case, framework) requests submitted so far."""
        return len(self._open)

    def submit(self, key, case, units: list[Unit]) -> None:
        """Run `units` of `case` (all on one framework); their final records come out of `take`
        under `key`. Units at several thread counts go in one request per count (a worker has one),
        and their verdicts are compared once all are final (conformance/run/thread_verdicts.py)."""
        self._open[key] = set(units)
        self._cases[key] = case
        self._counts[key] = {u.threads for u in units}
        self._features[case.id] = case_features(case)
        for threads in sorted(self._counts[key]):
            self._send(key, case, [u for u in units if u.threads == threads], newer_than=0)

    def _send(self, key, case, units: list[Unit], newer_than: int) -> None:
        request_id = (key, next(self._ids))
        self._requests[request_id] = (key, case)
        self.pool.submit(units[0].framework, Request(request_id, case.to_dict(), tuple(units), self.selection.seed,
                                                     self.selection.relations, newer_than))

    def wait(self, block: float) -> None:
        self.pool.collect(block=block)

    def drive(self, on_final, progress=None) -> None:
        """Until every submitted unit is final: `on_final(records)` with each unit's final records,
        and `progress(finished, requests)` after each round."""
        while True:
            for _, records in self.take():
                on_final(records)
            if progress:
                progress(self.finished, self.requests)
            if not self.pending:
                return
            self.wait(block=0.5)

    def take(self) -> list[tuple]:
        """(request key, final records) for the units that became final since the last call."""
        out = []
        for request_id, piece in self.pool.take_arrivals():
            key, case = self._requests[request_id]
            for unit, reply in _by_unit(piece):
                records = records_from(reply, case, self.selection.relations)
                final = self._attempted(key, case, unit, records, piece.worker)
                if final is not None:
                    out.append((key, final))
        for request_id in [r for r in self.pool.done if r in self._requests]:
            del self.pool.done[request_id], self._requests[request_id]  # all its pieces were taken
        return out

    def _attempted(self, key, case, unit: Unit, records, worker: int):
        """One more attempt of `unit` came back: its final records, or None when it runs again."""
        tries = self._tries.setdefault((key, unit), [])
        tries.append(records)
        repeat, retries = self.selection.repeat, self.selection.retries
        failed = any(r.status in RETRIED for r in records)
        if len(tries) < repeat or (failed and len(tries) < repeat + retries):
            self._send(key, case, [unit], newer_than=worker)
            return None
        del self._tries[(key, unit)]
        self._open[key].discard(unit)
        if not self._open[key]:
            self.finished += 1
        records = self._threads.arrive(key, unit, annotate(combine(tries), case, self.selection), self._counts[key])
        return None if records is None else self._marked(records)

    def _marked(self, records: list[Result]) -> list[Result]:
        """Final records with the known differences applied."""
        mark_known(records, self.known, self._features, self.environment)
        return records

    def drain(self) -> list[Result]:
        """The records of the units still waiting for an attempt or for their other thread counts (an
        interrupted run), as they stand."""
        out = []
        for (key, _), tries in self._tries.items():
            out.extend(annotate(combine(tries), self._cases[key], self.selection))
        self._tries.clear()
        return self._marked(out + self._threads.drain())


def records_from(reply: Reply, case, relations: bool = False) -> list[Result]:
    """Result records of a reply (or a piece of one): a lost unit gives one record per check (and per
    relation, when the request had them)."""
    out = [Result.from_dict(r) for r in reply.records]
    for f in reply.failures:
        u = f.unit
        for check in checks_for(case, u.target) + (relations_for(case) if relations else ()):
            out.append(Result(case=case.id, framework=u.framework, api=u.api, device=u.device, dtype=u.dtype,
                              check=check, status=f.status, message=f.message, precision=u.profile, threads=u.threads,
                              stderr=f.stderr))
    return out


def _by_unit(piece: Reply) -> list[tuple[Unit, Reply]]:
    """A pool piece as (unit, piece of that unit alone) pairs."""
    units: dict = {}
    for r in piece.records:
        unit = Unit(Target(r["framework"], r["api"], r["device"]), r["dtype"], r.get("precision", "defaults"),
                    r.get("threads", 1))
        units.setdefault(unit, Reply(worker=piece.worker)).records.append(r)
    for failure in piece.failures:
        units.setdefault(failure.unit, Reply(worker=piece.worker)).failures.append(failure)
    return list(units.items())


# ------------------------------------------------------------------------- combining
def combine(tries: list[list[Result]]) -> list[Result]:
    """The records of a unit from the records of its attempts (oldest first): see the module doc."""
    final = tries[-1]
    if len(tries) == 1:
        return final
    earlier = [{r.check: r for r in records} for records in tries[:-1]]
    for r in final:
        history = [e.get(r.check) for e in earlier] + [r]
        statuses = [h.status if h else "missing" for h in history]
        r.attempts = [{"status": s, "message": h.message if h else "no record in this attempt"}
                      for s, h in zip(statuses, history[:-1])]
        r.stderr = r.stderr or next((h.stderr for h in reversed(history) if h and h.stderr), None)
        if len(set(statuses)) > 1:
            r.message = _flaky_message(statuses, history)
            r.status = "flaky"
        elif r.status in RETRIED:
            r.message = f"{r.status} in all {len(history)} attempts, each in a new worker: {r.message}"
        else:
            r.varies = _varies(history)
    return final


def _flaky_message(statuses, history) -> str:
    """`flaky: 2 attempts gave crashed, pass; attempt 1: <its message>` (the first failing attempt's)."""
    pick = next((i for i, s in enumerate(statuses) if s in FAILING), None)
    if pick is None:
        pick = next((i for i, s in enumerate(statuses) if s != "pass"), len(statuses) - 1)
    said = history[pick].message if history[pick] else "no record"
    return f"flaky: {len(statuses)} attempts gave {', '.join(statuses)}; attempt {pick + 1}: {said}"


def _varies(history) -> dict | None:
    """What differs between attempts of one status: the digest of the returned array (array checks),
    the value compared (shapes, counts), and the largest error, one value per attempt."""
    out = {}
    for name in ("digest", "got", "max_abs_error"):
        values = [getattr(h, name) for h in history]
        if len({repr(v) for v in values}) > 1:
            out[name] = values
    return out or None


# ------------------------------------------------------------------------- the story of a failure
def annotate(records: list[Result], case, selection) -> list[Result]:
    """A unit's records that crashed, errored or are flaky: the case's parameters in the message, and
    `rerun` (one command for the unit, so made once)."""
    told = [r for r in records if r.status in RETRIED or r.status == "flaky"]
    if told:
        about, rerun = f"; case {case.id}: {case.describe()}", rerun_command(case, told[0], selection)
        for r in told:
            r.message, r.rerun = r.message + about, rerun
    return records


def rerun_command(case, r: Result, selection) -> str | None:
    """`conformance run` of exactly this record's unit: its case, target, dtype and precision profile,
    with the seed, timeout and relations of this run. None for a case that was not read from a file."""
    if not case.origin:
        return None
    path = str(case.origin[0])
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    if not relative.startswith(".."):
        path = relative
    args = ["conformance", "run", "--cases", path, "--case-id", case.id, "--targets", r.target,
            "--dtypes", r.dtype]
    if r.device == "gpu" or r.precision != "defaults":
        args += ["--precision", r.precision]
    if selection.seed:
        args += ["--seed", str(selection.seed)]
    if selection.timeout != TIMEOUT.default:
        args += ["--timeout", f"{selection.timeout:g}"]
    if selection.relations:
        args.append("--relations")
    return " ".join(shlex.quote(a) for a in args + ["--json", RERUN_JSON, "--html", ""])
