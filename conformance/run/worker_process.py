"""One framework worker process as the pool sees it: its handle, the variables it starts with,
how it is killed and how its death reads."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

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


@dataclass
class Worker:
    """A worker process of the pool, and the request it runs (`current`, a pool request)."""

    framework: str
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
def worker_variables(forced: dict | None = None):
    """Start workers with these variables, unless the user set them (`WORKER_ENVIRONMENT`), and with
    `forced` whatever the user set (a pool of its own kind, e.g. one that logs oneDNN's kernels)."""
    forced = forced or {}
    saved = {name: os.environ.get(name) for name in forced}
    added = [name for name in WORKER_ENVIRONMENT if name not in os.environ and name not in forced]
    os.environ.update({name: WORKER_ENVIRONMENT[name] for name in added})  # read by the spawned interpreter
    os.environ.update(forced)
    try:
        yield
    finally:
        for name in added:
            del os.environ[name]
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
