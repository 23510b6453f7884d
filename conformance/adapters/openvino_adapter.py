"""OpenVINO: the case's model read or converted by OpenVINO and run by its CPU plugin, forward only.

- `openvino.onnx`: the one-node ONNX model that the onnx kind builds from the case
  (onnx_adapter.node_attributes and build_model), read from its bytes by `Core.read_model` (OpenVINO's
  ONNX frontend), at the newest opset that onnx's helper builds and OpenVINO reads.
- `openvino.torch`: the torch.nn layer that the torch.onnx targets export (torch_onnx.build_layer,
  torch_adapter.padding_argument), converted by `openvino.convert_model(layer, example_input=x)`
  with its defaults (https://docs.openvino.ai/2024/openvino-workflow/model-preparation/convert-model-pytorch.html).
Both are compiled by `Core.compile_model(model, "CPU", config)` and called with the input in the
case's dtype. The CPU plugin has no GPU path, and the runtime no gradients: they are `unsupported`.

Precision. The CPU plugin may run a float model in a lower inference precision than its own: its
INFERENCE_PRECISION_HINT defaults to bf16 on CPUs with native bfloat16 (AVX512_BF16, AMX), f32
elsewhere (https://docs.openvino.ai/2024/openvino-workflow/running-inference/inference-devices-and-modes/cpu-device.html,
"Inference Precision"). The 'defaults' profile leaves the hint alone; 'strict' sets it to f32, as the
GPU profiles turn TF32 off. Where the plugin's default is f32 already, the two are one and only
'defaults' runs (`cpu_profiles`). The environment records the plugin's default; each record's notes
the hint of the model compiled for it.

Data. bfloat16 travels as its bits: OpenVINO's Python API takes and gives bf16 tensors as 16-bit
NumPy arrays (NumPy has no bfloat16; its output arrays are typed float16, to be reinterpreted:
https://github.com/openvinotoolkit/openvino/pull/23263). The suite's inputs are exactly representable
in the dtype, so the upper half of their float32 bits is the bfloat16 value, exactly.
"""
from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np

from conformance.adapters import onnx_adapter, openvino_snippet, torch_adapter, torch_onnx
from conformance.adapters.base import Adapter, Observation, Unsupported, dist_version
from conformance.adapters.path import Path
from conformance.adapters.refusal import Refusal
from conformance.adapters.snippet import attach
from conformance.spec.case import Case

APIS = ("openvino.onnx", "openvino.torch")
NO_GRADIENTS = "OpenVINO runs the model for inference only: no gradients"
STRICT_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}
NUMPY_TYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64}

# How OpenVINO refuses a model it cannot express (conformance/adapters/refusal.py).
REFUSALS: tuple[Refusal, ...] = ()


class OpenVinoAdapter(Adapter):
    name = "openvino"
    apis = APIS

    def __init__(self):
        import openvino

        self.ov = openvino
        self.core = openvino.Core()
        self.refusals = REFUSALS + torch_adapter.REFUSALS
        self._profile = "defaults"

    @functools.cached_property
    def torch(self):
        import torch

        torch.set_warn_always(True)  # as the torch kind: a warning says so in each record, not only the first
        return torch

    @functools.cached_property
    def onnx(self):
        import onnx

        return onnx

    @functools.cached_property
    def opset(self) -> int:
        """The newest default-domain opset that onnx's helper builds and OpenVINO reads."""
        for opset in range(self.onnx.defs.onnx_opset_version(), 0, -1):
            model = onnx_adapter.probe_model(self.onnx, opset)
            if model is not None and self._reads(model):
                return opset
        raise RuntimeError(f"OpenVINO {self.version()} reads no opset up to onnx {self.onnx.__version__}'s newest")

    def _reads(self, model) -> bool:
        try:
            self._read_onnx(model)
        except Exception:  # noqa: BLE001 - OpenVINO's refusal of this opset: the caller tries the next lower one
            return False
        return True

    def _read_onnx(self, model) -> tuple:
        """(OpenVINO's model of the ONNX model, the buffers it was read from, which the caller keeps
        while the model is used: OpenVINO may refer to them rather than copy them)."""
        buffers = (model.SerializeToString(), self.ov.Tensor(np.empty(0, np.uint8)))
        return self.core.read_model(*buffers), buffers

    # ---------------------------------------------------------------- environment
    def version(self) -> str:
        return self.ov.get_version()

    def devices(self) -> list[str]:
        return ["cpu"]

    def default_precision(self) -> str:
        """The CPU plugin's inference precision out of the box on this CPU: 'f32', 'bf16' or 'f16'."""
        return self.core.get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()

    def cpu_profiles(self) -> tuple[str, ...]:
        return ("defaults",) if self.default_precision() == "f32" else ("strict", "defaults")

    def environment(self) -> dict:
        core = self.core
        return {"version": self.version(), "openvino": dist_version("openvino"), "device": "CPU plugin",
                "cpu": core.get_property("CPU", "FULL_DEVICE_NAME"),
                "optimization_capabilities": list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
                "inference_precision": {"defaults": self.default_precision(), "strict": "f32"},
                "inference_num_threads": onnx_adapter.worker_threads() or "the plugin's default (one per core)",
                "onnx": dist_version("onnx"), "torch": dist_version("torch"),
                "convert_model": "openvino.convert_model(layer, example_input=x), its defaults (TorchScript tracing)"}

    @contextlib.contextmanager
    def precision(self, device: str, profile: str):
        self._profile = profile
        try:
            yield {"INFERENCE_PRECISION_HINT": "f32" if profile == "strict" else
                   f"the plugin's default ({self.default_precision()})"}
        finally:
            self._profile = "defaults"

    def _config(self) -> dict:
        config = dict(STRICT_CONFIG) if self._profile == "strict" else {}
        threads = onnx_adapter.worker_threads()  # the worker's threads: the workers are the parallelism
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        return config

    # ---------------------------------------------------------------- semantics
    def infer(self, model, dtype: str, inputs, obs: Observation, config: dict):
        """The model compiled by the CPU plugin with `config` and run on the case's input: its output in
        float64; the compiled model's inference precision goes to `obs`'s notes."""
        with self.native():
            compiled = self.core.compile_model(model, "CPU", config)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        obs.notes.append(f"OpenVINO CPU plugin inference precision (the compiled model's "
                         f"INFERENCE_PRECISION_HINT): {hint}")
        x = native_input(inputs.input, dtype)  # kept here: a bf16 Tensor shares this array's memory
        with self.native():
            request = compiled.create_infer_request()
            request.infer([self._tensor(x, dtype)])
            out = request.get_output_tensor(0)
        return _to_float64(np.asarray(out.data), out.element_type.to_string())

    def _tensor(self, x: np.ndarray, dtype: str):
        """`native_input`'s array as an OpenVINO tensor: bfloat16's bits as a bf16 tensor, which shares
        the array's memory (the caller keeps the array until the inference is done)."""
        if dtype == "bfloat16":
            return self.ov.Tensor(x, x.shape, self.ov.Type.bf16)
        return self.ov.Tensor(x)


