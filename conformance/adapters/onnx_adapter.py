"""ONNX: a one-node Conv / ConvTranspose model built from the case, run on ONNX Runtime
("onnxruntime": its CPU provider, and its CUDA provider as the device 'gpu' where onnxruntime
reports CUDAExecutionProvider) and on the ONNX reference evaluator ("onnx.reference":
onnx.reference.ReferenceEvaluator, NumPy, CPU only). Inference only: no gradients.

Layouts, as the operator pages document them, are the canonical ones (docs/semantics.md#layouts),
so nothing is converted:
- Conv (https://onnx.ai/onnx/operators/onnx__Conv.html): X (N, C, *spatial), W (M, C/group, *k),
  B (M,), Y (N, M, *spatial_out);
- ConvTranspose (https://onnx.ai/onnx/operators/onnx__ConvTranspose.html): X (N, C, *spatial),
  W (C, M/group, *k), B (M,).
The weight and bias are initializers, as in an exported model; the input is the graph's input.

The attributes are ONNX's own (`node_attributes`): kernel_shape, strides, dilations, group, and
- 'valid' -> auto_pad VALID, 'same' -> SAME_UPPER, 'same_lower' -> SAME_LOWER: ONNX's keywords
  for exactly the case's meanings. Conv: output ceil(in / stride), the odd element of an odd total
  at the end (SAME_UPPER) or the beginning (SAME_LOWER). ConvTranspose: output in * stride, with
  the crop of the full output split the same way (the operator's auto_pad text and its pads
  equations).
- ConvTranspose 'same' is auto_pad, not output_shape: with output_shape and auto_pad NOTSET the
  operator's equations take their "Else" branch, pads[start] = total - total/2, which puts the odd
  crop at the beginning, i.e. SAME_LOWER's split, not the case's 'same'. auto_pad SAME_UPPER says
  both the size (in * stride) and the split (odd at the end). output_shape is never needed:
  explicit crops are `pads`, whose output size the operator's first equation gives.
- explicit [begin, end] pairs, and 'causal' (the case model's [k_eff - 1, 0]), -> pads in ONNX's
  order [x1_begin, x2_begin, ..., x1_end, x2_end, ...]: zeros added for Conv, elements cropped
  from the full output for ConvTranspose, as the case's pairs mean. pads is ONNX's own attribute
  for begin/end amounts, so this is a convention, not emulation.
- output_padding where the case has one (added at the end of the full output, as in the case).

The opset is the newest that onnx defines, its helper builds and onnxruntime loads
(`_newest_common_opset`), recorded in `environment()`.
"""
from __future__ import annotations

import contextlib
import functools
import os

import numpy as np

from conformance.adapters import onnx_snippet
from conformance.adapters.base import Adapter, Observation, Unsupported
from conformance.adapters.path import Path
from conformance.adapters.refusal import Refusal
from conformance.adapters.snippet import attach
from conformance.spec.case import Case

AUTO_PAD = {"valid": "VALID", "same": "SAME_UPPER", "same_lower": "SAME_LOWER"}
ELEMENT_TYPES = {"float16": "FLOAT16", "bfloat16": "BFLOAT16", "float32": "FLOAT", "float64": "DOUBLE"}
CPU_PROVIDER, CUDA_PROVIDER = "CPUExecutionProvider", "CUDAExecutionProvider"


# How ONNX Runtime refuses a Conv or ConvTranspose model (conformance/adapters/refusal.py), by the
# class of its pybind exception and its text.
ORT_REFUSALS = (
    Refusal("NotImplemented", r"Could not find an implementation for (Conv|ConvTranspose)\(\d+\) node",
            "https://onnxruntime.ai/docs/reference/operators/OperatorKernels.html (the CPU provider's Conv and "
            "ConvTranspose kernels: float32 and float16 only; no float64 or bfloat16)"),
    Refusal("InvalidArgument", r"Dilation not supported for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER",
            "https://github.com/microsoft/onnxruntime/issues/20582; onnxruntime/core/providers/common.h ComputePad"),
    Refusal("InvalidArgument", r"output_padding \(\d+\) may be too large for stride",
            "onnxruntime/core/providers/cpu/nn/conv_transpose_attributes.h (ORT requires output_padding < stride, "
            "stricter than the operator page's 'less than the corresponding stride/dilation dimension')"),
    Refusal("InvalidGraph", r"Type 'tensor\(bfloat16\)' of input parameter \([^)]*\) of operator \((Conv|ConvTranspose)\)",
            "https://onnx.ai/onnx/operators/onnx__Conv.html (T: float16, float, double before opset 22, the opset "
            "that added bfloat16; ORT checks a model's types against its opset)"),
)
# The reference evaluator (onnx.reference) refuses nothing the suite has seen: whatever it raises is an error.
REFERENCE_REFUSALS: tuple = ()


