"""PyTorch: torch.nn.functional.conv{1,2,3}d / conv_transpose{1,2,3}d and torch.nn.Conv*/ConvTranspose*.

Native layouts are the canonical ones: input (N, C, *spatial), conv weight (O, I/g, *k), transposed
weight (I, O/g, *k) (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html,
https://pytorch.org/docs/stable/generated/torch.nn.ConvTranspose2d.html), so no layout conversion.
"""
from __future__ import annotations

import contextlib
import functools
import re

from conformance.spec.case import Case
from conformance.spec.frameworks import builtin_apis
from conformance.adapters.base import Adapter, Observation, dist_version, worker_threads, Unsupported
from conformance.adapters.refusal import Refusal
from conformance.adapters.torch_compile import Compiler
from conformance.adapters import keras_layers, keras_ops
from conformance.adapters import onnx_adapter, torch_onnx

# How PyTorch refuses a convolution (conformance/adapters/refusal.py). torch.compile's refusals are
# eager PyTorch's, checked by calling eager (base.compiled_failure); the torch worker's other paths add
# Keras's (keras.torch.layer) and ONNX Runtime's (the exported models).
REFUSALS = (
    Refusal("RuntimeError", r"padding='same' is not supported for strided convolutions",
            "https://pytorch.org/docs/stable/generated/torch.nn.functional.conv2d.html (padding 'same' "
            "'doesn't support any stride values other than 1'); aten/src/ATen/native/Convolution.cpp"),
    Refusal("ValueError", r"padding='same' is not supported for strided convolutions",
            "https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html; torch/nn/modules/conv.py _ConvNd.__init__"),
    Refusal("RuntimeError", r"required rank \d+ tensor to use channels_last(_3d)? format",
            "https://pytorch.org/docs/stable/tensor_attributes.html#torch-memory-format (channels_last: 4-D "
            "tensors, channels_last_3d: 5-D); c10/core/MemoryFormat.h"),
)


class TorchAdapter(Adapter):
    name = "torch"
    apis = builtin_apis("torch")

    def __init__(self):
        import torch
        import torch.nn.functional as F

        # PyTorch issues some warnings once per process (TORCH_WARN_ONCE): the record of whichever
        # case a worker ran first would carry it, so records would depend on how cases were spread
        # over workers (--jobs, shards, pytest-xdist). Always issued, each case that triggers it says so.
        torch.set_warn_always(True)
        if worker_threads():  # OMP_NUM_THREADS says it too; a user's own setting of it cannot undo this
            torch.set_num_threads(worker_threads())
        self.torch = torch
        self.F = F
        self.refusals = REFUSALS + keras_layers.REFUSALS + keras_ops.REFUSALS + onnx_adapter.ORT_REFUSALS
        self.dtypes = {"float16": torch.float16, "bfloat16": torch.bfloat16,
                        "float32": torch.float32, "float64": torch.float64}

    # ---------------------------------------------------------------- environment
    def version(self) -> str:
        return self.torch.__version__

    def devices(self) -> list[str]:
        return ["cpu", "gpu"] if self.torch.cuda.is_available() else ["cpu"]

    def environment(self) -> dict:
        t = self.torch
        env = {"version": t.__version__, "cuda": t.version.cuda, "threads": t.get_num_threads(),
               "interop_threads": t.get_num_interop_threads(), "cpu_capability": _cpu_capability(t),
               "mkldnn": {"available": t.backends.mkldnn.is_available(), "enabled": bool(t.backends.mkldnn.enabled)},
               "mkl": t.backends.mkl.is_available(), "compile": self.compiler.environment(),
               "keras": dist_version("keras"), **_build_facts(t)}
        if t.cuda.is_available():
            env.update(gpu=t.cuda.get_device_name(0), cudnn=t.backends.cudnn.version(),
                       defaults=self._settings())
        env["onnx"] = torch_onnx.environment(t)  # the torch.onnx.* targets: exporter, opset, onnxruntime
        return env

    def _settings(self) -> dict:
        b = self.torch.backends
        return {"cudnn.allow_tf32": b.cudnn.allow_tf32, "cuda.matmul.allow_tf32": b.cuda.matmul.allow_tf32,
                "float32_matmul_precision": self.torch.get_float32_matmul_precision()}

    @contextlib.contextmanager
    def precision(self, device: str, profile: str):
        if device != "gpu":
            yield {}
            return
        b = self.torch.backends
        saved = (b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32, self.torch.get_float32_matmul_precision())
        try:
            if profile == "strict":
                b.cudnn.allow_tf32 = False
                b.cuda.matmul.allow_tf32 = False
                self.torch.set_float32_matmul_precision("highest")
            yield self._settings()
        finally:
            b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32 = saved[0], saved[1]
            self.torch.set_float32_matmul_precision(saved[2])

    # ---------------------------------------------------------------- construction
    # The paths (torch_paths.py, keras_backend.py, keras_ops.py, torch_onnx.py) run in this session;
    # these steps of theirs are the adapter's, so that a recipe of `conformance port` (conformance/
    # recipes/torch_composite.py) or a planted fault (search/faults.py) can replace one for all paths.
    def padding(self, case: Case):
        return padding_argument(case)

    def construct(self, api, case: Case, dtype: str, device: str, inputs, tensor, obs: Observation):
        """(what a user calls on the path `api`: the functional conv or the layer, (its weight, its
        bias)); fills the snippet, and for a layer the weight shape and parameter count it reports."""
        return self.paths[api].construct(case, dtype, device, inputs, tensor, obs)

    def exported_module(self, layer):
        """The module the torch.onnx targets export: the layer itself (a recipe of `conformance port`
        exports its construction around the layer instead, conformance/recipes/torch_composite.py)."""
        return layer

    @functools.cached_property
    def compiler(self) -> Compiler:
        return Compiler(self.torch)

    def compiled(self, call):
        """`call` under torch.compile (a step of its own, so that a planted fault can skip it)."""
        return self.compiler.compile(call)


