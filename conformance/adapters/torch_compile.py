"""torch.compile as users call it, for the `torch.compile.*` targets.

Settings are PyTorch's defaults, which is what `torch.compile(model)` gives a user: the Inductor
backend, mode None, fullgraph=False, dynamic=None (https://pytorch.org/docs/stable/generated/torch.compile.html).
Each unit compiles afresh (`torch._dynamo.reset()`): Dynamo caches compiled code per Python code
object and, past `recompile_limit` recompilations, silently runs the function eagerly, which would
make later cases test eager PyTorch under a compiled target's name. After the call, `check_compiled`
makes sure the call did run in a graph that Dynamo captured, in one piece.

Inductor's own persistent caches (FX graph, AOTAutograd, kernels) go to a folder shared by the run's
workers and kept between runs (`--cache-dir`), unless the user set TORCHINDUCTOR_CACHE_DIR: their
keys include PyTorch's version and the graph, so an upgrade compiles afresh exactly where it must.
"""
from __future__ import annotations

import os

from conformance.adapters.base import SHARED_CACHE_VARIABLE, CompiledPathError

SETTINGS = {"backend": "inductor", "mode": None, "fullgraph": False, "dynamic": None}
CACHE_VARIABLE = "TORCHINDUCTOR_CACHE_DIR"


def use_shared_cache() -> str | None:
    """Point Inductor's caches into the run's shared cache folder (before the first compile)."""
    shared = os.environ.get(SHARED_CACHE_VARIABLE)
    if shared and CACHE_VARIABLE not in os.environ:
        os.environ[CACHE_VARIABLE] = os.path.join(shared, "torchinductor")
    return os.environ.get(CACHE_VARIABLE)


class Compiler:
    def __init__(self, torch):
        self.torch = torch
        self.cache_dir = use_shared_cache()

    def compile(self, fn):
        self.torch._dynamo.reset()
        return self.torch.compile(fn, **SETTINGS)

    def watch(self) -> None:
        """Start counting the graphs Dynamo captures, for `check_compiled` after the call."""
        self.torch._dynamo.utils.counters.clear()

    def check_compiled(self) -> None:
        """Raise `CompiledPathError` unless the call since `watch` ran as one captured graph."""
        counters = self.torch._dynamo.utils.counters
        breaks = sorted(counters.get("graph_break", {}))
        if breaks:
            raise CompiledPathError(f"torch.compile split the call at a graph break and ran part of it eagerly: {breaks[0]}")
        if not counters.get("stats", {}).get("unique_graphs"):
            raise CompiledPathError("torch.compile captured no graph: the call ran eagerly")

    def environment(self) -> dict:
        from torch._inductor import config

        return {**SETTINGS, "cache_dir": self.cache_dir, "fx_graph_cache": bool(config.fx_graph_cache),
                "autograd_cache": _autograd_cache(self.torch)}


def _autograd_cache(torch) -> bool | None:
    try:
        from torch._functorch import config

        return bool(config.enable_autograd_cache)
    except (ImportError, AttributeError):
        return None
