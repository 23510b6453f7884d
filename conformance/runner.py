"""The runner: which frameworks and targets run, a pool of framework workers, and the run itself.

Frameworks run in worker processes, each importing its framework once. Each (case, framework) pair
is one request; `jobs` requests run at once (default: one per CPU core), oldest first, on up to
`jobs` workers per framework, so that every core stays busy until the end, whichever framework is
left (JAX, which compiles every shape, is the slowest by far). A worker that dies or hangs costs
only the unit it was running (`crashed` / `error`), and a fresh worker takes over.
"""
from __future__ import annotations

import collections
import dataclasses
import contextlib
import multiprocessing
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing.connection import wait

from . import adapters
from .case import Case
from .errors import UsageError
from .execute import checks_for
from .metamorphic import relations_for
from .results import Result, RunResults
from .worker import host_environment, worker_main

DEVICES = ("cpu", "gpu")
PROFILES = ("strict", "defaults")
DEFAULT_TIMEOUT = 600.0  # seconds one case may take on one framework before its worker is killed
STOP_GRACE = 5.0  # seconds a worker asked to stop may take to exit before it is killed

# What a worker process starts with, unless the user set it:
WORKER_ENVIRONMENT = {
    # Frameworks put Python sets in their error messages (Keras: "one of {'valid', 'same'}"), whose
    # order follows the per-process string hash seed; fixed, the same run gives the same records
    # whichever worker ran a case.
    "PYTHONHASHSEED": "0",
    # The pool's workers are the parallelism (--jobs). OpenMP threads on top of them (PyTorch's
    # intra-op pool, OpenBLAS under the oracle) spin-wait after every call, on the cores the other
    # workers need: under `pytest -n 2` PyTorch's workers used 36.5 s of CPU for 8.8 s of work.
    # PyTorch's own DataLoader workers run with one thread for the same reason.
    "OMP_NUM_THREADS": "1",
}


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
    jobs: int | None = None  # requests in flight at once (CPU cores used); None: the CPU count
    relations: bool = False  # also the metamorphic relation checks (conformance/metamorphic.py)

    def validate(self) -> None:
        from .dtypes import DTYPE_NAMES

        if self.jobs is not None and (not isinstance(self.jobs, int) or self.jobs < 1):
            raise UsageError(f"--jobs must be a whole number of at least 1, got {self.jobs}")

        if not self.timeout > 0 or self.timeout == float("inf"):  # also refuses nan
            raise UsageError(f"--timeout must be a positive number of seconds, got {self.timeout:g}")
        for name, given, allowed in (("framework", self.frameworks, adapters.FRAMEWORKS),
                                     ("device", self.devices, DEVICES), ("dtype", self.dtypes, DTYPE_NAMES),
                                     ("precision profile", self.precision, PROFILES)):
            for value in given or ():
                if value not in allowed:
                    from .errors import did_you_mean
                    raise UsageError(f"unknown {name} {value!r}{did_you_mean(value, allowed)}; "
                                     f"allowed: {', '.join(allowed)}")


