"""Registry of framework adapters. Nothing here imports a framework.

Detection asks `importlib.util.find_spec`, which locates a package without importing it; the
adapter module (and with it the framework) is imported only when that framework is used.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os

from conformance.adapters.base import Adapter, Observation, Target, Unsupported

# name -> (adapter module, class, packages that must be importable)
REGISTRY = {
    "torch": ("conformance.adapters.torch_adapter", "TorchAdapter", ("torch",)),
    "tensorflow": ("conformance.adapters.tensorflow_adapter", "TensorFlowAdapter", ("tensorflow",)),
    "jax": ("conformance.adapters.jax_adapter", "JaxAdapter", ("jax",)),
}
# API surfaces per framework, and extra packages an API needs beyond the framework itself.
APIS = {
    "torch": ("torch.functional", "torch.layer"),
    "tensorflow": ("tf.nn", "keras.layer"),
    "jax": ("jax.lax", "flax.layer"),
}
API_PACKAGES = {"keras.layer": ("keras",), "flax.layer": ("flax",)}

# Adapters outside this package (another framework, or the suite's own test doubles) can be added
# with a JSON mapping in this variable; it is read in every worker process too:
#   {"name": {"module": "pkg.mod", "class": "Cls", "apis": ["name.functional"], "packages": ["pkg"]}}
EXTRA_ADAPTERS_VARIABLE = "CONFORMANCE_EXTRA_ADAPTERS"


def _register_extra_adapters() -> None:
    global FRAMEWORKS
    raw = os.environ.get(EXTRA_ADAPTERS_VARIABLE)
    if not raw:
        return
    try:
        extra = json.loads(raw)
        for name, spec in extra.items():
            REGISTRY[name] = (spec["module"], spec["class"], tuple(spec.get("packages", ())))
            APIS[name] = tuple(spec["apis"])
        FRAMEWORKS = tuple(REGISTRY)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        from conformance.errors import UsageError

        raise UsageError(f"{EXTRA_ADAPTERS_VARIABLE} is not a valid adapter mapping: {exc}") from None


_register_extra_adapters()
FRAMEWORKS = tuple(REGISTRY)

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
