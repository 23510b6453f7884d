"""The targets the suite knows, one declaration each, in one table; read without importing any
framework (conformance/adapters/ detects and loads them).

A declaration names one API path (`torch.compile.layer`: its targets are `api@device`) and the
*kind* of worker process that hosts it: one adapter class, the packages it needs, and the
environment variables its processes start with. Two kinds may share an adapter class when a setting
that the framework reads once, at import, makes them different kernels: `tensorflow` runs with
oneDNN off and `tensorflow-onednn` with it on, so that one CPU exercises both kernel families and
neither target's verdict depends on the CPU's default (TF turns oneDNN on by itself only on some CPUs).
Everything else that lists frameworks, APIs, packages or variables is derived from these
declarations (the functions below); a package outside the suite adds its own through the entry
point group `conv_conformance.targets` (spec/plugins.py; docs/architecture.md has the recipe).
"""
from __future__ import annotations

import functools

from conformance.spec.declaration import DEVICES, Declaration
from conformance.spec.plugins import check_declarations, plugin_declarations

__all__ = ["Declaration", "DEVICES", "BUILTIN", "declarations"]  # and the functions derived from them


ADAPTERS = "conformance.adapters."


def _declare(kind: str, adapter: str, framework: tuple[str, ...], variables=None, keras_backend=None):
    """A function declaring the APIs of one kind: `declare(api, path, *more_packages, **fields)`, the
    path class as "module:Class" of conformance/adapters/."""
    def declare(api: str, path: str, *more: str, keras: bool = False, **fields) -> Declaration:
        return Declaration(api, kind, adapter, framework + more, variables=dict(variables or {}),
                           keras_backend=keras_backend if keras else None, path=path and ADAPTERS + path, **fields)
    return declare


_torch = _declare("torch", "conformance.adapters.torch_adapter:TorchAdapter", ("torch",), keras_backend="torch")
_tf = _declare("tensorflow", "conformance.adapters.tensorflow_adapter:TensorFlowAdapter", ("tensorflow",),
               {"TF_ENABLE_ONEDNN_OPTS": "0"}, keras_backend="tensorflow")
_tf_onednn = _declare("tensorflow-onednn", "conformance.adapters.tensorflow_adapter:TensorFlowAdapter",
                      ("tensorflow",), {"TF_ENABLE_ONEDNN_OPTS": "1"}, keras_backend="tensorflow")
_jax = _declare("jax", "conformance.adapters.jax_adapter:JaxAdapter", ("jax",), keras_backend="jax")
_onnx = _declare("onnx", "conformance.adapters.onnx_adapter:OnnxAdapter", ("onnx",))
_openvino = _declare("openvino", "conformance.adapters.openvino_adapter:OpenVinoAdapter", ("openvino",))
_executorch = _declare("executorch", "conformance.adapters.executorch_adapter:ExecuTorchAdapter",
                       ("executorch", "torch"))
CPU, FORWARD = ("cpu",), True

# The suite's own targets, in the order the CLI and the report list them (docs/targets.md's table).
# ONEDNN marks the paths whose convolutions run in the worker's process, where oneDNN is loaded:
# PyTorch's CPU convolutions (mkldnn, for the shapes, dtypes and thread counts where ATen picks it),
# TensorFlow's with oneDNN on, and TensorFlow's Eigen convolutions with it off, XLA:CPU's included,
# whose float32 matrix products are oneDNN's sgemm (Eigen's contraction kernel in TF's build:
# tensorflow/tensorflow#44120). Not the exported or converted models (ONNX Runtime, LiteRT), which
# run in runtimes of their own, nor JAX.
ONEDNN = True
BUILTIN = (
    _torch("torch.functional", "torch_paths:Functional", onednn=ONEDNN), _torch("torch.layer", "torch_paths:Layer", onednn=ONEDNN),
    _torch("torch.compile.functional", "torch_paths:CompiledFunctional", onednn=ONEDNN),
    _torch("torch.compile.layer", "torch_paths:CompiledLayer", onednn=ONEDNN),
    _torch("torch.channels_last.layer", "torch_paths:ChannelsLastLayer", onednn=ONEDNN),
    _torch("torch.compile.channels_last.layer", "torch_paths:CompiledChannelsLastLayer", onednn=ONEDNN),
    _torch("torch.no_mkldnn.functional", "torch_paths:NoMkldnnFunctional", devices=CPU, onednn=ONEDNN),
    _torch("keras.torch.layer", "keras_backend:KerasBackendLayer", "keras", keras=True, onednn=ONEDNN),
    _torch("torch.onnx.layer", "torch_onnx:ExportedLayer", "onnx", "onnxscript", "onnxruntime", forward_only=FORWARD),
    _torch("torch.onnx.torchscript.layer", "torch_onnx:TorchScriptExportedLayer", "onnx", "onnxruntime",
           forward_only=FORWARD),
    _torch("keras.torch.ops", "keras_ops:KerasOps", "keras", keras=True, onednn=ONEDNN),
    _tf("tf.nn", "tensorflow_paths:TfNn", onednn=ONEDNN),
    _tf("keras.layer", "tensorflow_paths:KerasLayer", "keras", keras=True, onednn=ONEDNN),
    _tf("tf.xla.nn", "tensorflow_paths:XlaTfNn", onednn=ONEDNN),
    _tf("keras.xla.layer", "tensorflow_paths:XlaKerasLayer", "keras", keras=True, onednn=ONEDNN),
    _tf("litert.layer", "litert:LiteRtLayer", "keras", keras=True, devices=CPU, forward_only=FORWARD,
        versions=("ai_edge_litert",)),
    _tf("keras.ops", "keras_ops:KerasOps", "keras", keras=True, onednn=ONEDNN),
    _jax("jax.lax", "jax_paths:Lax", versions=("jaxlib",)), _jax("flax.layer", "jax_paths:FlaxLayer", "flax", versions=("jaxlib",)),
    _jax("keras.jax.layer", "keras_backend:KerasBackendLayer", "keras", keras=True, versions=("jaxlib",)),
    _jax("keras.jax.ops", "keras_ops:KerasOps", "keras", keras=True, versions=("jaxlib",)),
    _tf_onednn("tf.onednn.nn", "tensorflow_paths:TfNn", devices=CPU, onednn=ONEDNN),
    _tf_onednn("keras.onednn.layer", "tensorflow_paths:KerasLayer", "keras", keras=True, devices=CPU, onednn=ONEDNN),
    _onnx("onnxruntime", "onnx_adapter:OnnxRuntime", "onnxruntime", forward_only=FORWARD),
    _onnx("onnx.reference", "onnx_adapter:OnnxReference", devices=CPU, forward_only=FORWARD),
    _openvino("openvino.onnx", "openvino_adapter:OpenVinoOnnx", "onnx", devices=CPU, forward_only=FORWARD),
    _openvino("openvino.torch", "openvino_adapter:OpenVinoTorch", "torch", devices=CPU, forward_only=FORWARD),
    _executorch("executorch.xnnpack", "executorch_adapter:XnnpackProgram", devices=CPU, forward_only=FORWARD,
                versions=("torchao",)),
)