def default_jobs() -> int:
    """The CPU cores this process may use (its affinity, else the CPU count)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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
# A unit is what one worker does in one go and what a crash or a hang can cost: one
# (dtype, api, device, profile) of a case, all its checks.
Unit = tuple  # (dtype, api, device, profile)


@dataclass
class Reply:
    """What came back for one (case, framework) request: the records of the units that finished, and
    (unit, status, message) for each unit that did not (`crashed`: the worker died; `error`: it hung
    past the timeout, or our own code failed)."""

    records: list = field(default_factory=list)
    failures: list = field(default_factory=list)


@dataclass
class _Request:
    request_id: object
    case_dict: dict
    units: list
    seed: int
    relations: bool = False  # the worker also checks the metamorphic relations of each unit


@dataclass
class _Worker:
    framework: str
    number: int = 0  # 1, 2, ... among this framework's workers (its process name)
    process: object = None
    conn: object = None
    info: dict | None = None
    fatal: str | None = None
    starting: bool = False  # spawned, its hello not read yet
    current: _Request | None = None
    position: int = 0  # units of `current` finished so far
    started: float = 0.0  # when the unit in flight started (or the worker was spawned)
    stopped_at: float = 0.0  # when it was asked to stop


class WorkerPool:
    """Framework workers in child processes; submit requests, collect their records as they arrive.

    `jobs` caps the requests in flight (the CPU cores to use); each framework has a queue and up to
    `jobs` workers, the first started by `start`, more spawned (without blocking) when a slot is
    free and no idle worker has queued work: once PyTorch and TensorFlow are done, JAX, the
    slowest, gets every core. A free slot goes to the oldest request an idle worker can take.
    `retire_idle` stops a framework's idle workers once its queue is empty, freeing their memory:
    set it once everything is submitted (as `run_suite` does, where an empty queue means that
    framework is done), never while requests still trickle in (the plugin).

    `done` maps a finished request id to its `Reply`. With `stream=True`, `arrivals` also holds
    (request_id, Reply) pieces in the order they came, for callers that stream results (drain it
    with `take_arrivals`).
    """

    def __init__(self, frameworks, timeout: float = DEFAULT_TIMEOUT, stream: bool = False, jobs: int = 1,
                 retire_idle: bool = False, known=(), shared_cache: str | None = None):
        if jobs < 1:
            raise UsageError(f"jobs must be at least 1, not {jobs}")
        self.stream = stream
        self.jobs = jobs
        self.retire_idle = retire_idle
        self.known = list(known)  # known differences, for the relation checks the workers run
        self._ctx = multiprocessing.get_context("spawn")
        self.timeout = timeout
        self.frameworks = list(frameworks)
        self.workers: list[_Worker] = []
        self._stopping: list[_Worker] = []  # asked to stop, not yet joined
        # A folder the workers keep their files in, removed by `close`: a worker that is killed
        # (crash, timeout) cannot clean up after itself.
        self.scratch: str | None = None
        # Where the workers keep the caches they share (JAX's compilation cache): `shared_cache`
        # (the caller's, and the caller removes it), else this pool's scratch folder. Shared, a
        # program compiled by one worker is loaded by the others (pytest_plugin.pytest_configure_node).
        self.shared_cache = shared_cache
        self.queues = {name: collections.deque() for name in self.frameworks}  # (seq, _Request)
        self.fatal: dict = {}  # framework -> why it cannot start
        self.spawned = collections.Counter()  # framework -> workers started so far (restarts included)
        self._seq = 0
        self.done: dict = {}  # request_id -> Reply, once every unit is accounted for
        self.replies: dict = {}  # request_id -> Reply, growing while the request runs
        self.arrivals: collections.deque = collections.deque()

    # -- lifecycle
    def start(self) -> dict[str, dict]:
        """One worker per framework, at most `jobs` importing at once; returns each one's hello."""
        infos = {}
        for i in range(0, len(self.frameworks), self.jobs):
            batch = [self._spawn(name) for name in self.frameworks[i:i + self.jobs]]
            for w in batch:
                self._handshake(w)
                infos[w.framework] = w.info or {"fatal": w.fatal}
                if w.fatal:
                    self.fatal[w.framework] = w.fatal
                    self.workers.remove(w)
        return infos

    def _spawn(self, framework: str) -> _Worker:
        self.spawned[framework] += 1
        w = _Worker(framework, number=self.spawned[framework], starting=True, started=time.monotonic())
        if self.scratch is None:
            self.scratch = tempfile.mkdtemp(prefix="conformance-workers-")
        parent, child = self._ctx.Pipe()
        w.process = self._ctx.Process(target=worker_main, args=(child, framework, self.known, self.scratch,
                                                                self.shared_cache or self.scratch),
                                      daemon=True, name=f"conformance-{framework}-{w.number}")
        with _worker_environment():
            w.process.start()
        child.close()
        w.conn = parent
        self.workers.append(w)
        return w

    def _handshake(self, w: _Worker) -> None:
        """Wait for the worker's hello (blocking)."""
        ready = w.conn.poll(self.timeout)
        self._hello(w, ready)

    def _hello(self, w: _Worker, ready: bool) -> None:
        if ready or not w.process.is_alive():
            try:
                kind, payload = w.conn.recv()
            except (EOFError, OSError):
                w.process.join(timeout=5)
                kind, payload = "fatal", f"worker exited with code {w.process.exitcode} while importing {w.framework}"
        else:
            kind, payload = "fatal", f"importing {w.framework} took longer than {self.timeout:.0f} s"
        w.starting = False
        if kind == "ready":
            w.info, w.fatal = payload, None
        else:
            w.fatal = payload
            self._kill(w)

    def close(self) -> None:
        """Stop every worker, the retiring ones included: all asked at once, then each waited for."""
        for w in self.workers:
            self._stop(w)
        self.workers = []
        deadline = time.monotonic() + STOP_GRACE
        for w in self._stopping:
            w.process.join(timeout=max(0.0, deadline - time.monotonic()))
        self._reap(force=True)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def _stop(self, w: _Worker) -> None:
        """Ask a worker to exit, without waiting for it: it is reaped by `_reap` or `close`."""
        if w.process is not None and w.process.is_alive():
            try:
                w.conn.send(("stop",))
            except OSError:
                pass
        w.stopped_at = time.monotonic()
        self._stopping.append(w)

    def _reap(self, force: bool = False) -> None:
        """Join the stopped workers that have exited; kill the ones past the grace period (all the
        ones still running, with `force`)."""
        now, still = time.monotonic(), []
        for w in self._stopping:
            if not force and w.process.is_alive() and now - w.stopped_at < STOP_GRACE:
                still.append(w)
            else:
                self._kill(w)
        self._stopping = still

    def _kill(self, w: _Worker) -> None:
        """Kill the process if it still runs, and join it (a dead one too, so no zombie is left)."""
        if w.process is None:
            return
        if w.process.is_alive():
            w.process.kill()
        w.process.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests
    def submit(self, framework: str, request_id, case_dict: dict, units: list, seed: int,
               relations: bool = False) -> None:
        self.replies[request_id] = Reply()
        request = _Request(request_id, case_dict, list(units), seed, relations)
        if framework in self.fatal:
            self._fail_rest(request, 0, "crashed", f"{framework} worker is not running: {self.fatal[framework]}")
            return
        self._seq += 1
        self.queues[framework].append((self._seq, request))
        self._feed()

    @property
    def _in_flight(self) -> int:
        return sum(w.current is not None or w.starting for w in self.workers)

    def _feed(self) -> None:
        """Start queued requests, oldest first, while fewer than `jobs` are in flight."""
        while self._in_flight < self.jobs and self._start_one():
            pass
        if self.retire_idle:
            for w in list(self.workers):
                if w.current is None and not w.starting and not self.queues[w.framework]:
                    self._stop(w)
                    self.workers.remove(w)
        self._reap()

    def _start_one(self) -> bool:
        """Fill one free slot: the oldest queued request that an idle worker can take; else a new
        worker for the oldest request's framework (if it may have one more). Idle workers first: a
        spawn costs an import (TensorFlow ~3 s) and memory, so extra workers start only when no
        idle one has work, in practice for the slowest framework once the others are done."""
        waiting = sorted((q[0][0], name) for name, q in self.queues.items() if q and name not in self.fatal)
        for _, name in waiting:
            idle = [w for w in self.workers if w.framework == name and w.info and w.current is None
                    and not w.starting]
            if idle:
                self._send(idle[0], self.queues[name].popleft()[1])
                return True
        for _, name in waiting:
            mine = [w for w in self.workers if w.framework == name]
            if len(mine) < self.jobs and not any(w.starting for w in mine):
                self._spawn(name)  # its hello is read by collect(); then it takes the oldest request
                return True
        return False

    def _send(self, w: _Worker, request: _Request) -> None:
        try:
            w.conn.send(("run", request.request_id, request.case_dict, request.units, request.seed,
                         request.relations))
        except OSError as exc:
            self._fail_rest(request, 0, "crashed", f"could not send the case to the {w.framework} worker: {exc}")
            self._restart(w)
            return
        w.current, w.position, w.started = request, 0, time.monotonic()

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self.queues.values()) + sum(w.current is not None for w in self.workers)

    def take_arrivals(self) -> list:
        """(request_id, Reply) pieces received since the last call, oldest first."""
        out = list(self.arrivals)
        self.arrivals.clear()
        return out

    def collect(self, block: float = 1.0) -> list:
        """Wait up to `block` seconds for messages; returns the request ids that completed."""
        busy = [w for w in self.workers if w.current is not None or w.starting]
        if not busy:
            return []
        handles = {w.conn: w for w in busy}
        handles.update({w.process.sentinel: w for w in busy})
        ready = wait(list(handles), timeout=block)
        finished = []
        for w in {id(handles[h]): handles[h] for h in ready}.values():
            if w.starting:
                self._started(w, finished)
            else:
                self._read(w, finished)
        now = time.monotonic()
        for w in busy:
            if w.starting and now - w.started > self.timeout:
                self._hello(w, False)
                self._started(w, finished)
            elif w.current is not None and now - w.started > self.timeout:
                self._lose_unit(w, "error", f"no result within the timeout of {self.timeout:g} s (--timeout): "
                                            f"the {w.framework} worker was stopped and restarted", finished)
        self._feed()
        return finished

    def _started(self, w: _Worker, finished: list) -> None:
        """A spawned worker's hello (or its death) arrived."""
        if w.starting:
            self._hello(w, w.conn.poll())
        if w.fatal:
            self.workers.remove(w)
            if not any(x.framework == w.framework for x in self.workers):
                self._give_up(w.framework, w.fatal, finished)
        self._feed()

    def _read(self, w: _Worker, finished: list) -> None:
        """Every message the worker has sent; a closed pipe means the worker died."""
        while w.current is not None:
            request = w.current
            try:
                if not w.conn.poll():
                    if w.process.is_alive():
                        return
                    raise EOFError
                message = w.conn.recv()
            except (EOFError, OSError):
                w.process.join(timeout=5)
                self._lose_unit(w, "crashed", _death(w), finished)
                return
            kind, rid = message[0], message[1]
            assert rid == request.request_id, (message, request.request_id)
            if kind == "records":
                self._arrive(rid, Reply(records=message[2]))
                w.position += 1
                w.started = time.monotonic()
                continue
            if kind == "error":  # an internal error of ours, with its traceback: the rest of the request
                self._fail_rest(request, w.position, "error", message[2])
            self._finish(rid, finished)
            w.current = None
            self._feed()

    def _lose_unit(self, w: _Worker, status: str, message: str, finished: list) -> None:
        """The unit in flight is lost (`status`); the request's later units go to a fresh worker."""
        request, position = w.current, w.position
        self._fail_rest(request, position, status, message, only_one=True)
        rest = request.units[position + 1:]
        w.current = None
        if rest:  # first in line again (sequence 0)
            self.queues[w.framework].appendleft((0, dataclasses.replace(request, units=rest)))
        else:
            self._finish(request.request_id, finished)
        self._restart(w, finished)
        self._feed()

    def _fail_rest(self, request: _Request, position: int, status: str, message: str, only_one=False) -> None:
        units = request.units[position:position + 1] if only_one else request.units[position:]
        if units:
            self._arrive(request.request_id, Reply(failures=[(tuple(u), status, message) for u in units]))
        if not only_one:
            self._finish(request.request_id)

    def _arrive(self, request_id, piece: Reply) -> None:
        reply = self.replies.setdefault(request_id, Reply())
        reply.records.extend(piece.records)
        reply.failures.extend(piece.failures)
        if self.stream:
            self.arrivals.append((request_id, piece))

    def _finish(self, request_id, finished: list | None = None) -> None:
        if request_id in self.done:
            return
        self.done[request_id] = self.replies.pop(request_id, Reply())
        if finished is not None:
            finished.append(request_id)

    def _restart(self, w: _Worker, finished: list | None = None) -> None:
        """A fresh process in place of `w` (blocking: it replaces a crashed or hung one)."""
        self._kill(w)
        self.workers.remove(w)
        fresh = self._spawn(w.framework)
        self._handshake(fresh)
        if fresh.fatal:  # the framework cannot even start again
            self.workers.remove(fresh)
            if not any(x.framework == w.framework for x in self.workers):
                self._give_up(w.framework, fresh.fatal, finished)

    def _give_up(self, framework: str, why: str, finished: list | None) -> None:
        """No worker of `framework` can run: everything queued for it is lost to it."""
        self.fatal[framework] = why
        queue = self.queues[framework]
        while queue:
            _, request = queue.popleft()
            self._fail_rest(request, 0, "crashed", f"{framework} worker could not be restarted: {why}")
            if finished is not None:
                finished.append(request.request_id)


