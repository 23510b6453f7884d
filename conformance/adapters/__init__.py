"""Registry of framework adapters. Nothing here imports a framework.

The frameworks and their APIs by name are in conformance/spec/frameworks.py. Detection asks
`importlib.util.find_spec`, which locates a package without importing it; the adapter module (and
with it the framework) is imported only when that framework is used.
"""
from __future__ import annotations

import importlib
import importlib.util

from conformance.adapters.base import Adapter, Observation, Target, Unsupported
from conformance.spec.frameworks import API_PACKAGES, APIS, EXTRA_ADAPTERS_VARIABLE, FRAMEWORKS, REGISTRY

__all__ = ["Adapter", "Observation", "Target", "Unsupported", "FRAMEWORKS", "APIS", "API_PACKAGES", "REGISTRY",
           "EXTRA_ADAPTERS_VARIABLE", "installed", "missing_packages", "load_adapter"]


def missing_packages(name: str, api: str | None = None) -> list[str]:
    """Packages the framework (or one of its APIs) needs that are not installed."""
    needed = list(REGISTRY[name][2]) + list(API_PACKAGES.get(api, ()))
    return [p for p in needed if importlib.util.find_spec(p) is None]


def installed(name: str) -> bool:
    return not missing_packages(name)


def load_adapter(name: str) -> Adapter:
    module, cls, _ = REGISTRY[name]
    return getattr(importlib.import_module(module), cls)()
