"""The frameworks the suite knows and their APIs, by name: a table of strings, read without
importing any framework (conformance/adapters/ detects and loads them).
"""
from __future__ import annotations

import json
import os

from conformance.errors import UsageError

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
    raw = os.environ.get(EXTRA_ADAPTERS_VARIABLE)
    if not raw:
        return
    try:
        extra = json.loads(raw)
        for name, spec in extra.items():
            REGISTRY[name] = (spec["module"], spec["class"], tuple(spec.get("packages", ())))
            APIS[name] = tuple(spec["apis"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{EXTRA_ADAPTERS_VARIABLE} is not a valid adapter mapping: {exc}") from None


_register_extra_adapters()
FRAMEWORKS = tuple(REGISTRY)
