"""Loading framework adapters. Nothing here imports a framework.

The targets, their worker kinds and packages are declared in conformance/spec/frameworks.py.
Detection asks `importlib.util.find_spec`, which locates a package without importing it; the adapter
module (and with it the framework) is imported only when that kind is used.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from conformance.adapters.base import Adapter, Observation, Target, Unsupported
from conformance.errors import UsageError
from conformance.spec import frameworks

__all__ = ["Adapter", "Observation", "Target", "Unsupported", "installed", "missing_packages", "load_adapter"]


def missing_packages(name: str, api: str | None = None) -> list[str]:
    """Packages the kind (or one of its APIs) needs that are not installed."""
    needed = list(frameworks.kind_packages(name)) + list(frameworks.api_packages(api) if api else ())
    return [p for p in needed if importlib.util.find_spec(p) is None]


def installed(name: str) -> bool:
    return not missing_packages(name)


def load_adapter(name: str) -> Adapter:
    """The adapter of the worker kind `name`, its variables (`frameworks.kind_variables`) applied
    before the framework is imported. They are read at import, so a process that already imported the
    framework under other values cannot load this kind: that needs its own process (a worker)."""
    module, cls = frameworks.kind_adapter(name)
    packages = frameworks.kind_packages(name)
    wanted = frameworks.kind_variables(name)
    differ = {k: v for k, v in wanted.items() if os.environ.get(k) != v}
    imported = [p for p in packages if p in sys.modules]
    if differ and imported:
        raise UsageError(f"{name} needs {', '.join(f'{k}={v}' for k, v in differ.items())} before {imported[0]} is "
                         f"imported, and this process imported it already; run {name} in a worker process")
    os.environ.update(wanted)
    adapter = getattr(importlib.import_module(module), cls)()
    adapter.name, adapter.apis = name, frameworks.kind_apis(name)  # a kind may share its class (tensorflow-onednn)
    return adapter
