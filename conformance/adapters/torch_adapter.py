"""PyTorch: torch.nn.functional.conv{1,2,3}d / conv_transpose{1,2,3}d and torch.nn.Conv*/ConvTranspose*.

Native layouts are the canonical ones: input (N, C, *spatial), conv weight (O, I/g, *k), transposed
weight (I, O/g, *k) (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html,
https://pytorch.org/docs/stable/generated/torch.nn.ConvTranspose2d.html), so no layout conversion.
"""
from __future__ import annotations

import contextlib
import re

from conformance.spec.case import Case
from conformance.adapters.base import Adapter, Observation, Unsupported, converted


class TorchAdapter(Adapter):
    name = "torch"
    apis = ("torch.functional", "torch.layer")

    def __init__(self):
        import torch
        import torch.nn.functional as F

        # PyTorch issues some warnings once per process (TORCH_WARN_ONCE): the record of whichever
        # case a worker ran first would carry it, so records would depend on how cases were spread
        # over workers (--jobs, shards, pytest-xdist). Always issued, each case that triggers it says so.
        torch.set_warn_always(True)
        self.torch = torch
        self.F = F
        self.refusals = (RuntimeError, ValueError, NotImplementedError, TypeError)
        self._dtypes = {"float16": torch.float16, "bfloat16": torch.bfloat16,
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
               "mkl": t.backends.mkl.is_available(), **_build_facts(t)}
        if t.cuda.is_available():
            env.update(gpu=t.cuda.get_device_name(0), cudnn=t.backends.cudnn.version(),
                       defaults=self._settings())
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
        return case.weight_shape  # PyTorch's layouts are the canonical ones

    def _padding(self, case: Case):
        """The padding argument: the case's keyword where PyTorch has it, else symmetric amounts."""
        if case.op == "conv" and case.padding in ("valid", "same"):
            return case.padding
        if case.op == "conv_transpose" and case.padding == "same":
            raise Unsupported("PyTorch ConvTranspose has no padding='same' (only explicit, symmetric padding)")
        if case.padding == "causal":
            raise Unsupported("PyTorch has no 'causal' padding; its explicit padding is symmetric, "
                              "and causal needs k_eff-1 at the start only")
        if not case.symmetric_padding:
            what = "cropping" if case.op == "conv_transpose" else "padding"
            raise Unsupported(f"PyTorch takes one symmetric {what} amount per dim; this case needs "
                              f"[begin, end] = {[list(p) for p in case.pads]}")
        return tuple(b for b, _ in case.pads)

    def run(self, api, case, dtype, device, inputs) -> Observation:
        t = self.torch
        dev = "cuda" if device == "gpu" else "cpu"
        tdtype = self._dtypes[dtype]
        padding = self._padding(case)

        def tensor(a, grad=True):
            # from_numpy + one converting copy: a third cheaper than torch.tensor(a, dtype=...), which
            # counts on small cases (harness overhead, benchmarks/bench_frameworks.py)
            if a is None:
                return None
            return t.from_numpy(a).to(device=dev, dtype=tdtype, copy=True).requires_grad_(grad)

        x = tensor(inputs.input)
        nd = case.ndim
        kwargs = dict(stride=case.stride, padding=padding, dilation=case.dilation, groups=case.groups)
        if case.op == "conv_transpose":
            kwargs["output_padding"] = case.output_padding
        obs = Observation(output=None)
        if api == "torch.functional":
            w, b = tensor(inputs.weight), tensor(inputs.bias)
            fn = getattr(self.F, f"conv{nd}d" if case.op == "conv" else f"conv_transpose{nd}d")
            obs.call = _snippet(case, dtype, dev, f"torch.nn.functional.{fn.__name__}", kwargs, layer=False)
            with self.native():
                y = fn(x, w, b, **kwargs)
        else:
            cls = getattr(t.nn, f"Conv{nd}d" if case.op == "conv" else f"ConvTranspose{nd}d")
            obs.call = _snippet(case, dtype, dev, f"torch.nn.{cls.__name__}", kwargs, layer=True)
            with self.native():
                layer = cls(case.in_channels, case.out_channels, case.kernel_size, bias=case.bias,
                            device=dev, dtype=tdtype, **kwargs)
            obs.layer_weight_shape = tuple(layer.weight.shape)
            obs.param_count = sum(p.numel() for p in layer.parameters())
            with t.no_grad():
                layer.weight.copy_(t.from_numpy(inputs.weight))  # copy_ converts dtype and device
                if case.bias:
                    layer.bias.copy_(t.from_numpy(inputs.bias))
            w, b = layer.weight, layer.bias
            with self.native():
                y = layer(x)
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


def _snippet(case: Case, dtype: str, dev: str, fn: str, kwargs: dict, *, layer: bool) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    shape = ", ".join(map(str, case.input_shape))
    lines = ["import torch", f"x = torch.randn({shape}, dtype=torch.{dtype}, device={dev!r})"]
    if layer:
        lines.append(f"layer = {fn}({case.in_channels}, {case.out_channels}, {case.kernel_size!r}, "
                     f"bias={case.bias}, dtype=torch.{dtype}, device={dev!r}, {args})")
        lines.append("y = layer(x)")
    else:
        wshape = ", ".join(map(str, case.weight_shape))
        lines.append(f"w = torch.randn({wshape}, dtype=torch.{dtype}, device={dev!r})")
        lines.append(f"b = torch.randn({case.out_channels}, dtype=torch.{dtype}, device={dev!r})"
                     if case.bias else "b = None")
        lines.append(f"y = {fn}(x, w, b, {args})")
    return "\n".join(lines)


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
