"""JAX's own paths in the jax worker: `jax.lax` (conv_general_dilated / conv_transpose) and `flax.layer`
(Flax linen Conv / ConvTranspose). jax_adapter.py's module docstring gives the layouts, the
transpose_kernel setting and why both paths share one jitted program per case; the adapter holds
those programs, and each path says what its program calls (`native`).
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import math

import numpy as np

from conformance.adapters import jax_snippet
from conformance.adapters.base import (Observation, Unsupported, channels_first, channels_last, converted,
                                       kernel_first, kernel_last)
from conformance.adapters.jax_adapter import FLAX_SAME_LOWER_NOTE, TRANSPOSE_KERNEL_NOTE, Spec
from conformance.adapters.path import Path
from conformance.adapters.snippet import attach
from conformance.spec.case import Case


class Lax(Path):
    """`jax.lax`: lax.conv_general_dilated, lax.conv_transpose(transpose_kernel=True); the bias added
    after, as users add it."""

    layer = False
    transposed = "jax.lax.conv_transpose"  # what a user calls for a transposed conv, in refusals
    takes_same_lower_from = "jax.lax.conv_transpose"  # what refuses a transposed 'SAME_LOWER'
    same_lower_notes: tuple = ()  # how the path takes 'SAME_LOWER' in a conv: lax documents it
    causal_keyword = False  # lax has no 'causal': its pads, k_eff - 1 at the start

    def native_weight_shape(self, case: Case) -> tuple[int, ...]:
        # Both APIs, both ops: kernel_last of the canonical weight, (A, B, *k) -> (*k, B, A).
        # conv (*k, I/g, O): lax 'HWIO' as our dimension_numbers declare; Flax nn.Conv creates
        #   kernel_size + (in_features // feature_group_count, features).
        # conv_transpose (*k, O, I): with transpose_kernel=True JAX swaps the kernel's I and O axes
        #   before its conv, so the array given under 'HWIO' holds O where the spec says I (the
        #   TF/Keras layout, as the lax docs say); Flax ConvTranspose(transpose_kernel=True) creates
        #   kernel_size + (features, in_features) (its docstring example: kernel (6, 6, 4, 3)).
        return tuple(case.weight_shape[2:]) + (case.weight_shape[1], case.weight_shape[0])

    def ready(self) -> None:
        """Raise where the path cannot run in this worker."""

    def run(self, case, dtype, device, inputs) -> Observation:
        adapter = self.adapter
        self.ready()
        if case.op == "conv_transpose" and case.groups > 1:
            raise Unsupported(f"{self.transposed} has no groups (feature_group_count); this case has groups={case.groups}")
        if device == "gpu" and "gpu" not in adapter.devices():
            raise Unsupported("JAX sees no GPU")
        if case.id != adapter._case_in_memory:
            adapter.forget_programs()
            adapter._case_in_memory = case.id
        padding, notes = self.padding(case)
        spec = Spec(self.api, self.layer, case.op, case.ndim, case.out_channels, case.kernel_size, case.stride,
                     padding, case.dilation, case.groups, case.bias, dtype)
        if case.op == "conv_transpose":
            notes.insert(0, TRANSPOSE_KERNEL_NOTE)
        obs = Observation(output=None, notes=notes)
        attach(obs, functools.partial(jax_snippet.write, spec, case, adapter.settings(), device))
        # Native layout and dtype, converted here, outside native(): our mistakes stay errors.
        jdt = adapter.dtypes[dtype]
        host = [None if a is None else a.astype(np.dtype(jdt)) for a in
                (channels_last(inputs.input), kernel_last(inputs.weight), inputs.bias,
                 channels_last(inputs.grad_output))]
        dev = adapter.jax.devices(device)[0]
        # float64 needs x64, enabled for this call only (it is also part of jit's cache key).
        with adapter.x64() if dtype == "float64" else contextlib.nullcontext():
            x, w, b, g = (None if a is None else adapter.jax.device_put(a, dev) for a in host)
            if not self.loads(spec, case, x, w, obs):
                return obs
            y, gx, gw, gb = self.call(spec, case, x, w, b, g)
        numpy64 = adapter.to_numpy64
        obs.output = channels_first(numpy64(y))
        # gb is None without a bias; an exception (refusal or failure) is each gradient's value
        obs.grad_input = converted(gx, lambda a: channels_first(numpy64(a)))
        obs.grad_weight = converted(gw, lambda a: kernel_first(numpy64(a)))
        obs.grad_bias = converted(gb, numpy64)
        return obs

    def loads(self, spec: Spec, case: Case, x, w, obs: Observation) -> bool:
        """Whether the case's weights go into what the path calls (False: `obs` says why not)."""
        return True

    def call(self, spec: Spec, case: Case, x, w, b, g) -> tuple:
        """(y, gx, gw, gb): the jitted forward and backward, or the forward alone where the backward
        fails, each gradient then the failure."""
        adapter, jax = self.adapter, self.adapter.jax
        try:
            with adapter.native():
                return jax.block_until_ready(adapter.forward_backward(spec, x, w, b, g))
        except Exception as exc:  # the backward may be what is refused or failed: keep the forward
            with adapter.native():
                y = jax.block_until_ready(adapter.forward(spec, x, w, b))
            gx = gw = gb = exc
            if y.shape != g.shape:  # the vjp refused our upstream gradient (output_shape reports it)
                gx = gw = gb = Unsupported(
                    f"gradients not compared: the output is {[y.shape[0], y.shape[-1], *y.shape[1:-1]]}, "
                    f"not the case's {list(case.output_shape)}, so the case's upstream gradient does not apply")
            return y, gx, gw, gb

    def padding(self, case: Case) -> tuple[str | tuple, list[str]]:
        """The native padding argument, and a note when the case's form had to be converted."""
        kw = case.padding if isinstance(case.padding, str) else None
        if case.op == "conv":
            # lax and Flax explicit conv padding are (low, high) amounts, as the case's pads.
            if kw == "same_lower":  # lax's own keyword (conv_general_dilated documents it)
                return "SAME_LOWER", list(self.same_lower_notes)
            if kw in ("same", "valid") or (kw == "causal" and self.causal_keyword):
                return kw.upper(), []
            return tuple(case.pads), []  # lax has no 'causal': its pads, k_eff - 1 at the start
        if kw == "same_lower":
            raise Unsupported(f"{self.takes_same_lower_from} takes padding 'SAME', 'VALID' or explicit pairs; it "
                              f"has no 'SAME_LOWER'")
        if kw in ("same", "valid") and not any(case.output_padding):
            return kw.upper(), []
        # A documented convention conversion, like a layout change: explicit pairs of
        # lax.conv_transpose (and of Flax ConvTranspose, which passes them on) are padding of the
        # stride-dilated input of the underlying stride-1 conv (use_consistent_padding=False, the
        # default), not a crop of the full output; there is no output_padding argument. Cropping
        # [b, e] with output_padding op is padding (k_eff-1-b, k_eff-1-e+op), negative amounts crop.
        # https://docs.jax.dev/en/latest/_autosummary/jax.lax.conv_transpose.html
        pads = tuple((k - 1 - b, k - 1 - e + op) for k, (b, e), op in
                     zip(case.effective_kernel, case.pads, case.output_padding))
        notes = []
        if kw:
            notes.append(f"padding {kw!r} with output_padding {list(case.output_padding)}: passed as "
                         f"explicit pairs {[list(p) for p in pads]} (JAX has no output_padding)")
        return pads, notes

    def native(self, spec: Spec):
        """The user's call, as a function of native (x, w, b); traced inside jit."""
        lax, dn = self.adapter.lax, jax_snippet.DIMENSION_NUMBERS[spec.ndim]

        def call(x, w, b):
            if spec.op == "conv":
                y = lax.conv_general_dilated(x, w, spec.stride, spec.padding, rhs_dilation=spec.dilation,
                                             dimension_numbers=dn, feature_group_count=spec.groups)
            else:
                y = lax.conv_transpose(x, w, spec.stride, spec.padding, rhs_dilation=spec.dilation,
                                       dimension_numbers=dn, transpose_kernel=True)
            # lax has no bias: users add it, broadcast over the channels-last axis. Written as
            # Flax writes it (a reshape to (1, ..., 1, C), then add), so that a case's jax.lax and
            # flax.layer programs lower to the same IR and share one compilation (_use_compilation_cache).
            return y if b is None else y + b.reshape((1,) * (y.ndim - 1) + (-1,))
        return call


