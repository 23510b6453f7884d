"""The runner: which frameworks and targets run, a pool of framework workers, and the run itself.

One worker process per framework, all running at once (the frameworks' import costs overlap, and on
a machine with several cores their cases too). Each (case, framework) pair is one request; the pool
keeps every worker busy and collects results as they come. A worker that dies or hangs costs only
the case it was running (`crashed`), and a fresh worker takes over.
"""
from __future__ import annotations

import collections
import multiprocessing
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing.connection import wait

from . import adapters
from .case import Case
from .errors import UsageError
from .execute import checks_for
from .results import Result, RunResults
from .worker import host_environment, worker_main

DEVICES = ("cpu", "gpu")
PROFILES = ("strict", "defaults")
DEFAULT_TIMEOUT = 600.0  # seconds one case may take on one framework before its worker is killed


# ------------------------------------------------------------------------- selection
@dataclass
class Selection:
    """What to run: frameworks (None = every installed one), devices, dtypes, precision profiles."""

    frameworks: list[str] | None = None
    devices: list[str] | None = None  # None: cpu, plus gpu where a framework sees one
    dtypes: list[str] | None = None  # None: each case's own dtypes
    precision: list[str] | None = None  # None: 'defaults' on cpu, both profiles on gpu
    seed: int = 0
    timeout: float = DEFAULT_TIMEOUT

    def validate(self) -> None:
        from .dtypes import DTYPE_NAMES

        for name, given, allowed in (("framework", self.frameworks, adapters.FRAMEWORKS),
                                     ("device", self.devices, DEVICES), ("dtype", self.dtypes, DTYPE_NAMES),
                                     ("precision profile", self.precision, PROFILES)):
            for value in given or ():
                if value not in allowed:
                    from .errors import did_you_mean
                    raise UsageError(f"unknown {name} {value!r}{did_you_mean(value, allowed)}; "
                                     f"allowed: {', '.join(allowed)}")


def resolve_frameworks(selection: Selection) -> tuple[list[str], list[dict]]:
    """Frameworks to run, and the visible skips. A requested framework that is missing is an error."""
    skipped = []
    if selection.frameworks:
        for name in selection.frameworks:
            missing = adapters.missing_packages(name)
            if missing:
                raise UsageError(f"framework {name!r} was requested but is not installed (missing: "
                                 f"{', '.join(missing)}); install it with: pip install 'conv-conformance[{name}]'")
        return list(selection.frameworks), skipped
    chosen = []
    for name in adapters.FRAMEWORKS:
        missing = adapters.missing_packages(name)
        if missing:
            skipped.append({"framework": name, "reason": f"not installed (missing: {', '.join(missing)})"})
        else:
            chosen.append(name)
    return chosen, skipped


def targets_for(framework: str, info: dict, selection: Selection) -> tuple[list[tuple], list[dict]]:
    """(api, device, profile) triples for a framework whose worker reported `info`, and the skips."""
    skipped = []
    available = info.get("devices", ["cpu"])
    wanted = selection.devices or DEVICES
    devices = [d for d in wanted if d in available]
    for d in wanted:
        if d not in available:
            skipped.append({"framework": framework, "device": d, "reason": f"no {d} visible to {framework}"})
    triples = []
    for api in adapters.APIS[framework]:
        missing = adapters.missing_packages(framework, api)
        if missing:
            skipped.append({"framework": framework, "target": api, "reason": f"not installed (missing: {', '.join(missing)})"})
            continue
        for device in devices:
            profiles = selection.precision or (["defaults"] if device == "cpu" else list(PROFILES))
            if device == "cpu":
                profiles = profiles[-1:]  # the profiles differ only on GPUs; run the CPU once
            triples.extend((api, device, p) for p in profiles)
    return triples, skipped


