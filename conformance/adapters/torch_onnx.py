"""PyTorch exported to ONNX and run on ONNX Runtime: the `torch.onnx.layer` and
`torch.onnx.torchscript.layer` targets, forward only.

The layer is the torch.layer target's: torch.nn.Conv{1,2,3}d / ConvTranspose{1,2,3}d built with the
case's arguments (torch_adapter's padding rule, passed in by its dispatch), the case's weights copied
into it. `torch.onnx.export` then writes it:
- `torch.onnx.layer`: with the exporter a user gets by default. Since PyTorch 2.9 that is the
  torch.export-based ("dynamo") exporter, which needs onnxscript
  (https://docs.pytorch.org/docs/stable/onnx_export.html);
- `torch.onnx.torchscript.layer`: with `dynamo=False`, the TorchScript exporter, deprecated since
  2.9 but still shipped in 2.13 (the environment says so; its warning on every call is not repeated
  in every record).
Both run with their defaults (opset, optimization), except `verbose=False`, which only silences the
dynamo exporter's progress lines. The model bytes go to an `onnxruntime.InferenceSession`: the CPU
provider on 'cpu'; on 'gpu' the CUDA provider alone, with ONNX Runtime's CPU fallback turned off, so
a node ONNX Runtime would quietly move to the CPU is a refusal, never a CPU result under a GPU name.
Its thread pool takes the torch worker's thread count (the workers are the parallelism). The
exported models are kept in the run's cache folder, keyed by everything they are made of
(conformance/adapters/artifacts.py): ONNX Runtime runs them in every run.

An export that fails is `unsupported` with the exporter's own text, and so is ONNX Runtime's refusal
of the exported model, when it loads it or runs it (no kernel for the dtype, a type the model's opset
does not allow, an attribute combination its kernel does not take), as for the onnx kind's
onnxruntime target; anything else raised is an error. ONNX Runtime runs the model for inference
only: the gradients are `unsupported`.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import warnings

import numpy as np

from conformance.adapters import artifacts, torch_snippet
from conformance.adapters.base import Observation, Unsupported, dist_version
from conformance.adapters.onnx_adapter import ORT_REFUSALS, inference_session
from conformance.adapters.path import Path
from conformance.adapters.refusal import refusal_for
from conformance.spec.case import Case

NO_GRADIENTS = "the exported ONNX model is run by ONNX Runtime for inference only: no gradients"


class ExportedLayer(Path):
    """`torch.onnx.layer`: the layer exported by torch.onnx.export's default exporter (torch.export's)."""

    dynamo = True

    def run(self, case, dtype, device, inputs) -> Observation:
        return run(self.adapter, case, dtype, device, inputs, self.adapter.padding(case), dynamo=self.dynamo)


class TorchScriptExportedLayer(ExportedLayer):
    """`torch.onnx.torchscript.layer`: the layer exported by the TorchScript exporter (dynamo=False)."""

    dynamo = False


def run(adapter, case: Case, dtype: str, device: str, inputs, padding, *, dynamo: bool) -> Observation:
    """The case's layer exported (`dynamo`: by the default exporter, else TorchScript's) and run on
    ONNX Runtime. `padding`: torch_adapter's padding argument for the case."""
    t = adapter.torch
    tdtype = getattr(t, dtype)
    cls, kwargs = layer_class(t, case, padding)
    obs = Observation(output=None, grad_input=Unsupported(NO_GRADIENTS), grad_weight=Unsupported(NO_GRADIENTS),
                      grad_bias=Unsupported(NO_GRADIENTS) if case.bias else None)
    def write(grads=False):  # the eager layer's lines, then the export's (forward only: no gradients)
        eager = torch_snippet.write(case, dtype, "cpu", f"torch.nn.{cls.__name__}", kwargs, layer=True, grads=grads,
                                    forward=False)
        return _call_lines(eager, dynamo, device, repro=grads)
    obs.call, obs.repro = write().text(), write
    layer = build_layer(adapter, case, dtype, inputs, padding, obs)
    module = adapter.exported_module(layer)  # the layer itself; `conformance port`'s constructions wrap it
    module.eval()  # as users export (the dynamo exporter warns otherwise); a conv computes the same in both modes
    try:
        obs.output = _exported_output(adapter, module, t.from_numpy(inputs.input).to(dtype=tdtype), dtype, device,
                                      dynamo=dynamo)
    except Unsupported as exc:  # the layer's own facts still count: its weight shape and parameter count
        obs.output = exc
    return obs


