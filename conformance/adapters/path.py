"""One small class per API path (einops' backends are the model): a plain functional call, its
compiled form, a layer, Keras on a backend, an export to another runtime, and so on.

A worker kind's adapter (adapters/base.py `Adapter`) is the framework's session in its process: the
framework's import, its dtypes, `native()` and its refusals, precision profiles, versions and
devices. A `Path` is one API name of that kind, built with the adapter it runs in, and does the rest:
the native call of a case, the weight shape the API documents, and what only this API needs (its own
package's import, a start failure of its runtime). Which path class an API has is its declaration's
`path` (conformance/spec/declaration.py), read without importing any framework; the adapter looks
its paths up by API name (`Adapter.paths`), so no code dispatches on API names.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from conformance.spec import frameworks

if TYPE_CHECKING:  # annotations only: base.py imports this module
    from conformance.adapters.base import Adapter, Observation
    from conformance.spec.case import Case
    from conformance.spec.inputs import Inputs


class Path:
    """One API path of a worker kind. Subclasses implement `run`; the rest has defaults."""

    def __init__(self, adapter: "Adapter", api: str):
        self.adapter = adapter
        self.api = api

    def run(self, case: "Case", dtype: str, device: str, inputs: "Inputs") -> "Observation":
        """Forward and gradients (upstream gradient inputs.grad_output) with the API a user calls;
        raise `Unsupported` when the API cannot express the case or the dtype."""
        raise NotImplementedError

    def native_weight_shape(self, case: "Case") -> tuple[int, ...]:
        """The weight shape the API documents, derived from the canonical shape by rule (by default
        the canonical one: PyTorch's and ONNX's layouts are the suite's)."""
        return case.weight_shape

    def import_package(self, package: str):
        """Import `package` as this path imports it when it runs (Keras with its backend, flax.linen)."""
        return importlib.import_module(package)

    def start_error(self) -> str | None:
        """Why this path cannot start here beyond its packages' imports (a runtime's own module), or None."""
        return None


def path_class(api: str) -> type[Path] | None:
    """The path class an API's declaration names, imported; None for an API without one (a plugin's
    adapter whose own `run` serves its APIs, or an API nobody declares)."""
    try:
        spec = frameworks.declaration(api).path
    except KeyError:
        return None
    if not spec:
        return None
    module, _, cls = spec.partition(":")
    return getattr(importlib.import_module(module), cls)


def load_paths(adapter: "Adapter") -> dict[str, Path]:
    """One path object per API of `adapter` that declares a path class, built with `adapter`."""
    found = {}
    for api in adapter.apis:
        cls = path_class(api)
        if cls is not None:
            found[api] = cls(adapter, api)
    return found
