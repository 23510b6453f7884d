"""Attempts of a unit: retries after a crash or an error, `--repeat`, and what their records say.

A unit is one (case, dtype, api, device, profile) on one framework worker (`pool.Unit`). `Attempts`
stands between a `pool.WorkerPool` (in stream mode) and whoever consumes its records: `run_suite`
for `conformance run`, and the pytest plugin's session. It holds back the records of a unit until
the unit is final:

- a unit that crashed (its worker died) or errored (a timeout, or an `error` record) runs again, up to
  `Selection.retries` more times, each time in a worker the pool started after the one that failed;
- with `Selection.repeat` N, every unit runs N times, each attempt in another worker process.

`combine` turns the attempts into the unit's records: the last attempt's, each with `attempts` (the
earlier attempts' status and message). A check whose status differs between attempts is `flaky` (a
crash then a pass, an error then a fail: the crash or error costs every check of the unit, so every
check of it is flaky); one with the same status but other values in another process (--repeat) keeps
its status and gets `varies`. Records of crashed, errored and flaky units carry the case's
parameters in the message, the worker's stderr (`stderr`) and a command that reruns the unit (`rerun`).
"""
from __future__ import annotations

import itertools
import os
import shlex

from conformance.results.records import FAILING, Result

RETRIED = ("crashed", "error")  # a unit with a record of one of these statuses gets another attempt
RERUN_JSON = "/tmp/conformance-rerun.json"


class Attempts:
    """Submits units to the pool, gives each unit the attempts it needs, and hands out final records."""

    def __init__(self, pool, selection):
        self.pool = pool
        self.selection = selection
        self.finished = 0  # requests (case, framework) whose every unit is final
        self._requests: dict = {}  # pool request id -> (request key, case, framework)
        self._tries: dict = {}  # (request key, unit) -> [records of each attempt so far]
        self._open: dict = {}  # request key -> its units that are not final yet
        self._cases: dict = {}  # request key -> its case
        self._ids = itertools.count(1)

    @property
    def pending(self) -> int:
        return self.pool.pending

    @property
    def requests(self) -> int:
        """(case, framework) requests submitted so far."""
        return len(self._open)

    def submit(self, framework: str, key, case, units) -> None:
        """Run `units` of `case` on `framework`; their final records come out of `take` under `key`."""
        self._open[key] = {tuple(u) for u in units}
        self._cases[key] = case
        self._send(framework, key, case, [tuple(u) for u in units], newer_than=0)

    def _send(self, framework, key, case, units, newer_than: int) -> None:
        request_id = (key, next(self._ids))
        self._requests[request_id] = (key, case, framework)
        self.pool.submit(framework, request_id, case.to_dict(), units, self.selection.seed,
                         self.selection.relations, newer_than=newer_than)

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
        from conformance.run.suite import records_from

        out = []
        for request_id, piece in self.pool.take_arrivals():
            key, case, framework = self._requests[request_id]
            for unit, reply in _by_unit(piece):
                records = records_from(reply, case, framework, self.selection.relations)
                final = self._attempted(key, case, framework, unit, records, piece.worker)
                if final is not None:
                    out.append((key, final))
        for request_id in [r for r in self.pool.done if r in self._requests]:
            del self.pool.done[request_id], self._requests[request_id]  # all its pieces were taken
        return out

    def _attempted(self, key, case, framework, unit, records, worker: int):
        """One more attempt of `unit` came back: its final records, or None when it runs again."""
        tries = self._tries.setdefault((key, unit), [])
        tries.append(records)
        repeat, retries = self.selection.repeat, self.selection.retries
        failed = any(r.status in RETRIED for r in records)
        if len(tries) < repeat or (failed and len(tries) < repeat + retries):
            self._send(framework, key, case, [unit], newer_than=worker)
            return None
        del self._tries[(key, unit)]
        self._open[key].discard(unit)
        if not self._open[key]:
            self.finished += 1
        return annotate(combine(tries), case, self.selection)

    def drain(self) -> list[Result]:
        """The records of the units still waiting for an attempt (an interrupted run), as they stand."""
        out = []
        for (key, _), tries in self._tries.items():
            out.extend(annotate(combine(tries), self._cases[key], self.selection))
        self._tries.clear()
        return out