@contextlib.contextmanager
def _worker_environment():
    """Start workers with these variables, unless the user set them (`WORKER_ENVIRONMENT`)."""
    import os

    added = [name for name in WORKER_ENVIRONMENT if name not in os.environ]
    os.environ.update({name: WORKER_ENVIRONMENT[name] for name in added})  # read by the spawned interpreter
    try:
        yield
    finally:
        for name in added:
            del os.environ[name]


def _death(w: _Worker) -> str:
    code = w.process.exitcode
    how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return f"the {w.framework} worker process died ({how}) while running this case"


# ------------------------------------------------------------------------- the run
def units_for(triples, dtypes) -> list[Unit]:
    """Units in the order a worker runs them: by dtype first, so the oracle runs once per dtype."""
    return [(dtype, api, device, profile) for dtype in dtypes for api, device, profile in triples]


def records_from(reply: Reply, case: Case, framework: str, relations: bool = False) -> list[Result]:
    """Result records of a reply (or a piece of one): a lost unit gives one record per check (and per
    relation, when the request had them)."""
    out = [Result.from_dict(r) for r in reply.records]
    for (dtype, api, device, profile), status, message in reply.failures:
        target = adapters.Target(framework, api, device)
        for check in checks_for(case, target) + (relations_for(case) if relations else ()):
            out.append(Result(case=case.id, framework=framework, api=api, device=device, dtype=dtype,
                              check=check, status=status, message=message, precision=profile))
    return out