class OnnxAdapter(Adapter):
    name = "onnx"
    apis = ("onnxruntime", "onnx.reference")

    def __init__(self):
        import onnx
        from onnx.reference import ReferenceEvaluator

        try:
            import onnxruntime as ort
        except Exception:  # noqa: BLE001 - not installed: the target is skipped (its declared packages); installed but
            ort = None     # broken: it fails to start (Adapter.start_errors). onnx.reference runs either way.
        if ort is not None:
            # ORT also logs each refusal to stderr; its text comes back in the exception, kept there
            ort.set_default_logger_severity(4)
        self.onnx, self.ort, self.evaluator = onnx, ort, ReferenceEvaluator
        self._numpy_dtypes = {name: numpy_dtype(onnx, name) for name in ELEMENT_TYPES}
        self.opset, self.opset_limits = _newest_common_opset(onnx, ort)
        self._provider_options: dict = {}

    # ---------------------------------------------------------------- environment
    def version(self) -> str:
        return self.onnx.__version__

    def devices(self) -> list[str]:
        gpu = self.ort is not None and CUDA_PROVIDER in self.ort.get_available_providers()
        return ["cpu", "gpu"] if gpu else ["cpu"]

    def environment(self) -> dict:
        ort = self.ort
        return {"version": self.onnx.__version__, "onnx": self.onnx.__version__,
                "onnxruntime": ort.__version__ if ort else None, "opset": self.opset, **self.opset_limits,
                "ir_version": self._ir_version(),
                "providers": ort.get_available_providers() if ort else [],
                # what a user gets: ORT's default graph optimizations; its threads follow the worker's
                "graph_optimization_level": "ORT_ENABLE_ALL (the default)" if ort else None,
                "intra_op_threads": worker_threads()}

    def _ir_version(self) -> int:
        return self.onnx.helper.find_min_ir_version_for([self.onnx.helper.make_opsetid("", self.opset)])

    @contextlib.contextmanager
    def precision(self, device: str, profile: str):
        # The CUDA provider's use_tf32 (default on) governs its float32 cuDNN convolutions
        # (https://github.com/microsoft/onnxruntime/pull/19426); 'strict' turns it off.
        if device != "gpu":
            yield {}
            return
        self._provider_options = {"use_tf32": "0"} if profile == "strict" else {}
        try:
            yield {"use_tf32": self._provider_options.get("use_tf32", "provider default (1)")}
        finally:
            self._provider_options = {}

    # ---------------------------------------------------------------- semantics
    def node_attributes(self, case: Case) -> dict:
        """The node's ONNX attributes for the case (`node_attributes` below). The planted faults of
        ONNX's translation wrap this method (conformance/search/faults.py)."""
        return node_attributes(case)

    def _model(self, case: Case, dtype: str, op: str, attrs: dict, w: np.ndarray, b: np.ndarray | None):
        return build_model(self.onnx, self.opset, case, dtype, op, attrs, w, b)

    def _providers(self, device: str) -> list:
        if device == "cpu":
            return [CPU_PROVIDER]
        if CUDA_PROVIDER not in self.ort.get_available_providers():
            raise Unsupported("onnxruntime reports no CUDAExecutionProvider")
        return [(CUDA_PROVIDER, dict(self._provider_options))]

    def _session(self, model, providers: list):
        return inference_session(self.ort, model.SerializeToString(), providers, worker_threads())


