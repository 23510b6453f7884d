"""The framework worker: a child process that imports one framework once and runs cases on it.

Each framework lives in its own processes (one, or up to `--jobs` when its work queues up) because
(1) importing it costs seconds, so each worker does it once, never per case; (2) frameworks do not always coexist in one process (threading runtimes,
protobuf versions); (3) a framework that crashes the process (a segfault in a kernel) must not take
the other frameworks' results with it: the parent marks the case that was running as `crashed`,
starts a fresh worker and goes on.

Messages are tuples over a multiprocessing connection:
    parent -> child: ("run", request_id, case_dict, [(dtype, api, device, profile), ...], seed, relations)
                     ("stop",)
    child -> parent: ("ready", info) | ("fatal", message) once; then, per request, one
                     ("records", request_id, [record dict, ...]) per (dtype, api, device, profile) unit
                     as soon as it is done, and ("done", request_id) or ("error", request_id, traceback).
Streaming each unit's records means a crash or a hang costs only the unit in flight: the parent
keeps what arrived, and gives the units after it to a fresh worker.
"""
from __future__ import annotations

import json
import os
import platform
import signal
import sys
import traceback

SCRATCH_VARIABLE = "CONFORMANCE_WORKER_SCRATCH"  # read by adapters that keep files (jax_adapter)
# A folder for caches that every worker of the run may share (JAX's compilation cache): the pool's
# scratch folder, or under pytest-xdist one folder of the controller's for all xdist workers' pools.
SHARED_CACHE_VARIABLE = "CONFORMANCE_SHARED_CACHE"


def worker_main(conn, framework: str, known=(), scratch: str | None = None, shared_cache: str | None = None) -> None:
    """`scratch`: a folder of the pool's for files this worker keeps; the pool removes it, so that
    nothing is left behind by a worker that was killed. `shared_cache`: a folder for caches shared
    with the run's other workers (JAX's compilation cache), removed by whoever made it."""
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
        from .adapters import load_adapter

        adapter = load_adapter(framework)
        info = {"framework": framework, "version": adapter.version(), "devices": adapter.devices(),
                "environment": adapter.environment(), "pid": os.getpid()}
        # Plain JSON types only: a framework's own type in here (torch.__version__ is a TorchVersion,
        # a str subclass) is pickled with its module, and unpickling it imported all of PyTorch into
        # the parent (1.7 s, and 42 more loggers that pytest then attaches to on every test phase).
        info = json.loads(json.dumps(info, default=str))
    except Exception as exc:  # the framework is installed but does not import or initialise
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", info))
    try:
        _serve(conn, adapter, framework, known)
    except (EOFError, OSError):  # the parent went away (finished, interrupted or killed): so do we
        pass
    # Everything this process had to say went over `conn`. Exit now, skipping the interpreter's
    # teardown: with a framework loaded that took 0.4 s (JAX) to 1.2 s (TensorFlow) of module and
    # thread-pool teardown, with nothing left to save.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve(conn, adapter, framework: str, known) -> None:
    from .adapters.base import Target
    from .case import Case
    from .execute import Reference, evaluate
    from .metamorphic import evaluate_relations

    while True:
        message = conn.recv()
        if message[0] == "stop":
            return
        _, request_id, case_dict, units, seed, relations = message
        try:
            case = Case.from_dict(case_dict)
            ref = None
            for dtype, api, device, profile in units:
                if ref is None or ref.dtype != dtype:  # the oracle once per dtype, shared by the targets
                    ref = Reference(case, dtype, seed)
                target = Target(framework, api, device)
                records = evaluate(adapter, target, case, dtype, profile=profile, seed=seed, ref=ref)
                if relations:  # in the worker too: a framework crash in a relation costs only this unit
                    records += evaluate_relations(adapter, target, case, dtype, profile=profile, seed=seed,
                                                  known=known)
                conn.send(("records", request_id, [r.to_dict() for r in records]))
        except (EOFError, OSError):
            raise
        except Exception:  # evaluate() catches adapter errors; anything here is a bug of ours
            conn.send(("error", request_id, traceback.format_exc()))
            continue
        conn.send(("done", request_id))


def host_environment() -> dict:
    import numpy

    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "numpy": numpy.__version__, "cpu_count": os.cpu_count()}
