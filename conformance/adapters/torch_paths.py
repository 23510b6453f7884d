"""PyTorch's own paths in the torch worker: the functional call and the layer, eager, under
torch.compile, in channels_last memory format, with oneDNN (mkldnn) off. Each is a small class;
the torch adapter (torch_adapter.py) is the session they run in, and builds what they call
(`TorchAdapter.construct`, which a recipe of `conformance port` wraps). `modifiers` are the path's
words that its reproducer writes around the call (torch_snippet.write).
"""
from __future__ import annotations

import contextlib
import functools
import warnings

from conformance.adapters import torch_onnx, torch_snippet
from conformance.adapters.base import Observation, compiled_failure, converted
from conformance.adapters.path import Path
from conformance.adapters.snippet import attach
from conformance.spec.case import Case


class Eager(Path):
    """The call run eagerly, its gradients by autograd (`y.backward(dy)`). A subclass says whether a
    user calls the functional conv or the layer (`construct`)."""

    layer = False  # the layer is called on x alone; the functional conv on (x, w, b)
    modifiers: frozenset = frozenset()

    def run(self, case, dtype, device, inputs) -> Observation:
        adapter = self.adapter
        t = adapter.torch
        tensor = _tensor_maker(t, "cuda" if device == "gpu" else "cpu", adapter.dtypes[dtype])
        x = self.prepare_input(tensor(inputs.input), case)
        obs = Observation(output=None)
        call, (w, b) = adapter.construct(self.api, case, dtype, device, inputs, tensor, obs)
        args = (x,) if self.layer else (x, w, b)
        with self.kernels():
            y = self.forward(call, args)
            obs.output = y.detach().to(t.float64).cpu().numpy()
            try:
                with adapter.native():
                    y.backward(tensor(inputs.grad_output, grad=False))
            except Exception as exc:  # refused (Unsupported) or failed: the output is still compared
                obs.grad_input = obs.grad_weight = obs.grad_bias = exc
                return obs
        # p.grad is None where autograd computed no gradient for p: that check fails, the others count
        to_numpy = lambda g: g.detach().to(t.float64).cpu().numpy()  # noqa: E731
        obs.grad_input, obs.grad_weight, obs.grad_bias = (
            None if p is None else converted(p.grad, to_numpy) for p in (x, w, b))
        return obs

    def construct(self, case: Case, dtype: str, device: str, inputs, tensor, obs: Observation):
        """(what a user calls, (its weight, its bias)); fills the snippet (and a layer's facts)."""
        raise NotImplementedError

    def prepare_input(self, x, case: Case):
        return x

    def forward(self, call, args):
        with self.adapter.native():
            return call(*args)

    def kernels(self):
        """The CPU kernels' switch this path runs under (none: PyTorch's own choice)."""
        return contextlib.nullcontext()


class Functional(Eager):
    """`torch.functional`: torch.nn.functional.conv{1,2,3}d / conv_transpose{1,2,3}d."""

    def construct(self, case, dtype, device, inputs, tensor, obs):
        adapter = self.adapter
        _, kwargs = torch_onnx.layer_class(adapter.torch, case, adapter.padding(case))
        fn = getattr(adapter.F, f"conv{case.ndim}d" if case.op == "conv" else f"conv_transpose{case.ndim}d")
        attach(obs, functools.partial(torch_snippet.write, case, dtype, "cuda" if device == "gpu" else "cpu",
                                      f"torch.nn.functional.{fn.__name__}", kwargs, layer=False,
                                      modifiers=self.modifiers))
        return (lambda x, w, b: fn(x, w, b, **kwargs)), (tensor(inputs.weight), tensor(inputs.bias))


class Layer(Eager):
    """`torch.layer`: torch.nn.Conv{1,2,3}d / ConvTranspose{1,2,3}d, the case's weights copied in."""

    layer = True

    def construct(self, case, dtype, device, inputs, tensor, obs):
        adapter = self.adapter
        dev, padding = "cuda" if device == "gpu" else "cpu", adapter.padding(case)
        cls, kwargs = torch_onnx.layer_class(adapter.torch, case, padding)
        attach(obs, functools.partial(torch_snippet.write, case, dtype, dev, f"torch.nn.{cls.__name__}", kwargs,
                                      layer=True, modifiers=self.modifiers))
        layer = torch_onnx.build_layer(adapter, case, dtype, inputs, padding, obs, device=dev)
        self.prepare_layer(layer, case)
        return layer, (layer.weight, layer.bias)

    def prepare_layer(self, layer, case: Case) -> None:
        """The layer as this path's users hold it (as built)."""


class ChannelsLastLayer(Layer):
    """`torch.channels_last.layer`: input and layer in channels_last (channels_last_3d) memory format."""

    modifiers = frozenset({"channels_last"})

    def prepare_input(self, x, case: Case):
        with self.adapter.native():  # PyTorch's own refusal of a rank without a channels-last format
            return x.detach().to(memory_format=_memory_format(self.adapter.torch, case)).requires_grad_(True)

    def prepare_layer(self, layer, case: Case) -> None:
        layer.to(memory_format=_memory_format(self.adapter.torch, case))  # as users convert a model: the weight too


class NoMkldnnFunctional(Functional):
    """`torch.no_mkldnn.functional`: the functional call with PyTorch's oneDNN (mkldnn) CPU kernels
    off, as a user turns them off."""

    modifiers = frozenset({"no_mkldnn"})

    @contextlib.contextmanager
    def kernels(self):
        # Entering and leaving flags() sets oneDNN's TF32 switch too, which warns on every CPU build
        # that it only matters for Intel GPUs: not about the case (native() keeps the call's warnings).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
            with self.adapter.torch.backends.mkldnn.flags(enabled=False):
                with warnings.catch_warnings():
                    warnings.simplefilter("default")
                    yield


class Compiled:
    """The eager path's call under torch.compile (torch_compile.py): a compiled refusal of a case that
    eager PyTorch computes, or a call that did not run compiled, is an error of the path. Mixed in
    before the eager path it compiles."""

    def forward(self, call, args):
        adapter = self.adapter
        compiled = adapter.compiled(call)
        adapter.compiler.watch()
        try:
            with adapter.native():
                y = compiled(*args)
        except Exception as exc:  # a refusal only where eager PyTorch refuses the case too
            with adapter.torch.no_grad():
                raise compiled_failure(adapter, lambda: call(*args), exc, "torch.compile", "PyTorch") from exc
        adapter.compiler.check_compiled()
        return y


class CompiledFunctional(Compiled, Functional):
    """`torch.compile.functional`."""

    modifiers = frozenset({"compile"})


class CompiledLayer(Compiled, Layer):
    """`torch.compile.layer`."""

    modifiers = frozenset({"compile"})


class CompiledChannelsLastLayer(Compiled, ChannelsLastLayer):
    """`torch.compile.channels_last.layer`."""

    modifiers = frozenset({"compile", "channels_last"})


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