def dtypes_for(case: Case, selection: Selection) -> list[str]:
    return [d for d in case.dtypes if not selection.dtypes or d in selection.dtypes]


def run_suite(cases: list[Case], selection: Selection, *, progress=None, on_records=None, known=()) -> RunResults:
    """Run every case on every selected target; never loses one framework's results to another's crash.

    `known`: the known differences, which the workers need for the relation checks (a relation that
    fails because a case it relies on is a known difference is `known`); the caller marks the
    ordinary records.

    `on_records(results)` is called with each batch of records as it arrives (for streaming them to
    disk). Ctrl-C (KeyboardInterrupt) stops the run and returns what finished, with
    `environment["partial"]` saying so.
    """
    selection.validate()
    frameworks, skipped = resolve_frameworks(selection)
    environment = {"host": host_environment(), "seed": selection.seed, "frameworks": {},
                   "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "command": " ".join(sys.argv)}
    results: list[Result] = []
    by_request = {}
    environment["jobs"] = jobs = selection.jobs or default_jobs()
    with WorkerPool(frameworks, timeout=selection.timeout, stream=True, jobs=jobs, known=known) as pool:
        try:
            plan, environment["frameworks"], skips = plan_targets(pool.start(), selection)
            skipped.extend(skips)
            for case in cases:
                dtypes = dtypes_for(case, selection)
                if not dtypes:
                    continue
                for name, triples in plan.items():
                    request_id = (case.id, name)
                    by_request[request_id] = case
                    pool.submit(name, request_id, case.to_dict(), units_for(triples, dtypes), selection.seed,
                                selection.relations)
            pool.retire_idle = True  # everything is queued: a framework whose queue empties is done
            while True:
                for request_id, piece in pool.take_arrivals():
                    batch = records_from(piece, by_request[request_id], request_id[1], selection.relations)
                    results.extend(batch)
                    if on_records:
                        on_records(batch)
                if progress:
                    progress(len(pool.done), len(by_request))
                if not pool.pending:
                    break
                pool.collect(block=0.5)
        except KeyboardInterrupt:
            environment["partial"] = (f"interrupted: {len(pool.done)} of {len(by_request)} (case, framework) "
                                      "requests finished; the results hold only what finished")
        # each worker imports its framework once, whatever the number of cases it runs
        environment["workers_started"] = dict(pool.spawned)
    environment["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    environment["cases"] = len(cases)
    return RunResults(results=results, environment=environment, skipped=skipped)
