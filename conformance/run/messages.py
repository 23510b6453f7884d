"""What the pool and its workers say to each other, and what the pool hands back.

Over a worker's connection (pickled):
    parent -> child: a `Request` (the units of one case to run), or `STOP`;
    child -> parent: ("ready", info) | ("fatal", message) once; then, per request, one
                     ("records", request_id, [record dict, ...], output_end) per unit as soon as
                     it is done (output_end: the size of the worker's output file then, or None),
                     and ("done", request_id) or ("error", request_id, traceback).
Streaming each unit's records means a crash or a hang costs only the unit in flight: the parent
keeps what arrived, and gives the units after it to a fresh worker.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from conformance.check.unit import Unit

STOP = ("stop",)  # parent -> child: exit


@dataclass(frozen=True)
class Request:
    """One (case, framework) request: its units, in the order the worker runs them (by dtype first,
    so that the oracle runs once per dtype)."""

    request_id: object
    case_dict: dict
    units: tuple[Unit, ...]
    seed: int
    relations: bool = False  # the worker also checks the metamorphic relations of each unit
    newer_than: int = 0  # only a worker whose number is higher may run it (a retry: not the one that failed)
    repro: bool = False  # `conformance repro`: the first record of each unit carries its reproducer's material
    recipe: dict | None = None  # `conformance port`: run this recipe (conformance/recipes/) in place of the native call

    @property
    def threads(self) -> int:
        """The thread count of the worker that may run it: its units' (one request, one count)."""
        return self.units[0].threads if self.units else 1


@dataclass(frozen=True)
class Failure:
    """A unit that gave no records: `crashed` (its worker died) or `error` (it hung past the
    timeout, or our own code failed); `stderr`: the tail of the worker's output, or None."""

    unit: Unit
    status: str
    message: str
    stderr: str | None = None


@dataclass
class Reply:
    """What came back for one (case, framework) request: the records of the units that finished, and
    a `Failure` for each unit that did not. A piece of a reply (`WorkerPool.arrivals`) holds one
    unit, and `worker` is the number of the worker that ran it (0: none did). `output`: all that
    worker wrote while it ran that unit, for a pool made with `unit_output` (else None)."""

    records: list = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    worker: int = 0
    output: str | None = None