class OpenVinoModel(Path):
    """A model that OpenVINO reads or converts (`model`, in a subclass), compiled and run by the CPU plugin."""

    def model(self, case: Case, dtype: str, inputs, obs: Observation, config: dict) -> tuple:
        """(OpenVINO's model of the case, what it was made from, kept until the inference is done)."""
        raise NotImplementedError

    def run(self, case, dtype, device, inputs) -> Observation:
        if device != "cpu":
            raise Unsupported("the openvino targets run on OpenVINO's CPU plugin only")
        obs = Observation(output=None, grad_input=Unsupported(NO_GRADIENTS), grad_weight=Unsupported(NO_GRADIENTS),
                          grad_bias=Unsupported(NO_GRADIENTS) if case.bias else None)
        config = self.adapter._config()
        # the source is kept until the inference is done: convert_model shares the torch layer's weights
        # (share_weights=True, its default) instead of copying them
        model, source = self.model(case, dtype, inputs, obs, config)
        obs.output = self.adapter.infer(model, dtype, inputs, obs, config)
        del source
        return obs


class OpenVinoOnnx(OpenVinoModel):
    """`openvino.onnx`: the onnx kind's one-node model, read by OpenVINO's ONNX frontend."""

    def model(self, case: Case, dtype: str, inputs, obs: Observation, config: dict) -> tuple:
        """(OpenVINO's model read from the case's ONNX model, the buffers it was read from)."""
        adapter = self.adapter
        op = "Conv" if case.op == "conv" else "ConvTranspose"
        attrs = onnx_adapter.node_attributes(case)
        obs.notes.append(f"ONNX {op} (opset {adapter.opset}) attributes: {attrs}")
        element = onnx_adapter.ELEMENT_TYPES[dtype]
        attach(obs, functools.partial(openvino_snippet.write_onnx, case, dtype, op, attrs, adapter.opset, element, config))
        ndt = onnx_adapter.numpy_dtype(adapter.onnx, dtype)
        model = onnx_adapter.build_model(adapter.onnx, adapter.opset, case, dtype, op, attrs, inputs.weight.astype(ndt),
                                         None if inputs.bias is None else inputs.bias.astype(ndt))
        with adapter.native():
            return adapter._read_onnx(model)


class OpenVinoTorch(OpenVinoModel):
    """`openvino.torch`: the torch.nn layer, converted by `openvino.convert_model`."""

    def model(self, case: Case, dtype: str, inputs, obs: Observation, config: dict) -> tuple:
        """(OpenVINO's model converted from the torch layer, the layer, whose weights it shares)."""
        adapter = self.adapter
        t = adapter.torch
        padding = torch_adapter.padding_argument(case)
        cls, kwargs = torch_onnx.layer_class(t, case, padding)
        attach(obs, functools.partial(openvino_snippet.write_torch, case, dtype, f"torch.nn.{cls.__name__}", kwargs,
                                      config))
        layer = torch_onnx.build_layer(adapter, case, dtype, inputs, padding, obs)
        layer.eval()  # as users convert a model; a conv computes the same in both modes
        x = torch_onnx.example_input(t, inputs.input, getattr(t, dtype))
        with adapter.native(), warnings.catch_warnings():
            # convert_model traces the module with TorchScript (its default, dynamo=False: the environment
            # says so), and PyTorch 2.13 warns on every trace that TorchScript is deprecated
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.trace(_method)?` is deprecated")
            return adapter.ov.convert_model(layer, example_input=x), layer


def native_input(a: np.ndarray, dtype: str) -> np.ndarray:
    """The input in the dtype, contiguous; bfloat16 as its bits (typed float16, as OpenVINO's Python API
    gives bf16 data): values exactly representable in bfloat16 are the upper half of their float32 bits."""
    if dtype == "bfloat16":
        return (np.ascontiguousarray(a, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).view(np.float16)
    return np.ascontiguousarray(a.astype(NUMPY_TYPES[dtype]))


def _to_float64(data: np.ndarray, element: str) -> np.ndarray:
    """An output tensor's values: bf16 data comes as 16-bit words to reinterpret (module docstring)."""
    if element == "bf16":
        return (data.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return np.asarray(data, dtype=np.float64)