class FlaxLayer(Lax):
    """`flax.layer`: flax.linen.Conv / ConvTranspose(transpose_kernel=True), applied with the case's params."""

    layer = True
    transposed = "flax.linen.ConvTranspose"
    takes_same_lower_from = "flax.linen.ConvTranspose (which passes it to jax.lax.conv_transpose)"
    same_lower_notes = (FLAX_SAME_LOWER_NOTE,)
    causal_keyword = True  # nn.Conv's own 'CAUSAL'

    def import_package(self, package: str):
        if package == "flax":
            return importlib.import_module("flax.linen")  # what flax.layer runs
        return super().import_package(package)

    def ready(self) -> None:
        if self.adapter.nn is None:
            self.import_package("flax")  # raises its import's error where flax is installed
            raise Unsupported("flax is not installed")

    def loads(self, spec, case, x, w, obs) -> bool:
        adapter = self.adapter
        params = adapter.layer_params(spec, x.shape)
        obs.layer_weight_shape = tuple(params["kernel"].shape)
        obs.param_count = sum(math.prod(p.shape) for p in adapter.jax.tree.leaves(params))
        if set(params) != ({"kernel", "bias"} if case.bias else {"kernel"}):
            raise RuntimeError(f"unexpected Flax param tree {sorted(params)}")
        if obs.layer_weight_shape != w.shape:  # the weight_shape check reports the difference
            obs.output = obs.grad_input = obs.grad_weight = obs.grad_bias = Unsupported(
                f"the layer's kernel is {list(obs.layer_weight_shape)}, not the documented "
                f"{list(w.shape)}: the case's weights cannot be loaded into it")
            return False
        return True

    def native(self, spec: Spec):
        layer = self.adapter.flax_layer(spec)

        def call(x, w, b):
            params = {"kernel": w} if b is None else {"kernel": w, "bias": b}
            return layer.apply({"params": params}, x)
        return call