def layer_class(torch, case: Case, padding) -> tuple:
    """(torch.nn's Conv*d / ConvTranspose*d class for the case, its keyword arguments): the layer
    that the paths which export or convert a torch model start from."""
    kwargs = dict(stride=case.stride, padding=padding, dilation=case.dilation, groups=case.groups)
    if case.op == "conv_transpose":
        kwargs["output_padding"] = case.output_padding
    return getattr(torch.nn, f"Conv{case.ndim}d" if case.op == "conv" else f"ConvTranspose{case.ndim}d"), kwargs


def example_input(torch, array: np.ndarray, dtype):
    """The input ExecuTorch and OpenVINO's PyTorch frontend trace the layer with, as a user makes one:
    a tensor with torch's own contiguous strides. NumPy gives a zero-size array zero strides, which
    `from_numpy` keeps, and ExecuTorch's exporter refuses any zero stride ("0 in strides is not
    supported for ExecuTorch.", exir/dim_order_utils.py), which `torch.zeros((0, ...))` never has."""
    return torch.empty(array.shape, dtype=dtype).copy_(torch.from_numpy(array))


def build_layer(adapter, case: Case, dtype: str, inputs, padding, obs: Observation, device: str = "cpu"):
    """The layer of `layer_class` on the torch `device`, in `dtype`, with the case's weights (every torch
    path that holds a layer builds it here); fills the layer's facts in `obs` (its weight shape and
    parameter count). `adapter`: one with `torch` and `native()`."""
    t = adapter.torch
    cls, kwargs = layer_class(t, case, padding)
    with adapter.native():
        layer = cls(case.in_channels, case.out_channels, case.kernel_size, bias=case.bias, device=device,
                    dtype=getattr(t, dtype), **kwargs)
    obs.layer_weight_shape = tuple(layer.weight.shape)
    obs.param_count = sum(p.numel() for p in layer.parameters())
    with t.no_grad():
        layer.weight.copy_(t.from_numpy(inputs.weight))  # copy_ converts the dtype and device
        if case.bias:
            layer.bias.copy_(t.from_numpy(inputs.bias))
    return layer


def _exported_output(adapter, layer, x, dtype: str, device: str, *, dynamo: bool) -> np.ndarray:
    model = artifacts.made(adapter, "torch.onnx", lambda: _export_key(adapter.torch, layer, x, dynamo),
                           lambda: export(adapter, layer, x, dynamo=dynamo))
    session = open_session(model, device, adapter.torch.get_num_threads())
    if dtype == "bfloat16":  # a bfloat16 model ONNX Runtime accepted (a later opset): NumPy cannot hold its input
        raise Unsupported("ONNX Runtime accepted the bfloat16 model, but its Python API takes NumPy arrays, "
                          "and NumPy has no bfloat16")
    with ort_refusals("refused to run the exported model"):
        (y,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return np.asarray(y, dtype=np.float64)


def _export_key(torch, layer, x, dynamo: bool) -> dict:
    """What the exported model is a function of (conformance/adapters/artifacts.py): the packages
    that write it (their versions and installed code), the exporter, the layer (its repr names its
    class and every argument that is not a default) and its parameters' bytes, the input's shape and dtype."""
    return {"versions": {p: dist_version(p) for p in ("torch", "onnx", "onnxscript")},
            "code": {m: artifacts.installed_code(m) for m in ("torch", "onnx", "onnxscript")}, "dynamo": dynamo,
            "layer": repr(layer), "training": layer.training,
            "parameters": {name: [str(p.dtype), list(p.shape), bytes_digest(torch, p)]
                           for name, p in layer.named_parameters()},
            "input": [list(x.shape), str(x.dtype)]}


def bytes_digest(torch, tensor) -> str:
    # viewed as bytes: NumPy has no bfloat16
    return artifacts.digest(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())


def export(adapter, layer, x, *, dynamo: bool) -> bytes:
    """The serialized ONNX model of `layer` called on `x`: the default exporter, or TorchScript's.
    The exporters raise RuntimeErrors (torch.onnx.OnnxExporterError, torch.export's errors), which
    `native()` makes `unsupported` with their own text."""
    t = adapter.torch
    with adapter.native(), warnings.catch_warnings():
        # Warnings every export gives, whatever the case (the environment names the exporter, deprecated
        # or not): torch.export's pytree code on its own deprecated internals, and the TorchScript exporter
        # on itself. The records keep the others.
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="The feature will be removed. Please remove usage of this function")
        if dynamo:  # the default, as a user calls it
            program = t.onnx.export(layer, (x,), verbose=False)
            if program is None:  # a PyTorch whose default is the TorchScript exporter
                raise Unsupported("torch.onnx.export's default here is the TorchScript exporter, not torch.export's")
            return program.model_proto.SerializeToString()
        buffer = io.BytesIO()
        t.onnx.export(layer, (x,), buffer, dynamo=False)
        return buffer.getvalue()


