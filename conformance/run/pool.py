"""The pool of framework workers: requests in, records out, a crash or a hang costing one unit.

Frameworks run in worker processes (conformance/run/worker.py), each importing its framework once. Each
(case, framework) pair is one request; `jobs` requests run at once (default: one per CPU core),
oldest first, on up to `jobs` workers per framework, so that every core stays busy until the end,
whichever framework is left (JAX, which compiles every shape, is the slowest by far). A worker that
dies or hangs costs only the unit it was running (`crashed` / `error`), and a fresh worker takes over.
Each worker's stdout and stderr go to a file in the pool's scratch folder; a unit that crashed or
errored keeps the end of it. Retries and repeats are the caller's (conformance/run/attempts.py): the
pool runs a request flagged `newer_than` only on a worker started after the one that failed.
"""
from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import os
import shutil
import tempfile
import time
from multiprocessing.connection import wait

from conformance import options
from conformance.errors import UsageError, one_line
from conformance.run.messages import STOP, Failure, Reply, Request
from conformance.run.worker import worker_main
from conformance.run.worker_output import dump_stacks, file_size, output_since, output_tail
from conformance.run.worker_process import Worker, worker_variables

DEFAULT_TIMEOUT = options.TIMEOUT.default  # seconds one case may take on one framework before its worker is killed
STOP_GRACE = 5.0  # seconds a worker asked to stop may take to exit before it is killed


