"""The framework worker: a child process that imports one framework once and runs cases on it.

Each framework lives in its own process because (1) importing it costs seconds, so it is done once
per run, not per case; (2) frameworks do not always coexist in one process (threading runtimes,
protobuf versions); (3) a framework that crashes the process (a segfault in a kernel) must not take
the other frameworks' results with it: the parent marks the case that was running as `crashed`,
starts a fresh worker and goes on.

Messages are tuples over a multiprocessing connection:
    parent -> child: ("run", request_id, case_dict, [(api, device, profile), ...], [dtype, ...], seed)
                     ("stop",)
    child -> parent: ("ready", info) | ("fatal", message) once, then ("results", request_id, [record dict, ...])
"""
from __future__ import annotations

import os
import platform
import sys
import traceback


def worker_main(conn, framework: str) -> None:
    # Frameworks print to stdout/stderr at import; the protocol goes over `conn`, so that is harmless,
    # but keep TensorFlow's C++ chatter down.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from .adapters import load_adapter

        adapter = load_adapter(framework)
        info = {"framework": framework, "version": adapter.version(), "devices": adapter.devices(),
                "environment": adapter.environment(), "pid": os.getpid()}
    except Exception as exc:  # the framework is installed but does not import or initialise
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", info))

    from .adapters.base import Target
    from .case import Case
    from .execute import Reference, evaluate

    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent went away
            return
        if message[0] == "stop":
            return
        _, request_id, case_dict, targets, dtypes, seed = message
        records = []
        try:
            case = Case.from_dict(case_dict)
            for dtype in dtypes:
                ref = Reference(case, dtype, seed)  # the oracle once per dtype, for every target
                for api, device, profile in targets:
                    records.extend(r.to_dict() for r in evaluate(adapter, Target(framework, api, device), case,
                                                                 dtype, profile=profile, seed=seed, ref=ref))
        except Exception:  # evaluate() catches adapter errors; anything here is a bug of ours
            conn.send(("results", request_id, {"internal_error": traceback.format_exc()}))
            continue
        conn.send(("results", request_id, records))


def host_environment() -> dict:
    import numpy

    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "numpy": numpy.__version__, "cpu_count": os.cpu_count()}