class OnnxModel(Path):
    """The case's one-node model on a runtime of ONNX models; inference only. ONNX's layouts are the
    suite's: the weight shape is the canonical one. A subclass says how its runtime runs the model."""

    refusals: tuple = ()  # the runtime's own, in force while it runs (the adapter's `native()` reads them)
    inference_only = ""  # why there are no gradients

    def ready(self, device: str) -> None:
        """Raise `Unsupported` where the runtime cannot run here."""

    def providers(self, device: str):
        """ONNX Runtime's execution providers for the device; None for a runtime without them."""
        return None

    def evaluate(self, model, x, device: str, providers):
        raise NotImplementedError

    def run(self, case, dtype, device, inputs) -> Observation:
        adapter = self.adapter
        self.ready(device)
        adapter.refusals = self.refusals
        op = "Conv" if case.op == "conv" else "ConvTranspose"
        attrs = adapter.node_attributes(case)
        providers = self.providers(device)
        obs = Observation(output=None, notes=[f"ONNX {op} (opset {adapter.opset}) attributes: {attrs}"])
        attach(obs, functools.partial(onnx_snippet.write, case, dtype, op, attrs, adapter.opset, providers,
                                      ELEMENT_TYPES[dtype]))
        ndt = adapter._numpy_dtypes[dtype]
        # Native dtypes and the model, built here, outside native(): our mistakes stay errors.
        x = inputs.input.astype(ndt)
        model = adapter._model(case, dtype, op, attrs, inputs.weight.astype(ndt),
                               None if inputs.bias is None else inputs.bias.astype(ndt))
        with adapter.native():
            y = self.evaluate(model, x, device, providers)
        obs.output = adapter.to_numpy64(y)
        obs.grad_input = obs.grad_weight = obs.grad_bias = Unsupported(self.inference_only)
        return obs


class OnnxRuntime(OnnxModel):
    """`onnxruntime`: an InferenceSession on the device's provider (CPU; CUDA without CPU fallback)."""

    refusals = ORT_REFUSALS
    inference_only = "ONNX Runtime runs inference only; no gradients"

    def ready(self, device: str) -> None:
        if self.adapter.ort is None:
            self.adapter.import_package(self.api, "onnxruntime")  # raises its import's error where it is installed
            raise Unsupported("onnxruntime is not installed")

    def providers(self, device: str):
        return self.adapter._providers(device)

    def evaluate(self, model, x, device: str, providers):
        return self.adapter._session(model, providers).run(None, {"X": x})[0]


class OnnxReference(OnnxModel):
    """`onnx.reference`: onnx.reference.ReferenceEvaluator, NumPy, on the CPU. A NumPy error inside it
    (a ValueError from a reshape) is a crash on a valid model, an `error`, never a refusal."""

    refusals = REFERENCE_REFUSALS
    inference_only = "the ONNX reference evaluator runs inference only; no gradients"

    def ready(self, device: str) -> None:
        if device != "cpu":
            raise Unsupported("the ONNX reference evaluator runs on the CPU only (NumPy)")

    def evaluate(self, model, x, device: str, providers):
        return self.adapter.evaluator(model).run(None, {"X": x})[0]


def inference_session(ort, model: bytes, providers: list, threads: int):
    """An onnxruntime.InferenceSession of the model's bytes on `providers` (every path that runs a model
    on ONNX Runtime opens it here): `threads` intra-op threads, its log silenced (errors come back as
    exceptions, with their text), and on the CUDA provider no CPU fallback: a node the CUDA provider
    cannot run would otherwise run on the CPU, silently, under the gpu target's name; it is refused
    instead, with ORT's text."""
    options = ort.SessionOptions()
    options.log_severity_level = 4  # fatal only
    options.intra_op_num_threads = threads
    first = providers[0][0] if isinstance(providers[0], tuple) else providers[0]
    if first == CUDA_PROVIDER:
        options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    return ort.InferenceSession(model, options, providers=providers)


