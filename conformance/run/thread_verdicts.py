"""One verdict whatever the thread count: a case with `threads: [1, all]` runs each unit in a worker
at one thread and in one at every core's thread (conformance/run/worker_process.py). The units that
differ only in their thread count are held until each count's records are in, then compared check
by check: a check whose status differs between the counts is `flaky` at every count, its message
naming each count's status (docs/semantics.md, Threads). A known difference may then explain it.
"""
from __future__ import annotations

from conformance.check.unit import Unit
from conformance.results.records import Result


class ThreadVerdicts:
    """Holds a unit's final records until its siblings at the case's other thread counts are final."""

    def __init__(self):
        self._held: dict = {}  # (request key, target, dtype, profile) -> {threads: records}

    def arrive(self, key, unit: Unit, records: list[Result], counts: set[int]) -> list[Result] | None:
        """The records of every thread count of this unit once the last count's arrive (compared), the
        unit's own at once where the case runs at one count only, else None (held)."""
        if len(counts) < 2:
            return records
        group = (key, unit.target, unit.dtype, unit.profile)
        held = self._held.setdefault(group, {})
        held[unit.threads] = records
        if set(held) != set(counts):
            return None
        del self._held[group]
        return compare_thread_counts(held)

    def drain(self) -> list[Result]:
        """Everything held (an interrupted run): each count's records as they stand, not compared."""
        out = [r for held in self._held.values() for records in held.values() for r in records]
        self._held.clear()
        return out


def compare_thread_counts(by_count: dict[int, list[Result]]) -> list[Result]:
    """The records of one unit at several thread counts, a check whose statuses differ made `flaky`."""
    by_check: dict[str, dict[int, Result]] = {}
    for threads, records in sorted(by_count.items()):
        for r in records:
            by_check.setdefault(r.check, {})[threads] = r
    for at in by_check.values():
        if len({r.status for r in at.values()}) > 1:
            verdicts = ", ".join(f"{r.status} at {_threads(n)}" for n, r in at.items())
            for n, r in at.items():
                said = f": {r.message}" if r.message else ""
                r.message = f"flaky: the verdict depends on the thread count ({verdicts}); at {_threads(n)}{said}"
                r.status = "flaky"
    return [r for _, records in sorted(by_count.items()) for r in records]


def _threads(n: int) -> str:
    return "1 thread" if n == 1 else f"{n} threads"
