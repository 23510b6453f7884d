"""A unit: one (target, dtype, precision profile, worker thread count) of a case."""
from __future__ import annotations

from dataclasses import dataclass

from conformance.adapters.base import Target


@dataclass(frozen=True)
class Unit:
    """One (target, dtype, precision profile) of a case: what a worker runs in one go, all its checks,
    and what a crash or a hang can cost."""

    target: Target
    dtype: str
    profile: str = "defaults"
    threads: int = 1  # the thread count of the worker that runs it (a case's `threads`)

    @property
    def framework(self) -> str:
        return self.target.framework

    @property
    def api(self) -> str:
        return self.target.api

    @property
    def device(self) -> str:
        return self.target.device