def plan_targets(infos: dict, selection: Selection) -> tuple[dict, dict, list[dict]]:
    """From the workers' hello (`WorkerPool.start`): the (api, device, profile) triples per framework,
    the frameworks' environment records, and the skips (a framework that failed to start, a device
    or an API it lacks)."""
    plan, environment, skipped = {}, {}, []
    for name, info in infos.items():
        if "fatal" in info:
            skipped.append({"framework": name, "reason": f"failed to start: {info['fatal']}"})
            environment[name] = {"error": info["fatal"]}
            continue
        environment[name] = {"version": info["version"], "devices": info["devices"], **info["environment"]}
        triples, skips = targets_for(name, info, selection)
        skipped.extend(skips)
        if triples:
            plan[name] = triples
    return plan, environment, skipped


def describe_skip(skip: dict) -> str:
    """One line for a skip record: `torch on gpu: no gpu visible to torch`."""
    what = skip.get("target") or skip.get("framework")
    extra = f" on {skip['device']}" if "device" in skip else ""
    return f"{what}{extra}: {skip['reason']}"


# ------------------------------------------------------------------------- the worker pool
@dataclass
class _Worker:
    framework: str
    process: object = None
    conn: object = None
    info: dict | None = None
    fatal: str | None = None
    queue: collections.deque = field(default_factory=collections.deque)
    current: tuple | None = None  # (request_id, payload)
    started: float = 0.0


class WorkerPool:
    """Framework workers in child processes; submit requests, collect record dicts."""

    def __init__(self, frameworks, timeout: float = DEFAULT_TIMEOUT):
        self._ctx = multiprocessing.get_context("spawn")
        self.timeout = timeout
        self.workers = {name: _Worker(name) for name in frameworks}
        self.done: dict = {}  # request_id -> list of record dicts, or ("crashed", message)

    # -- lifecycle
    def start(self) -> dict[str, dict]:
        for w in self.workers.values():
            self._spawn(w)
        for w in self.workers.values():
            self._handshake(w)
        return {name: (w.info or {"fatal": w.fatal}) for name, w in self.workers.items()}

    def _spawn(self, w: _Worker) -> None:
        parent, child = self._ctx.Pipe()
        w.process = self._ctx.Process(target=worker_main, args=(child, w.framework), daemon=True,
                                      name=f"conformance-{w.framework}")
        w.process.start()
        child.close()
        w.conn = parent

    def _handshake(self, w: _Worker) -> None:
        if w.conn.poll(self.timeout):
            try:
                kind, payload = w.conn.recv()
            except (EOFError, OSError):
                kind, payload = "fatal", f"worker exited with code {w.process.exitcode} while importing {w.framework}"
        else:
            kind, payload = "fatal", f"importing {w.framework} took longer than {self.timeout:.0f} s"
        if kind == "ready":
            w.info, w.fatal = payload, None
        else:
            w.fatal = payload
            self._kill(w)

    def close(self) -> None:
        for w in self.workers.values():
            if w.process is not None and w.process.is_alive():
                try:
                    w.conn.send(("stop",))
                except OSError:
                    pass
                w.process.join(timeout=5)
            self._kill(w)

    def _kill(self, w: _Worker) -> None:
        if w.process is not None and w.process.is_alive():
            w.process.kill()
            w.process.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests
    def submit(self, framework: str, request_id, payload: tuple) -> None:
        w = self.workers[framework]
        if w.fatal:
            self.done[request_id] = ("crashed", f"{framework} worker is not running: {w.fatal}")
            return
        w.queue.append((request_id, payload))
        self._feed(w)

    def _feed(self, w: _Worker) -> None:
        while w.current is None and w.queue:
            request_id, payload = w.queue.popleft()
            try:
                w.conn.send(("run", request_id) + payload)
            except OSError as exc:
                self.done[request_id] = ("crashed", f"could not send the case to the {w.framework} worker: {exc}")
                self._restart(w)
                continue
            w.current, w.started = (request_id, payload), time.monotonic()

    @property
    def pending(self) -> int:
        return sum(len(w.queue) + (w.current is not None) for w in self.workers.values())

    def collect(self, block: float = 1.0) -> list:
        """Wait up to `block` seconds for replies; returns the request ids that completed."""
        busy = [w for w in self.workers.values() if w.current is not None]
        if not busy:
            return []
        handles = {w.conn: w for w in busy}
        handles.update({w.process.sentinel: w for w in busy})
        ready = wait(list(handles), timeout=block)
        finished = []
        for w in {handles[h].framework: handles[h] for h in ready}.values():
            if w.current is None:
                continue
            request_id = w.current[0]
            try:
                if not w.conn.poll():
                    raise EOFError
                kind, rid, records = w.conn.recv()
                assert kind == "results" and rid == request_id
            except (EOFError, OSError):
                w.process.join(timeout=5)
                self.done[request_id] = ("crashed", _death(w))
                self._restart(w)
            else:
                if isinstance(records, dict):  # an internal error of ours, with its traceback
                    self.done[request_id] = ("error", records["internal_error"])
                else:
                    self.done[request_id] = records
                w.current = None
            finished.append(request_id)
            self._feed(w)
        now = time.monotonic()
        for w in busy:
            if w.current is not None and now - w.started > self.timeout:
                request_id = w.current[0]
                self.done[request_id] = ("crashed", f"the {w.framework} worker took longer than "
                                                    f"{self.timeout:.0f} s on this case and was killed")
                self._restart(w)
                finished.append(request_id)
                self._feed(w)
        return finished

    def _restart(self, w: _Worker) -> None:
        self._kill(w)
        w.current = None
        self._spawn(w)
        self._handshake(w)
        if w.fatal:  # the framework cannot even start again: everything queued is lost to it
            while w.queue:
                request_id, _ = w.queue.popleft()
                self.done[request_id] = ("crashed", f"{w.framework} worker could not be restarted: {w.fatal}")