def build_model(onnx, opset: int, case: Case, dtype: str, op: str, attrs: dict, w: np.ndarray, b: np.ndarray | None):
    """The one-node model of the case (every runtime of an ONNX model starts from it): X the graph
    input, W (and B) initializers, Y of the rank of X and sizes left to the runtime."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    element = getattr(onnx.TensorProto, ELEMENT_TYPES[dtype])
    names = ["X", "W"] + (["B"] if b is not None else [])
    node = helper.make_node(op, names, ["Y"], **attrs)
    initializers = [numpy_helper.from_array(w, "W")] + ([numpy_helper.from_array(b, "B")] if b is not None else [])
    graph = helper.make_graph([node], "conformance_case",
                              [helper.make_tensor_value_info("X", element, list(case.input_shape))],
                              [helper.make_tensor_value_info("Y", element, [None] * len(case.input_shape))],
                              initializer=initializers)
    # the IR version that goes with the opset, not onnx's newest, which an older runtime may not load
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)  # structure only; a failure is our bug (an error)
    return model


def numpy_dtype(onnx, dtype: str):
    """The NumPy dtype ONNX maps the dtype's element type to (bfloat16: ml_dtypes', an onnx dependency)."""
    return onnx.helper.tensor_dtype_to_np_dtype(getattr(onnx.TensorProto, ELEMENT_TYPES[dtype]))


def node_attributes(case: Case) -> dict:
    """The node's ONNX attributes for the case (the module docstring says why each)."""
    attrs = {"kernel_shape": list(case.kernel_size), "strides": list(case.stride),
             "dilations": list(case.dilation), "group": case.groups}
    if case.padding in AUTO_PAD:
        attrs["auto_pad"] = AUTO_PAD[case.padding]
    else:  # explicit pairs, or 'causal' resolved to its pairs: [x1_begin, ..., x1_end, ...]
        attrs["pads"] = [b for b, _ in case.pads] + [e for _, e in case.pads]
    if case.op == "conv_transpose" and any(case.output_padding):
        attrs["output_padding"] = list(case.output_padding)
    return attrs


def worker_threads() -> int:
    """ONNX Runtime's intra-op threads: the worker's OMP_NUM_THREADS (workers are the parallelism,
    docs/architecture.md), 0 (ORT's own default, one per core) where it is not set."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


def _newest_common_opset(onnx, ort) -> tuple[int, dict]:
    """The newest default-domain opset that onnx defines, onnx's helper builds a model of, and
    onnxruntime loads: onnx's newest, then lower ones. onnx's helper refuses an opset its version
    table lacks (ValueError "Unsupported opset-version"): onnx 1.22.0 defines opset 27 but its table
    ends at 26. ORT refuses opsets newer than it knows. Without onnxruntime, the newest the helper
    builds. Returns (opset, the limits found, for the environment)."""
    newest = onnx.defs.onnx_opset_version()
    limits = {"opset_onnx_newest": newest, "opset_onnx_helper_newest": None, "opset_onnxruntime_newest": None}
    for opset in range(newest, 0, -1):
        model = probe_model(onnx, opset)
        if model is None:
            continue
        limits["opset_onnx_helper_newest"] = limits["opset_onnx_helper_newest"] or opset
        if ort is None:
            return opset, limits
        if _ort_loads(ort, model):
            limits["opset_onnxruntime_newest"] = opset
            return opset, limits
    runtime = f"onnxruntime {ort.__version__} loads" if ort is not None else "onnx's helper builds"
    raise RuntimeError(f"{runtime} no opset up to onnx {onnx.__version__}'s newest ({newest})")


def probe_model(onnx, opset: int):
    """A one-node Conv model of the opset, or None where onnx's helper refuses the opset."""
    helper = onnx.helper
    node = helper.make_node("Conv", ["X", "W"], ["Y"])
    graph = helper.make_graph([node], "probe", [
        helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [1, 1, 1]),
        helper.make_tensor_value_info("W", onnx.TensorProto.FLOAT, [1, 1, 1])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)])
    try:
        return helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)])
    except ValueError:  # "Unsupported opset-version": not in the helper's version table
        return None


def _ort_loads(ort, model) -> bool:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        ort.InferenceSession(model.SerializeToString(), options, providers=[CPU_PROVIDER])
    except Exception:  # noqa: BLE001 - ORT's refusal of this opset: the caller tries the next lower one
        return False
    return True
