"""The framework worker: a child process that imports one framework once and runs cases on it.

Each framework lives in its own processes (one, or up to `--jobs` when its work queues up) because
(1) importing it costs seconds, so each worker does it once, never per case; (2) frameworks do not
always coexist in one process (threading runtimes, protobuf versions); (3) a framework that crashes
the process (a segfault in a kernel) must not take the other frameworks' results with it: the
parent marks the case that was running as `crashed`, starts a fresh worker and goes on.

Only what runs inside the worker process is here. The environment its hello reports is assembled
in conformance/run/environment.py; the messages between the pool and a worker are described in
conformance/run/messages.py.
"""
from __future__ import annotations

import faulthandler
import os
import signal
import sys
import traceback

from conformance.adapters import load_adapter
from conformance.adapters.base import SCRATCH_VARIABLE, SHARED_CACHE_VARIABLE
from conformance.check.evaluate import Reference, evaluate_unit
from conformance.check.reproduce import repro_records
from conformance.recipes import recipe_adapter
from conformance.run.environment import adapter_info, local_environment
from conformance.run.messages import STOP
from conformance.spec.case import Case


def worker_main(conn, framework: str, known=(), scratch: str | None = None, shared_cache: str | None = None,
                output: str | None = None) -> None:
    """`scratch`: a folder of the pool's for files this worker keeps; the pool removes it, so that
    nothing is left behind by a worker that was killed. `shared_cache`: a folder for caches shared
    with the run's other workers (JAX's compilation cache), removed by whoever made it. `output`: a
    file for everything this process writes to stdout and stderr (see `_capture_output`)."""
    _capture_output(output)
    if scratch:
        os.environ[SCRATCH_VARIABLE] = scratch
    if shared_cache:
        os.environ[SHARED_CACHE_VARIABLE] = shared_cache
    # Frameworks print to stdout/stderr at import; the protocol goes over `conn`, so that is harmless,
    # but keep TensorFlow's C++ chatter down.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Ctrl-C reaches the whole process group; the parent decides what an interrupt means (it keeps
    # what finished and stops the workers), so a worker must not die of it mid-message.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        adapter = load_adapter(framework)
        info = {**adapter_info(adapter), "framework": framework, "pid": os.getpid()}
    except Exception as exc:  # the framework is installed but does not import or initialise
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", info))
    try:
        _serve(conn, adapter, known, local_environment(framework, info))
    except (EOFError, OSError):  # the parent went away (finished, interrupted or killed): so do we
        pass
    # Everything this process had to say went over `conn`. Exit now, skipping the interpreter's
    # teardown: with a framework loaded, module and thread-pool teardown is slow and saves nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _capture_output(path: str | None) -> None:
    """Send file descriptors 1 and 2 to `path` (when given), so that the frameworks' log lines, C++
    ones included (TensorFlow, XLA), stay off the user's terminal and the pool can put the tail of
    them into the records of a unit that crashed or errored. faulthandler writes the Python stack
    there when the process dies of a signal (SIGSEGV, SIGABRT), and on SIGUSR1, which the pool sends
    a worker that hangs before it kills it."""

    if path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(line_buffering=True)  # a crash must not lose buffered lines
    try:
        faulthandler.enable(all_threads=False)
        if hasattr(signal, "SIGUSR1"):
            faulthandler.register(signal.SIGUSR1, all_threads=True)
    except (RuntimeError, ValueError, OSError):  # no usable stderr: nothing to write the stack to
        pass


def _serve(conn, adapter, known, environment: dict) -> None:
    """Run each `Request` until `STOP`. `environment`: this worker's run environment, for the `when:`
    of known differences that the relation checks apply here. The records go back unmarked: they
    are one attempt of each unit (`evaluate_unit`'s `mark`)."""
    while True:
        request = conn.recv()
        if request == STOP:
            return
        try:
            case = Case.from_dict(request.case_dict)
            ref = None
            for unit in request.units:
                if ref is None or ref.dtype != unit.dtype:  # the oracle once per dtype, shared by the targets
                    ref = Reference(case, unit.dtype, request.seed)
                if request.repro:  # conformance/check/reproduce.py
                    conn.send(("records", request.request_id, repro_records(adapter, unit, case, seed=request.seed,
                                                                            ref=ref)))
                    continue
                # relations in the worker too: a framework crash in a relation costs only this unit
                runner = recipe_adapter(adapter, request.recipe) if request.recipe else adapter
                records = evaluate_unit(runner, unit, case, seed=request.seed, ref=ref, relations=request.relations,
                                        known=known, environment=environment, mark=False)
                conn.send(("records", request.request_id, [r.to_dict() for r in records], _output_end()))
        except (EOFError, OSError):
            raise
        except Exception:  # evaluate() catches adapter errors; anything here is a bug of ours
            conn.send(("error", request.request_id, traceback.format_exc()))
            continue
        conn.send(("done", request.request_id))


def _output_end() -> int | None:
    """Where what this process wrote so far ends in its output file (the pool reads each unit's part
    of it up to there: WorkerPool(unit_output=True)); None when stdout is not a file."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        return os.fstat(1).st_size
    except OSError:
        return None