def _by_unit(piece):
    """A pool piece as (unit, piece of that unit alone) pairs."""
    from conformance.run.pool import Reply

    units: dict = {}
    for r in piece.records:
        unit = (r["dtype"], r["api"], r["device"], r.get("precision", "defaults"))
        units.setdefault(unit, Reply(worker=piece.worker)).records.append(r)
    for failure in piece.failures:
        units.setdefault(tuple(failure[0]), Reply(worker=piece.worker)).failures.append(failure)
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
    """Records that crashed, errored or are flaky: the case's parameters in the message, and `rerun`."""
    for r in records:
        if r.status in RETRIED or r.status == "flaky":
            r.message = f"{r.message}; case {case.id}: {case.describe()}"
            r.rerun = rerun_command(case, r, selection)
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
    if selection.timeout != type(selection)().timeout:
        args += ["--timeout", f"{selection.timeout:g}"]
    if selection.relations:
        args.append("--relations")
    return " ".join(shlex.quote(a) for a in args + ["--json", RERUN_JSON, "--html", ""])


# ------------------------------------------------------------------------- terminal lines
def unexpected_lines(unexpected: list[Result], limit: int = 20) -> list[str]:
    """The run's unexpected records for the terminal, one line per unit, status and message (the
    checks of a crashed unit share theirs); under each unit, the last line its worker wrote before
    the failure and the command that reruns it."""
    groups: dict = {}
    for r in unexpected:
        unit = (r.case, r.framework, r.api, r.device, r.precision, r.dtype)
        groups.setdefault((unit, r.status, r.message), []).append(r)
    lines, seen = [], set()
    for (unit, status, message), records in list(groups.items())[:limit]:
        r = records[0]
        checks = ", ".join(x.check for x in records)
        lines.append(f"  {status.upper():8} {r.case} [{r.api}@{r.device} {r.precision} {r.dtype} {checks}] {message}")
        if unit in seen:
            continue
        seen.add(unit)
        if r.stderr:
            lines.append(f"           stderr: {_telling_line(r.stderr)}")
        if r.rerun:
            lines.append(f"           rerun:  {r.rerun}")
    if len(groups) > limit:
        lines.append(f"  ... and {len(groups) - limit} more (see the report)")
    return lines


def _telling_line(stderr: str) -> str:
    """The line of a worker's output that says most: the last one before Python's own report of a
    fatal signal (faulthandler's 'Fatal Python error'), or that report and its innermost frame when
    nothing came before it, else the last line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    fatal = next((i for i, line in enumerate(lines) if line.startswith("Fatal Python error")), None)
    if fatal is None:
        return lines[-1] if lines else ""
    if fatal > 0:
        return lines[fatal - 1]
    frame = next((line.strip() for line in lines if line.strip().startswith("File ")), "")  # the innermost
    return f"{lines[0]}, {frame}" if frame else lines[0]


def varied_lines(results, limit: int = 20) -> list[str]:
    """The checks whose values differed between --repeat attempts (not a failure: worth a look)."""
    varied = [r for r in results if r.varies]
    if not varied:
        return []
    checks = f"{len(varied)} check" + ("s" if len(varied) != 1 else "")
    lines = [f"values varied between repeats: {checks} (same status in every attempt)"]
    for r in varied[:limit]:
        what = "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in r.varies.items())
        lines.append(f"  VARIES   {r.case} [{r.api}@{r.device} {r.precision} {r.dtype} {r.check}] {r.status}: {what}")
    if len(varied) > limit:
        lines.append(f"  ... and {len(varied) - limit} more (see the report)")
    return lines