def padding_argument(case: Case):
    """The padding argument: the case's keyword where PyTorch has it, else symmetric amounts (the
    layers that the export and conversion paths build take it too)."""
    if case.op == "conv" and case.padding in ("valid", "same"):
        return case.padding
    if case.op == "conv_transpose" and case.padding == "same":
        raise Unsupported("PyTorch ConvTranspose has no padding='same' (only explicit, symmetric padding)")
    if case.padding == "same_lower":
        raise Unsupported("PyTorch has no SAME_LOWER padding: its padding='same' (conv only) puts an odd "
                          "element at the end, and its explicit padding is symmetric")
    if case.padding == "causal":
        raise Unsupported("PyTorch has no 'causal' padding; its explicit padding is symmetric, "
                          "and causal needs k_eff-1 at the start only")
    if not case.symmetric_padding:
        what = "cropping" if case.op == "conv_transpose" else "padding"
        raise Unsupported(f"PyTorch takes one symmetric {what} amount per dim; this case needs "
                          f"[begin, end] = {[list(p) for p in case.pads]}")
    return tuple(b for b, _ in case.pads)


def _cpu_capability(torch) -> str | None:
    """The SIMD level of the CPU kernels PyTorch dispatches to (e.g. AVX512, AVX2, DEFAULT): it
    follows the CPU, and ATEN_CPU_CAPABILITY can lower it."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # PyTorch < 2.0
        return None


def _build_facts(torch) -> dict:
    """The BLAS, the oneDNN version and the parallel backend, from PyTorch's build and parallel info."""
    try:
        show, parallel = torch.__config__.show(), torch.__config__.parallel_info()
    except (AttributeError, RuntimeError):
        return {}
    blas = re.search(r"BLAS_INFO=([^,\s]+)", show)
    onednn = re.search(r"(?:MKL-DNN|oneDNN) v(\S+)", show)
    backend = re.search(r"ATen parallel backend: (.+)", parallel)
    return {"blas": blas and blas.group(1), "onednn_version": onednn and onednn.group(1),
            "parallel_backend": backend and backend.group(1).strip()}
