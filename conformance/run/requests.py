"""Requests run to the end outside a whole run (`conformance repro`, `conformance port`): submitted
to a started pool, and waited for until each is done (crashed or hung ones included, as the pool's
replies say). A run drives its requests through run/attempts.py instead, with retries and streaming."""
from __future__ import annotations

from conformance.run.messages import Request
from conformance.run.pool import WorkerPool


def run_requests(pool: WorkerPool, requests: list[tuple[str, Request]]) -> dict:
    """Submit each (worker kind, request) and wait for all of them: request id -> the pool's Reply."""
    for kind, request in requests:
        pool.submit(kind, request)
    while any(request.request_id not in pool.done for _, request in requests):
        pool.collect(1.0)
    return {request.request_id: pool.done[request.request_id] for _, request in requests}