@functools.lru_cache(maxsize=1)
def declarations() -> tuple[Declaration, ...]:
    """The suite's declarations, then every plugin's (spec/plugins.py), checked. A malformed plugin
    raises `UsageError` naming its entry point: call this where such an error reaches the user."""
    found = BUILTIN + plugin_declarations(BUILTIN)
    check_declarations(found)
    return found


def kinds() -> tuple[str, ...]:
    """Every worker kind, in declaration order (what --frameworks accepts)."""
    return tuple(dict.fromkeys(d.kind for d in declarations()))


def builtin_apis(kind: str) -> tuple[str, ...]:
    """The API names the suite itself declares for a kind (an adapter's class attribute `apis`)."""
    return tuple(d.api for d in BUILTIN if d.kind == kind)


def kind_declarations(kind: str) -> tuple[Declaration, ...]:
    return tuple(d for d in declarations() if d.kind == kind)


def kind_apis(kind: str) -> tuple[str, ...]:
    """The API names a kind hosts; () for a kind nobody declares."""
    return tuple(d.api for d in kind_declarations(kind))


def declaration(api: str) -> Declaration:
    """The declaration of an API name; KeyError for one nobody declares."""
    for d in declarations():
        if d.api == api:
            return d
    raise KeyError(api)


def kind_of(api: str) -> str:
    return declaration(api).kind


def kind_packages(kind: str) -> tuple[str, ...]:
    """The packages every API of the kind needs (its framework): without them its worker cannot start."""
    found = kind_declarations(kind)
    return tuple(p for p in found[0].packages if all(p in d.packages for d in found)) if found else ()


def api_packages(api: str) -> tuple[str, ...]:
    """The packages an API needs beyond its kind's own (Keras, Flax, onnxscript, ONNX Runtime); none
    for an API nobody declares (an adapter a test or a script loads itself, in its own process)."""
    found = [d for d in declarations() if d.api == api]
    if not found:
        return ()
    d = found[0]
    common = kind_packages(d.kind)
    return tuple(p for p in d.packages if p not in common)


def kind_variables(kind: str) -> dict[str, str]:
    """The variables a kind's worker processes start with, whatever the user's environment says:
    they decide which kernels the framework loads, and the target's name promises one of them."""
    found = kind_declarations(kind)
    return dict(found[0].variables) if found else {}


def kind_adapter(kind: str) -> tuple[str, str]:
    """(module, class) of the kind's adapter."""
    return kind_declarations(kind)[0].module_and_class


def onednn_logged(api: str) -> bool:
    """Whether a failing unit of the API is re-run with oneDNN's verbose log (Declaration.onednn)."""
    found = [d for d in declarations() if d.api == api]
    return bool(found) and found[0].onednn


def forward_only(api: str) -> bool:
    """Whether the API runs inference only: its gradients are `unsupported`, and faults that show in
    gradients only cannot show on it."""
    return declaration(api).forward_only


def api_devices(api: str) -> tuple[str, ...]:
    """The devices an API exists on (a switch of CPU kernels, an interpreter without a GPU path: the CPU)."""
    return tuple(declaration(api).devices)


def version_packages() -> tuple[str, ...]:
    """Every package whose version decides what some target computes, sorted: the kinds' frameworks
    and what their APIs need or declare (`versions`)."""
    return tuple(sorted({p for d in declarations() for p in (*d.packages, *d.versions)}))