def open_session(model: bytes, device: str, threads: int):
    """An onnxruntime.InferenceSession on the device's provider; ONNX Runtime's refusals are `Unsupported`."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device == "gpu":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise Unsupported(f"this onnxruntime has no CUDAExecutionProvider (it has {ort.get_available_providers()})")
        providers = ["CUDAExecutionProvider"]
    with ort_refusals("refused the exported model"):
        session = inference_session(ort, model, providers, threads)
    if session.get_providers()[0] != providers[0]:
        raise Unsupported(f"onnxruntime did not take {providers[0]}: it runs on {session.get_providers()}")
    return session


@contextlib.contextmanager
def ort_refusals(what: str):
    """ONNX Runtime's declared refusals (onnx_adapter.ORT_REFUSALS: no kernel for a type, an attribute
    combination a kernel does not take) as `Unsupported` with its own text; anything else it raises
    on the exported model (an invalid graph, a failed kernel) is an error of the path."""
    try:
        yield
    except Exception as exc:
        if refusal_for(exc, ORT_REFUSALS) is None:
            raise
        raise Unsupported(f"onnxruntime {what}: {type(exc).__name__}: {str(exc).strip()}") from exc


def _call_lines(eager, dynamo: bool, device: str, *, repro: bool = False):
    """`eager` (torch_snippet.write's Snippet of the layer, weights loaded) with the export and the
    ONNX Runtime session as `run` makes them; in a repro, a refusal of either is the output's value."""
    provider = "CUDAExecutionProvider" if device == "gpu" else "CPUExecutionProvider"
    if dynamo:
        lines = ["model = torch.onnx.export(layer, (xt,), verbose=False).model_proto.SerializeToString()  "
                 "# the default exporter"]
    else:
        lines = ["import io", "buffer = io.BytesIO()",
                 "torch.onnx.export(layer, (xt,), buffer, dynamo=False)  # the TorchScript exporter",
                 "model = buffer.getvalue()"]
    lines += ["import onnxruntime as ort", "options = ort.SessionOptions()",
              "options.intra_op_num_threads = torch.get_num_threads()"]
    if device == "gpu":
        lines.append("options.add_session_config_entry('session.disable_cpu_ep_fallback', '1')")
    lines += [f"session = ort.InferenceSession(model, options, providers=[{provider!r}])",
              "y = session.run(None, {session.get_inputs()[0].name: xt.numpy()})[0]"]
    eager.call += ["layer.eval()"] + (["try:", *("    " + line for line in lines),
                                       "except Exception as exc:  # the layer's own facts still count",
                                       "    y = exc"] if repro else lines)
    eager.results = ["out['output'] = y if isinstance(y, BaseException) else np.asarray(y, dtype=np.float64)"]
    return eager


def environment(torch) -> dict | None:
    """The ONNX path's facts for the torch section of the results, without importing onnx,
    onnxscript or onnxruntime (package metadata only); None when onnxruntime is not installed."""
    versions = {p: dist_version(p) for p in ("onnx", "onnxscript", "onnxruntime")}
    if versions["onnxruntime"] is None:
        return None
    from torch.onnx import _constants

    default = inspect.signature(torch.onnx.export).parameters.get("dynamo")
    dynamo = default is not None and default.default is True
    return {**versions, "opset": getattr(_constants, "ONNX_DEFAULT_OPSET", None),
            "exporters": {"torch.onnx.layer": "torch.onnx.export's default: "
                                              + ("torch.export (dynamo=True)" if dynamo else "TorchScript"),
                          "torch.onnx.torchscript.layer": "torch.onnx.export(dynamo=False): TorchScript, "
                                                          "deprecated since 2.9"},
            "providers": {"cpu": "CPUExecutionProvider", "gpu": "CUDAExecutionProvider, no CPU fallback"},
            "intra_op_num_threads": torch.get_num_threads(),
            "exported_models_kept": artifacts.location()}