def _death(w: _Worker) -> str:
    code = w.process.exitcode
    how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return f"the {w.framework} worker process died ({how}) while running this case"


# ------------------------------------------------------------------------- the run
def records_from(reply, case: Case, framework: str, triples, dtypes) -> list[Result]:
    """Records from a worker's reply; a crash or internal error becomes one record per expected check."""
    if isinstance(reply, list):
        return [Result.from_dict(r) for r in reply]
    status, message = reply
    out = []
    for api, device, profile in triples:
        target = adapters.Target(framework, api, device)
        for dtype in dtypes:
            for check in checks_for(case, target):
                out.append(Result(case=case.id, framework=framework, api=api, device=device, dtype=dtype,
                                  check=check, status=status, message=message, precision=profile))
    return out


def dtypes_for(case: Case, selection: Selection) -> list[str]:
    return [d for d in case.dtypes if not selection.dtypes or d in selection.dtypes]


def run_suite(cases: list[Case], selection: Selection, *, progress=None) -> RunResults:
    """Run every case on every selected target; never loses one framework's results to another's crash."""
    selection.validate()
    frameworks, skipped = resolve_frameworks(selection)
    environment = {"host": host_environment(), "seed": selection.seed, "frameworks": {},
                   "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "command": " ".join(sys.argv)}
    results: list[Result] = []
    with WorkerPool(frameworks, timeout=selection.timeout) as pool:
        plan, environment["frameworks"], skips = plan_targets(pool.start(), selection)
        skipped.extend(skips)
        requests = {}
        for case in cases:
            dtypes = dtypes_for(case, selection)
            if not dtypes:
                continue
            for name, triples in plan.items():
                request_id = (case.id, name)
                requests[request_id] = (case, name, triples, dtypes)
                pool.submit(name, request_id, (case.to_dict(), triples, dtypes, selection.seed))
        total, finished = len(requests), 0
        for request_id in list(pool.done):  # submissions refused up front (a framework that never started)
            finished += 1
        while pool.pending:
            for _ in pool.collect(block=0.5):
                finished += 1
            if progress:
                progress(min(finished, total), total)
        for request_id, (case, name, triples, dtypes) in requests.items():
            results.extend(records_from(pool.done[request_id], case, name, triples, dtypes))
        if progress:
            progress(total, total)
    environment["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    environment["cases"] = len(cases)
    return RunResults(results=results, environment=environment, skipped=skipped)
