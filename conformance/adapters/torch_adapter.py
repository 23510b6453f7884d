"""PyTorch: torch.nn.functional.conv{1,2,3}d / conv_transpose{1,2,3}d and torch.nn.Conv*/ConvTranspose*.

Native layouts are the canonical ones: input (N, C, *spatial), conv weight (O, I/g, *k), transposed
weight (I, O/g, *k) (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html,
https://pytorch.org/docs/stable/generated/torch.nn.ConvTranspose2d.html), so no layout conversion.
"""
from __future__ import annotations

import contextlib
import functools
import re
import warnings

from conformance.spec.case import Case
from conformance.spec.frameworks import builtin_apis
from conformance.adapters.base import (Adapter, Observation, dist_version, worker_threads, Unsupported, api_modifiers,
                                       api_surface, converted,
                                       compiled_failure)
from conformance.adapters.refusal import Refusal
from conformance.adapters.torch_compile import Compiler
from conformance.adapters import keras_backend, keras_layers, keras_ops
from conformance.adapters import onnx_adapter, torch_onnx, torch_snippet
from conformance.adapters.snippet import Snippet, attach

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
        self._dtypes = {"float16": torch.float16, "bfloat16": torch.bfloat16,
                        "float32": torch.float32, "float64": torch.float64}

    def import_package(self, api: str, package: str):
        if package == "keras" and (api in keras_backend.BACKENDS or api in keras_ops.BACKENDS):
            return keras_backend.import_keras(keras_backend.BACKENDS.get(api) or keras_ops.BACKENDS[api])
        return super().import_package(api, package)

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

    # ---------------------------------------------------------------- semantics
    def native_weight_shape(self, api: str, case: Case) -> tuple[int, ...]:
        if api in keras_backend.BACKENDS:
            return keras_backend.native_weight_shape(api, case)
        if api in keras_ops.BACKENDS:
            return keras_ops.native_weight_shape(case)
        return case.weight_shape  # PyTorch's layouts are the canonical ones

    def _padding(self, case: Case):
        return padding_argument(case)

    def run(self, api, case, dtype, device, inputs) -> Observation:
        if api in keras_backend.BACKENDS:
            return keras_backend.run_keras_layer(self, api, case, dtype, device, inputs)
        if api in keras_ops.BACKENDS:
            return keras_ops.run(self, api, case, dtype, device, inputs)
        if api in torch_onnx.APIS:  # exported to ONNX, run on ONNX Runtime
            return torch_onnx.run(self, api, case, dtype, device, inputs, self._padding(case), _snippet)
        t = self.torch
        path = api_modifiers(api)
        tensor = _tensor_maker(t, "cuda" if device == "gpu" else "cpu", self._dtypes[dtype])
        x = tensor(inputs.input)
        if "channels_last" in path:
            with self.native():  # PyTorch's own refusal of a rank without a channels-last format
                x = x.detach().to(memory_format=_memory_format(t, case)).requires_grad_(True)
        obs = Observation(output=None)
        call, (w, b) = self._callable(api, case, dtype, device, inputs, tensor, obs)
        args = (x,) if api_surface(api) == "layer" else (x, w, b)
        with self._kernels(path):
            y = self._forward(call, args, path)
            obs.output = y.detach().to(t.float64).cpu().numpy()
            try:
                with self.native():
                    y.backward(tensor(inputs.grad_output, grad=False))
            except Exception as exc:  # refused (Unsupported) or failed: the output is still compared
                obs.grad_input = obs.grad_weight = obs.grad_bias = exc
                return obs
        # p.grad is None where autograd computed no gradient for p: that check fails, the others count
        to_numpy = lambda g: g.detach().to(t.float64).cpu().numpy()  # noqa: E731
        obs.grad_input, obs.grad_weight, obs.grad_bias = (
            None if p is None else converted(p.grad, to_numpy) for p in (x, w, b))
        return obs

    def exported_module(self, layer):
        """The module the torch.onnx targets export: the layer itself (a recipe of `conformance port`
        exports its construction around the layer instead, conformance/recipes/torch_composite.py)."""
        return layer

    def _callable(self, api, case: Case, dtype: str, device: str, inputs, tensor, obs: Observation):
        """(what a user calls: the functional conv or the layer, (its weight, its bias)); fills the
        snippet, and for a layer the weight shape and parameter count it reports."""
        t, nd, path = self.torch, case.ndim, api_modifiers(api)
        dev = "cuda" if device == "gpu" else "cpu"
        kwargs = dict(stride=case.stride, padding=self._padding(case), dilation=case.dilation, groups=case.groups)
        if case.op == "conv_transpose":
            kwargs["output_padding"] = case.output_padding
        if api_surface(api) == "functional":
            fn = getattr(self.F, f"conv{nd}d" if case.op == "conv" else f"conv_transpose{nd}d")
            attach(obs, functools.partial(_snippet, case, dtype, dev, f"torch.nn.functional.{fn.__name__}", kwargs,
                                          layer=False, path=path))
            return (lambda x, w, b: fn(x, w, b, **kwargs)), (tensor(inputs.weight), tensor(inputs.bias))
        cls = getattr(t.nn, f"Conv{nd}d" if case.op == "conv" else f"ConvTranspose{nd}d")
        attach(obs, functools.partial(_snippet, case, dtype, dev, f"torch.nn.{cls.__name__}", kwargs, layer=True,
                                      path=path))
        with self.native():
            layer = cls(case.in_channels, case.out_channels, case.kernel_size, bias=case.bias,
                        device=dev, dtype=self._dtypes[dtype], **kwargs)
        obs.layer_weight_shape = tuple(layer.weight.shape)
        obs.param_count = sum(p.numel() for p in layer.parameters())
        with t.no_grad():
            layer.weight.copy_(t.from_numpy(inputs.weight))  # copy_ converts dtype and device
            if case.bias:
                layer.bias.copy_(t.from_numpy(inputs.bias))
        if "channels_last" in path:
            layer.to(memory_format=_memory_format(t, case))  # as users convert a model: the weight too
        return layer, (layer.weight, layer.bias)

    def _forward(self, call, args, path):
        """`call(*args)`, under torch.compile on a compiled path: a compiled refusal of a case that
        eager PyTorch computes, or a call that did not run compiled, is an error of that path."""
        if "compile" not in path:
            with self.native():
                return call(*args)
        compiled = self.compiled(call)
        self.compiler.watch()
        try:
            with self.native():
                y = compiled(*args)
        except Exception as exc:  # a refusal only where eager PyTorch refuses the case too
            with self.torch.no_grad():
                raise compiled_failure(self, lambda: call(*args), exc, "torch.compile", "PyTorch") from exc
        self.compiler.check_compiled()
        return y

    @functools.cached_property
    def compiler(self) -> Compiler:
        return Compiler(self.torch)

    def compiled(self, call):
        """`call` under torch.compile (a step of its own, so that a planted fault can skip it)."""
        return self.compiler.compile(call)

    @contextlib.contextmanager
    def _kernels(self, path):
        """PyTorch's oneDNN (mkldnn) CPU kernels off for the `no_mkldnn` path, as a user turns them off."""
        if "no_mkldnn" not in path:
            yield
            return
        # Entering and leaving flags() sets oneDNN's TF32 switch too, which warns on every CPU build
        # that it only matters for Intel GPUs: not about the case (native() keeps the call's warnings).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
            with self.torch.backends.mkldnn.flags(enabled=False):
                with warnings.catch_warnings():
                    warnings.simplefilter("default")
                    yield


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


def _tensor_maker(torch, dev: str, dtype):
    def tensor(a, grad=True):
        # from_numpy + one converting copy: a third cheaper than torch.tensor(a, dtype=...), which
        # counts on small cases (harness overhead, benchmarks/bench_frameworks.py)
        if a is None:
            return None
        return torch.from_numpy(a).to(device=dev, dtype=dtype, copy=True).requires_grad_(grad)
    return tensor


def _memory_format(torch, case: Case):
    """channels_last for 2-D convs (4-D tensors), channels_last_3d for 3-D; 1-D has none, and
    PyTorch's own refusal of `channels_last` on a 3-D tensor says so."""
    return torch.channels_last_3d if case.ndim == 3 else torch.channels_last


def _snippet(case: Case, dtype: str, dev: str, fn: str, kwargs: dict, *, layer: bool, path=frozenset(),
             grads: bool = False, forward: bool = True) -> Snippet:
    """The call as a user writes it on this path (eager, channels_last, under torch.compile, with
    oneDNN off), over the suite-layout arrays: conformance/adapters/torch_snippet.py."""
    return torch_snippet.write(case, dtype, dev, fn, kwargs, layer=layer, path=path, grads=grads, forward=forward)


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
