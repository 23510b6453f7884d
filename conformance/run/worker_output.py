"""What a worker process writes: the end of its output file, and its stacks when it hangs.

Each worker's stdout and stderr go to a file (conformance/run/worker.py); a unit
that crashed or errored keeps the end of what the worker wrote while it ran.
"""
from __future__ import annotations

import os
import signal
import time


def output_tail(path: str | None, since: int = 0, max_bytes: int = 4096, max_lines: int = 40) -> str | None:
    """The end of a worker's output file from byte `since` on: at most `max_lines` lines and
    `max_bytes` bytes; None when there is no file or nothing in it."""
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            start = max(since, f.seek(0, os.SEEK_END) - max_bytes)
            f.seek(start)
            data = f.read()
    except OSError:
        return None
    lines = data.decode("utf-8", errors="replace").splitlines()
    if start > since and len(lines) > 1:  # the first line was cut: drop its end
        lines = lines[1:]
    # faulthandler (Python 3.11+) ends a crash's stack with the list of extension modules: no story
    lines = [line for line in lines if not line.startswith("Extension modules: ")]
    text = "\n".join(lines[-max_lines:]).strip("\n")
    return text or None


def output_since(path: str | None, since: int = 0, until: int | None = None,
                 max_bytes: int = 8 << 20) -> tuple[str, int]:
    """A worker's output file from byte `since` to byte `until` (None: its end), at most `max_bytes`
    of it, the first ones; and the offset where that text ends."""
    if not path:
        return "", since
    size = max_bytes if until is None else max(0, min(max_bytes, until - since))
    try:
        with open(path, "rb") as f:
            f.seek(since)
            data = f.read(size)
    except OSError:
        return "", since
    return data.decode("utf-8", errors="replace"), since + len(data)


def file_size(path: str | None) -> int:
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


def dump_stacks(process, output: str | None, wait: float = 0.5) -> None:
    """Ask a hung worker `process` for its Python stacks (faulthandler, on SIGUSR1, written to its
    `output` file) and give it `wait` seconds."""
    if output is None or not hasattr(signal, "SIGUSR1") or not process.is_alive():
        return
    size = file_size(output)
    try:
        os.kill(process.pid, signal.SIGUSR1)
    except OSError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and file_size(output) == size:
        time.sleep(0.02)
    time.sleep(0.05)  # the dump is written in pieces: let it finish
