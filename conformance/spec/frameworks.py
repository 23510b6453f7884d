"""The frameworks the suite knows and their APIs, by name: a table of strings, read without
importing any framework (conformance/adapters/ detects and loads them).

A "framework" here is a kind of worker process: one adapter class, the packages it needs, and the
environment variables its processes start with. Two kinds may share an adapter class when a setting
that the framework reads once, at import, makes them different kernels: `tensorflow` runs with
oneDNN off and `tensorflow-onednn` with it on, so that one CPU exercises both kernel families and
neither target's verdict depends on the CPU's default (TF turns oneDNN on by itself only on some CPUs).
An API name says which path of the framework a target takes: `torch.functional` is eager,
`torch.compile.functional` the same call under torch.compile (docs/targets.md lists them all).
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
    "tensorflow-onednn": ("conformance.adapters.tensorflow_adapter", "TensorFlowAdapter", ("tensorflow",)),
    "onnx": ("conformance.adapters.onnx_adapter", "OnnxAdapter", ("onnx",)),
    "openvino": ("conformance.adapters.openvino_adapter", "OpenVinoAdapter", ("openvino",)),
    "executorch": ("conformance.adapters.executorch_adapter", "ExecuTorchAdapter", ("executorch", "torch")),
}
# API surfaces per framework, and extra packages an API needs beyond the framework itself.
APIS = {
    "torch": ("torch.functional", "torch.layer", "torch.compile.functional", "torch.compile.layer",
              "torch.channels_last.layer", "torch.compile.channels_last.layer", "torch.no_mkldnn.functional",
              "keras.torch.layer", "torch.onnx.layer", "torch.onnx.torchscript.layer"),
    "tensorflow": ("tf.nn", "keras.layer", "tf.xla.nn", "keras.xla.layer", "litert.layer"),
    "jax": ("jax.lax", "flax.layer", "keras.jax.layer"),
    "tensorflow-onednn": ("tf.onednn.nn", "keras.onednn.layer"),
    "onnx": ("onnxruntime", "onnx.reference"),
    "openvino": ("openvino.onnx", "openvino.torch"),
    "executorch": ("executorch.xnnpack",),
}
API_PACKAGES = {"keras.layer": ("keras",), "flax.layer": ("flax",), "keras.xla.layer": ("keras",),
                "keras.onednn.layer": ("keras",), "keras.jax.layer": ("keras",), "keras.torch.layer": ("keras",),
                "onnxruntime": ("onnxruntime",), "torch.onnx.layer": ("onnx", "onnxscript", "onnxruntime"),
                "torch.onnx.torchscript.layer": ("onnx", "onnxruntime"), "litert.layer": ("keras",),
                "openvino.onnx": ("onnx",), "openvino.torch": ("torch",)}
# APIs that exist on the CPU only: a switch of CPU kernels (oneDNN), an evaluator or interpreter
# without a GPU path. The others run on every device their framework sees.
CPU_ONLY_APIS = frozenset({"torch.no_mkldnn.functional", "tf.onednn.nn", "keras.onednn.layer", "onnx.reference",
                           "litert.layer", "openvino.onnx", "openvino.torch", "executorch.xnnpack"})
# APIs that run inference only (a runtime or interpreter of an exported or converted model): their
# gradients are `unsupported`, and faults that show in gradients only cannot show on them.
FORWARD_ONLY_APIS = frozenset({"onnxruntime", "onnx.reference", "torch.onnx.layer", "torch.onnx.torchscript.layer",
                               "litert.layer", "openvino.onnx", "openvino.torch", "executorch.xnnpack"})
# The Keras backend each kind's Keras layers run on (KERAS_BACKEND, read at keras's first import).
KERAS_BACKENDS = {"torch": "torch", "jax": "jax", "tensorflow": "tensorflow", "tensorflow-onednn": "tensorflow"}
# Variables a kind's worker processes start with, whatever the user's environment says: they decide
# which kernels the framework loads, and the target's name promises one of them.
VARIABLES = {
    "tensorflow": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "tensorflow-onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
}

# Adapters outside this package (another framework, or the suite's own test doubles) can be added
# with a JSON mapping in this variable; it is read in every worker process too:
#   {"name": {"module": "pkg.mod", "class": "Cls", "apis": ["name.functional"], "packages": ["pkg"],
#             "variables": {"NAME": "value"}}}
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
            VARIABLES[name] = {str(k): str(v) for k, v in spec.get("variables", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{EXTRA_ADAPTERS_VARIABLE} is not a valid adapter mapping: {exc}") from None


_register_extra_adapters()
FRAMEWORKS = tuple(REGISTRY)