def internal_error(framework: str, traceback_text: str) -> str:
    """A record's one-line message for a bug of ours that a worker reported with its traceback (the
    traceback itself goes to the record's `stderr`): the traceback's last line, the exception."""
    lines = [line for line in traceback_text.splitlines() if line.strip()]
    return one_line(f"internal error in the {framework} worker: {lines[-1] if lines else 'no traceback'}")


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

    A request submitted with `newer_than=N` runs only on a worker numbered above N (`Worker.number`),
    one spawned after worker N: a retry never runs in the process that failed. With `capture`, each
    worker's stdout and stderr go to a file in `scratch`, and the records of a unit that crashed or
    errored carry its tail; without, the workers write to this process's terminal. `variables`: set
    in every worker this pool starts, whatever this process's environment says. With `unit_output`
    (and `capture`), each piece carries all that its worker wrote while it ran the unit (`Reply.output`).
    """

    def __init__(self, frameworks, timeout: float = DEFAULT_TIMEOUT, stream: bool = False, jobs: int = 1,
                 retire_idle: bool = False, known=(), shared_cache: str | None = None, capture: bool = True,
                 variables: dict | None = None, unit_output: bool = False):
        if jobs < 1:
            raise UsageError(f"jobs must be at least 1, not {jobs}")
        self.stream = stream
        self.jobs = jobs
        self.capture = capture
        self.variables = dict(variables or {})
        self.unit_output = unit_output and capture
        self.retire_idle = retire_idle
        self.known = list(known)  # known differences, for the relation checks the workers run
        self._ctx = multiprocessing.get_context("spawn")
        self.timeout = timeout
        self.frameworks = list(frameworks)
        self.workers: list[Worker] = []
        self._stopping: list[Worker] = []  # asked to stop, not yet joined
        # A folder the workers keep their files in, removed by `close`: a worker that is killed
        # (crash, timeout) cannot clean up after itself.
        self.scratch: str | None = None
        # Where the workers keep the caches they share (JAX's compilation cache): `shared_cache`
        # (the caller's, and the caller removes it), else this pool's scratch folder. Shared, a
        # program compiled by one worker is loaded by the others (pytest_plugin.pytest_configure_node).
        self.shared_cache = shared_cache
        if shared_cache:
            try:
                os.makedirs(shared_cache, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"--cache-dir {shared_cache!r} cannot be created ({exc.strerror}); give a "
                                 "writable folder, or 'none' for a folder of this run's") from None
        self.queues = {name: collections.deque() for name in self.frameworks}  # (seq, Request)
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

    def _spawn(self, framework: str, threads: int = 1) -> Worker:
        self.spawned[framework] += 1
        w = Worker(framework, threads=threads, number=self.spawned[framework], starting=True,
                   started=time.monotonic())
        if self.scratch is None:
            self.scratch = tempfile.mkdtemp(prefix="conformance-workers-")
        parent, child = self._ctx.Pipe()
        if self.capture:
            w.output = os.path.join(self.scratch, f"{framework}-{w.number}.log")
        w.process = self._ctx.Process(target=worker_main, args=(child, framework, self.known, self.scratch,
                                                                self.shared_cache or self.scratch, w.output),
                                      daemon=True, name=f"conformance-{framework}-{w.number}")
        with worker_variables(threads, self.variables):
            w.process.start()
        child.close()
        w.conn = parent
        self.workers.append(w)
        return w

    def _handshake(self, w: Worker) -> None:
        """Wait for the worker's hello (blocking)."""
        ready = w.conn.poll(self.timeout)
        self._hello(w, ready)

    def _hello(self, w: Worker, ready: bool) -> None:
        if ready or not w.process.is_alive():
            try:
                kind, payload = w.conn.recv()
            except (EOFError, OSError):
                w.process.join(timeout=5)
                kind, payload = "fatal", f"worker exited with code {w.process.exitcode} while importing {w.framework}"
                tail = output_tail(w.output)
                payload += f"; its output ended with:\n{tail}" if tail else ""
        else:
            kind, payload = "fatal", f"importing {w.framework} took longer than {self.timeout:.0f} s"
        w.starting = False
        if kind == "ready":
            w.info, w.fatal = payload, None
        else:
            w.fatal = payload
            w.kill()

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

    def _stop(self, w: Worker) -> None:
        """Ask a worker to exit, without waiting for it: it is reaped by `_reap` or `close`."""
        if w.process is not None and w.process.is_alive():
            try:
                w.conn.send(STOP)
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
                w.kill()
        self._stopping = still

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests
    def submit(self, framework: str, request: Request) -> None:
        self.replies[request.request_id] = Reply()
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
        spawn costs an import (seconds for TensorFlow) and memory, so extra workers start only when no
        idle one has work, in practice for the slowest framework once the others are done. An idle
        worker that can take none of its framework's queued requests (they are retries that need a
        newer worker) gives its place to a new one."""
        waiting = sorted((q[0][0], name) for name, q in self.queues.items() if q and name not in self.fatal)
        takers = [t for t in (self._taker(name) for _, name in waiting) if t]
        if takers:
            _, name, request, w = min(takers, key=lambda t: t[0])
            self.queues[name].remove(request)
            self._send(w, request[1])
            return True
        for _, name in waiting:
            mine = [w for w in self.workers if w.framework == name]
            if any(w.starting for w in mine):
                continue
            if len(mine) >= self.jobs:  # an idle worker that can take nothing queued (a retry, another thread count)
                stale = [w for w in mine if w.idle]
                if not stale:
                    continue
                self._stop(stale[0])
                self.workers.remove(stale[0])
            # its hello is read by collect(); then it takes the oldest request of its thread count
            self._spawn(name, self.queues[name][0][1].threads)
            return True
        return False

    def _taker(self, name: str):
        """(sequence, framework, queue entry, worker) for the oldest queued request of `name` that one
        of its idle workers may run, or None."""
        idle = [w for w in self.workers if w.framework == name and w.idle]
        for entry in self.queues[name] if idle else ():
            w = next((w for w in idle if w.number > entry[1].newer_than and w.threads == entry[1].threads), None)
            if w is not None:
                return entry[0], name, entry, w
        return None

    def _send(self, w: Worker, request: Request) -> None:
        w.output_mark = file_size(w.output)  # before sending: the worker may write (and die) at once
        try:
            w.conn.send(request)
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

    def _started(self, w: Worker, finished: list) -> None:
        """A spawned worker's hello (or its death) arrived."""
        if w.starting:
            self._hello(w, w.conn.poll())
        if w.fatal:
            self.workers.remove(w)
            self._spawn_failed(w.framework, w.fatal, finished)
        self._feed()

    def _read(self, w: Worker, finished: list) -> None:
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
                self._lose_unit(w, "crashed", w.death(), finished)
                return
            kind, rid = message[0], message[1]
            assert rid == request.request_id, (message, request.request_id)
            if kind == "records":
                records = message[2]
                stderr = self._tail(w) if any(r["status"] == "error" for r in records) else None
                for r in records if stderr else ():
                    if r["status"] == "error":
                        r["stderr"] = stderr
                end = message[3] if len(message) > 3 else None
                self._arrive(rid, Reply(records=records, worker=w.number, output=self._unit_text(w, end)))
                w.position += 1
                w.started = time.monotonic()
                continue
            if kind == "error":  # an internal error of ours, with its traceback: the rest of the request
                tail = self._tail(w)
                self._fail_rest(request, w.position, "error", internal_error(w.framework, message[2]),
                                worker=w.number, stderr=message[2] + (tail or ""))
            self._finish(rid, finished)
            w.current = None
            self._feed()

    def _lose_unit(self, w: Worker, status: str, message: str, finished: list) -> None:
        """The unit in flight is lost (`status`); the request's later units go to a fresh worker."""
        request, position = w.current, w.position
        if status == "error":  # it hangs: have faulthandler write where (conformance/run/worker.py)
            dump_stacks(w.process, w.output)
        self._fail_rest(request, position, status, message, only_one=True, worker=w.number, stderr=self._tail(w),
                        output=self._unit_text(w))
        rest = request.units[position + 1:]
        w.current = None
        if rest:  # first in line again (sequence 0)
            self.queues[w.framework].appendleft((0, dataclasses.replace(request, units=rest)))
        else:
            self._finish(request.request_id, finished)
        self._restart(w, finished)
        self._feed()

    def _fail_rest(self, request: Request, position: int, status: str, message: str, only_one=False,
                   worker: int = 0, stderr: str | None = None, output: str | None = None) -> None:
        units = request.units[position:position + 1] if only_one else request.units[position:]
        for u in units:  # one piece per unit, as the records of a unit that finished arrive
            self._arrive(request.request_id, Reply(failures=[Failure(u, status, message, stderr)], worker=worker,
                                                   output=output))
        if not only_one:
            self._finish(request.request_id)

    def _tail(self, w: Worker) -> str | None:
        """What the worker wrote since its request in flight was sent (the end of it)."""
        return output_tail(w.output, since=w.output_mark)

    def _unit_text(self, w: Worker, end: int | None = None) -> str | None:
        """With `unit_output`: all the worker wrote since its last unit ended (or its request was
        sent) up to `end` (where the worker said this unit's output ended; None: all there is), and
        the mark moves past it; else None."""
        if not self.unit_output:
            return None
        text, w.output_mark = output_since(w.output, w.output_mark, end)
        return text

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

    def _restart(self, w: Worker, finished: list | None = None) -> None:
        """A fresh process in place of `w` (blocking: it replaces a crashed or hung one)."""
        w.kill()
        self.workers.remove(w)
        fresh = self._spawn(w.framework, w.threads)
        self._handshake(fresh)
        if fresh.fatal:  # the framework cannot even start again
            self.workers.remove(fresh)
            self._spawn_failed(w.framework, fresh.fatal, finished)

    def _spawn_failed(self, framework: str, why: str, finished: list | None) -> None:
        """A new worker of `framework` did not start. With none left, the framework is given up;
        else the queued requests that none of the workers left may run (retries that need a newer
        worker) are, rather than spawning again and again."""
        numbers = [x.number for x in self.workers if x.framework == framework]
        if not numbers:
            self._give_up(framework, why, finished)
            return
        queue = self.queues[framework]
        for entry in [e for e in queue if e[1].newer_than >= max(numbers)]:
            queue.remove(entry)
            self._fail_rest(entry[1], 0, "crashed", f"a fresh {framework} worker could not be started: {why}")
            if finished is not None:
                finished.append(entry[1].request_id)

    def _give_up(self, framework: str, why: str, finished: list | None) -> None:
        """No worker of `framework` can run: everything queued for it is lost to it."""
        self.fatal[framework] = why
        queue = self.queues[framework]
        while queue:
            _, request = queue.popleft()
            self._fail_rest(request, 0, "crashed", f"{framework} worker could not be restarted: {why}")
            if finished is not None:
                finished.append(request.request_id)
