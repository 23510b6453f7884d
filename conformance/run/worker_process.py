"""One framework worker process as the pool sees it: its handle, the variables it starts with,
how it is killed and how its death reads."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from conformance.adapters.base import THREADS_VARIABLE

# What a worker process starts with, unless the user set it:
WORKER_ENVIRONMENT = {
    # Frameworks put Python sets in their error messages (Keras: "one of {'valid', 'same'}"), whose
    # order follows the per-process string hash seed; fixed, the same run gives the same records
    # whichever worker ran a case.
    "PYTHONHASHSEED": "0",
    # The pool's workers are the parallelism (--jobs). OpenMP threads on top of them (PyTorch's
    # intra-op pool, OpenBLAS under the oracle) spin-wait after every call, on the cores the other
    # workers need (under `pytest -n 2` PyTorch's workers used four times the CPU their work needs).
    # PyTorch's own DataLoader workers run with one thread for the same reason.
    "OMP_NUM_THREADS": "1",
}
# XLA:CPU's Eigen pool has no thread-count variable; one thread is multi-threaded Eigen off.
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"


def thread_variables(threads: int) -> dict[str, str]:
    """The variables that fix a worker's thread count when it starts, for every framework: OpenMP's
    (PyTorch, numpy's BLAS, ONNX Runtime's intra-op pool, conformance/adapters/onnx_adapter.py),
    XLA:CPU's flag at one thread, and ours, which the adapters give to the pools no variable sets
    (torch.set_num_threads, TensorFlow's intra-op pool, LiteRT's num_threads)."""
    out = {"OMP_NUM_THREADS": str(threads), THREADS_VARIABLE: str(threads)}
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        out["XLA_FLAGS"] = flags if XLA_ONE_THREAD.split("=")[0] in flags else f"{flags} {XLA_ONE_THREAD}".strip()
    return out


@dataclass
class Worker:
    """A worker process of the pool, and the request it runs (`current`, a pool request)."""

    framework: str
    threads: int = 1  # its thread count (`thread_variables`), fixed when it starts
    number: int = 0  # 1, 2, ... among this framework's workers (its process name)
    process: object = None
    conn: object = None
    info: dict | None = None
    fatal: str | None = None
    starting: bool = False  # spawned, its hello not read yet
    current: object = None
    position: int = 0  # units of `current` finished so far
    started: float = 0.0  # when the unit in flight started (or the worker was spawned)
    stopped_at: float = 0.0  # when it was asked to stop
    output: str | None = None  # the file its stdout and stderr go to (None: the parent's own)
    output_mark: int = 0  # that file's size when the request in flight was sent

    @property
    def idle(self) -> bool:
        return self.info is not None and self.current is None and not self.starting

    def kill(self) -> None:
        """Kill the process if it still runs, and join it (a dead one too, so no zombie is left)."""
        if self.process is None:
            return
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)

    def death(self) -> str:
        """How the process's end reads in the records of the unit it was running."""
        code = self.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return f"the {self.framework} worker process died ({how}) while running this case"


@contextlib.contextmanager
def worker_variables(threads: int = 1, forced: dict | None = None):
    """Start a worker with these variables (read by the spawned interpreter): `WORKER_ENVIRONMENT`
    and, at one thread, `thread_variables(1)`, unless the user set them; at more threads (a case's
    `threads: [all]`), `thread_variables(threads)` whatever the user set, as the case asks for them;
    and `forced` whatever the user set (a pool of its own kind, e.g. one that logs oneDNN's kernels)."""
    wanted = {**WORKER_ENVIRONMENT, **thread_variables(1)} if threads == 1 else {}
    wanted = {name: value for name, value in wanted.items() if name not in os.environ or name == "XLA_FLAGS"}
    if threads != 1:
        wanted.update({**{k: v for k, v in WORKER_ENVIRONMENT.items() if k not in os.environ},
                       **thread_variables(threads)})
    wanted.update(forced or {})
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
