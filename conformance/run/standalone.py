"""Workers asked something outside a whole run: which devices each framework sees (`conformance
list`), one unit and what its script is made of (`conformance repro`), the calls a porting answer
offers (`conformance port`), and one case after another (`conformance explore`).

Each of them starts its workers here (`started_workers`; `start_worker` for one framework; `hellos`
for the workers' hellos alone), where a worker that does not start reads the same way for all of
them (`start_failure`), and `run_requests` submits requests and waits for each one until it is done
(crashed or hung ones included, as the pool's replies say). A run starts its pool in run/suite.py and drives its
requests through run/attempts.py instead, with retries and streaming; explore's cases go through
run/attempts.py too, to get a run's records.
"""
from __future__ import annotations

import contextlib

from conformance.errors import ConformanceError
from conformance.run.messages import Request
from conformance.run.pool import WorkerPool


class WorkerStartFailed(ConformanceError):
    """A framework's worker did not start (the framework does not import or initialise, or its
    import took longer than the timeout): `start_failure`'s line."""


def start_failure(kind: str, info: dict) -> str | None:
    """'<kind> failed to start: <why>' where `info`, the hello of `kind`'s worker, says it did not
    start (`WorkerPool.start`); None where it started."""
    return f"{kind} failed to start: {info['fatal']}" if "fatal" in info else None


@contextlib.contextmanager
def started_workers(kinds, **pool_options):
    """(pool, hellos): a `WorkerPool` of `kinds` (`pool_options` as `WorkerPool` takes them) with
    each kind's first worker started, and kind -> its worker's hello (`start_failure` reads the
    hello of one that did not start). The pool is closed at the end of the block."""
    with WorkerPool(kinds, **pool_options) as pool:
        yield pool, pool.start()


def hellos(kinds, **pool_options) -> dict:
    """kind -> its worker's hello, each kind's worker started and stopped again (what a framework
    sees, e.g. its devices, only its own process can tell)."""
    with started_workers(kinds, **pool_options) as (_, infos):
        return infos


def start_worker(kind: str, **pool_options) -> tuple[WorkerPool, dict]:
    """(pool, hello): a pool of the one `kind` with its worker started, for the caller to close.
    A worker that does not start is a `WorkerStartFailed`, with the pool closed."""
    pool = WorkerPool([kind], **pool_options)
    try:
        info = pool.start()[kind]
    except BaseException:  # interrupted while the framework imports: no worker may be left behind
        pool.close()
        raise
    failure = start_failure(kind, info)
    if failure:
        pool.close()
        raise WorkerStartFailed(failure)
    return pool, info


def run_requests(pool: WorkerPool, requests: list[tuple[str, Request]]) -> dict:
    """Submit each (worker kind, request) and wait for all of them: request id -> the pool's Reply."""
    for kind, request in requests:
        pool.submit(kind, request)
    while any(request.request_id not in pool.done for _, request in requests):
        pool.collect(1.0)
    return {request.request_id: pool.done[request.request_id] for _, request in requests}
