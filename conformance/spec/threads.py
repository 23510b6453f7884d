"""A case's `threads`: the worker thread counts each of its units runs at.

`1` is the suite's worker: one thread in every framework's pool, so that the pool's workers are the
parallelism. `all` is a worker started with os.cpu_count() threads, what a user gets: kernel choice
and reduction order depend on the thread count (PyTorch's choice of oneDNN for 1x1 convs does, and
some oneDNN bugs need two or more threads). The counts are resolved on the machine that runs them
(`thread_counts`); conformance/run/worker_process.py starts the workers with them.
"""
from __future__ import annotations

import os

THREAD_SETTINGS = (1, "all")


def validate_threads(v, threads) -> tuple:
    """The `threads` field as a tuple of THREAD_SETTINGS; `v` is the case's validator (its `fail`
    names the case and the field)."""
    allowed = "a non-empty list of 1 and 'all', e.g. [1, all]"
    if not isinstance(threads, (list, tuple)) or not threads:
        v.fail("threads", f"expected {allowed}, got {threads!r}")
    for value in threads:
        if isinstance(value, bool) or value not in THREAD_SETTINGS:
            v.fail("threads", f"unknown thread setting {value!r}; allowed: {allowed}")
    if len(set(threads)) != len(threads):
        v.fail("threads", f"a setting is listed twice: {list(threads)}; allowed: {allowed}")
    return tuple(threads)


def thread_counts(case, cores: int | None = None) -> list[int]:
    """The worker thread counts of `case` on this machine: 1, and for 'all' every core (once: on a
    one-core machine 'all' is 1)."""
    cores = cores or os.cpu_count() or 1
    return sorted({1 if t == 1 else cores for t in case.threads})
