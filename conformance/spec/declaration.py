"""The declaration of one target: what the suite knows of it without importing its framework.
The suite's own are in spec/frameworks.py; a plugin's come through an entry point (spec/plugins.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

DEVICES = ("cpu", "gpu")
KERAS_BACKEND_NAMES = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class Declaration:
    """One target API and the worker kind that hosts it. Every declaration of a kind names the same
    adapter and variables; the kind's own packages are those every one of its declarations needs. The
    adapter is the framework's session in the kind's process; the path class is this API's own call
    (conformance/adapters/path.py)."""

    api: str  # the API name; its targets are `api@device` (docs/targets.md)
    kind: str  # the worker kind: the process that hosts it, and the CLI's --frameworks word
    adapter: str  # "module:Class", an `adapters.base.Adapter` subclass, imported only in the kind's workers
    packages: tuple[str, ...]  # import names that must be found for it to run; the first is the kind's framework
    devices: tuple[str, ...] = DEVICES  # ("cpu",): a path that exists on the CPU only
    forward_only: bool = False  # inference only (a runtime of an exported model): gradients are `unsupported`
    variables: Mapping[str, str] = field(default_factory=dict, hash=False)  # the kind's processes start with these
    keras_backend: str | None = None  # KERAS_BACKEND of the Keras this path runs (None: no Keras)
    versions: tuple[str, ...] = ()  # more packages whose versions decide what it computes (repro, diff)
    # Its computation runs in a process with oneDNN loaded, so oneDNN's verbose log can name the kernel
    # a failing unit ran (run/kernel_log.py). Whether a unit did call oneDNN is what its log says.
    onednn: bool = False
    # "module:Class", an `adapters.path.Path` subclass: the API's native call, built with the kind's adapter
    # in its workers. Empty: the adapter's own `run` and `native_weight_shape` serve the API.
    path: str = ""

    @property
    def cpu_only(self) -> bool:
        return tuple(self.devices) == ("cpu",)

    @property
    def module_and_class(self) -> tuple[str, str]:
        module, _, cls = self.adapter.partition(":")
        return module, cls
