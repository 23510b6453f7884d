"""Registry of framework adapters. Nothing here imports a framework.

Detection asks `importlib.util.find_spec`, which locates a package without importing it; the
adapter module (and with it the framework) is imported only when that framework is used.
"""
from __future__ import annotations

import importlib
import importlib.util

from .base import Adapter, Observation, Target, Unsupported

# name -> (adapter module, class, packages that must be importable)
REGISTRY = {
    "torch": ("conformance.adapters.torch_adapter", "TorchAdapter", ("torch",)),
    "tensorflow": ("conformance.adapters.tensorflow_adapter", "TensorFlowAdapter", ("tensorflow",)),
    "jax": ("conformance.adapters.jax_adapter", "JaxAdapter", ("jax",)),
}
FRAMEWORKS = tuple(REGISTRY)
# API surfaces per framework, and extra packages an API needs beyond the framework itself.
APIS = {
    "torch": ("torch.functional", "torch.layer"),
    "tensorflow": ("tf.nn", "keras.layer"),
    "jax": ("jax.lax", "flax.layer"),
}
API_PACKAGES = {"keras.layer": ("keras",), "flax.layer": ("flax",)}

__all__ = ["Adapter", "Observation", "Target", "Unsupported", "FRAMEWORKS", "APIS",
           "installed", "missing_packages", "load_adapter"]


def missing_packages(name: str, api: str | None = None) -> list[str]:
    """Packages the framework (or one of its APIs) needs that are not installed."""
    needed = list(REGISTRY[name][2]) + list(API_PACKAGES.get(api, ()))
    return [p for p in needed if importlib.util.find_spec(p) is None]


def installed(name: str) -> bool:
    return not missing_packages(name)


def load_adapter(name: str) -> Adapter:
    module, cls, _ = REGISTRY[name]
    return getattr(importlib.import_module(module), cls)()
