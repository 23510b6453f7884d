"""Keras 3's functional convolutions, `keras.ops.conv`, `keras.ops.conv_transpose` and
`keras.ops.depthwise_conv`, on each Keras backend: the targets keras.ops (TensorFlow, in the
tensorflow worker), keras.jax.ops (jax worker) and keras.torch.ops (torch worker). What
backend-agnostic Keras code calls, without a layer: the caller holds the kernel.

Which op, with which arguments (https://keras.io/api/ops/nn/, keras/src/ops/nn.py, keras 3.15):
- conv(inputs, kernel, strides, padding, data_format, dilation_rate), kernel (*k, C_in/groups, O).
  There is no groups argument: each backend infers groups = C_in // kernel.shape[-2] (the JAX and
  torch backends say so in keras/src/backend/{jax,torch}/nn.py conv; TensorFlow's tf.nn.convolution
  documents the same for its filters).
- depthwise_conv(inputs, kernel, ...), kernel (*k, C_in, depth_multiplier), 1-D and 2-D only (its
  docstring): the cases the Keras layers run as DepthwiseConv1D/2D (keras_layers.depthwise_layer);
  a 3-D depthwise case is a grouped keras.ops.conv.
- conv_transpose(inputs, kernel, strides, padding, output_padding, data_format, dilation_rate),
  kernel (*k, O, C_in): no groups. output_padding=None (the default) lets Keras infer the size, as
  the layers' path passes the case's 0 (keras_layers.layer_spec, whose strides, padding,
  dilation_rate and output_padding these are, so that a case reads the same on layers and ops).
- padding: 'valid' or 'same', nothing else documented; data_format 'channels_last', the default.
The kernel layouts are the layers' (keras_layers.to_native_weight). No op has a bias: a case with a
bias adds it with `keras.ops.add(y, b)` after the op, the user's own line (as the jax.lax target adds
it after lax's conv and tf.nn's after tf.nn.convolution), not a replacement of the op.

Gradients come from the backend's autodiff around the ops, as a training step gets them:
tf.GradientTape (eager), `jax.vjp` inside `jax.jit` (as Keras's JAX trainer compiles a step), and
torch autograd (`y.backward(dy)`). Devices: `keras.device(...)` (keras_backend.keras_device), the
scope the ops convert tensors under. Precision profiles are the worker adapter's, which the
backends' conv kernels read.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np

from conformance.adapters import keras_backend, keras_layers, keras_ops_snippet
from conformance.adapters.base import Adapter, Observation, Unsupported, channels_first, channels_last, converted
from conformance.adapters.path import Path
from conformance.adapters.refusal import Refusal
from conformance.adapters.snippet import attach
from conformance.spec.case import Case
from conformance.spec.inputs import Inputs

DOCS = "https://keras.io/api/ops/nn/"
# How keras.ops refuses a convolution, beyond what each backend's own conv refuses (the TensorFlow
# backend calls tf.nn.convolution and tf.nn.conv_transpose: tensorflow_adapter.REFUSALS, stride with
# dilation among them, keras-team/keras#23028). What no keras.ops call can express (explicit, causal
# or same_lower padding, groups in a transposed conv) is refused before the call: `check_expressible`.
REFUSALS = (
    Refusal("ValueError", r"The convolution operation resulted in an empty output",
            "keras/src/backend/tensorflow/nn.py and keras/src/backend/jax/nn.py conv (an input smaller than the "
            "dilated kernel leaves no output; Keras raises rather than return an empty tensor)"),
)


def op_name(case: Case) -> str:
    """The keras.ops function that computes the case."""
    if case.op == "conv_transpose":
        return "conv_transpose"
    return "depthwise_conv" if keras_layers.depthwise_layer(case) else "conv"


def arguments(case: Case, dtype: str) -> dict:
    """The op's keyword arguments: those of the case's Keras layer that the op also takes."""
    _, layer = keras_layers.layer_spec(case, dtype)
    names = ("strides", "padding", "data_format", "dilation_rate")
    return {name: layer[name] for name in names + (("output_padding",) if case.op == "conv_transpose" else ())}


def check_expressible(case: Case) -> None:
    """Raise `Unsupported` where no keras.ops call takes the case's arguments."""
    if case.op == "conv_transpose" and case.groups > 1:
        raise Unsupported("keras.ops.conv_transpose has no groups: its kernel is (*k, O, C_in), every output "
                          f"channel reads every input channel ({DOCS})")
    if case.padding not in ("valid", "same"):
        needs = repr(case.padding) if isinstance(case.padding, str) else \
            f"[begin, end] = {[list(p) for p in case.pads]}"
        raise Unsupported(f"keras.ops.{op_name(case)} takes padding 'valid' or 'same' only ({DOCS}); this case "
                          f"needs {needs}")


def native_weight_shape(case: Case) -> tuple[int, ...]:
    return keras_layers.native_weight_shape(case)


class KerasOps(Path):
    """keras.ops (tensorflow worker), keras.jax.ops (jax), keras.torch.ops (torch): the case's keras.ops
    call on the worker's backend, which the API's declaration names (`keras_backend`)."""

    def native_weight_shape(self, case: Case) -> tuple[int, ...]:
        return native_weight_shape(case)

    def import_package(self, package: str):
        if package == "keras":
            return _keras(self.adapter, keras_backend.backend_of(self.api))
        return super().import_package(package)

    def run(self, case, dtype, device, inputs) -> Observation:
        return run(self.adapter, self.api, case, dtype, device, inputs)


def _keras(adapter: Adapter, backend: str):
    """Keras on `backend`: the tensorflow worker's own (its TensorFlow imported it), else imported with it."""
    return adapter.keras if backend == "tensorflow" else keras_backend.import_keras(backend)


def run(adapter: Adapter, api: str, case: Case, dtype: str, device: str, inputs: Inputs) -> Observation:
    """The case's keras.ops call on the API's backend, its output and the gradients of (x, kernel, b)."""
    backend = keras_backend.backend_of(api)
    check_expressible(case)
    if device == "gpu" and "gpu" not in adapter.devices():
        raise Unsupported(f"{backend} sees no GPU")
    keras = _keras(adapter, backend)
    name, kwargs = op_name(case), arguments(case, dtype)
    device_name = keras_backend.keras_device(keras, backend, device)
    obs = Observation(output=None)
    attach(obs, functools.partial(keras_ops_snippet.write, case, dtype, name, kwargs, backend=backend,
                                  device=device, keras_device=device_name))
    op = getattr(keras.ops, name)

    def call(x, w, b):
        y = op(x, w, **kwargs)
        return y if b is None else keras.ops.add(y, b)  # channels-last: b broadcasts over the last axis

    arrays = (channels_last(inputs.input), keras_layers.to_native_weight(case, inputs.weight),
              inputs.bias if case.bias else None, channels_last(inputs.grad_output))
    runner = {"tensorflow": _run_tensorflow, "jax": _run_jax, "torch": _run_torch}[backend]
    with keras.device(device_name):
        y, grads = runner(adapter, call, arrays, dtype, device)
    obs.output = channels_first(y)
    if grads is None:  # the output's shape is not the case's: the upstream gradient does not apply
        grads = [Unsupported(f"gradients not compared: the output is {list(obs.output.shape)}, not the case's "
                             f"{list(case.output_shape)}, so the case's upstream gradient does not apply")] * 3
    obs.grad_input = converted(grads[0], channels_first)
    obs.grad_weight = converted(grads[1], lambda a: keras_layers.from_native_weight(case, a))
    obs.grad_bias = grads[2] if case.bias else None
    return obs


def _run_tensorflow(adapter, call, arrays, dtype: str, device: str):
    """Eagerly, under a tf.GradientTape: (y, [gx, gw, gb]) as float64 NumPy, or the exception that
    computing the gradients raised in place of each; gradients None where dy does not fit y."""
    tf = adapter.tf
    native = tf.as_dtype(dtype).as_numpy_dtype  # the values are the dtype's already: the cast is exact
    x, w, b, g = (None if a is None else tf.constant(a.astype(native)) for a in arrays)
    sources = [x, w] + ([b] if b is not None else [])
    with adapter.native(), tf.GradientTape() as tape:
        tape.watch(sources)
        y = call(x, w, b)
    out = adapter.to_numpy64(y.numpy())
    if tuple(y.shape) != tuple(g.shape):
        return out, None
    try:
        with adapter.native():
            grads = tape.gradient(y, sources, output_gradients=g)
    except Exception as exc:  # refused (Unsupported) or failed: the output is still compared
        return out, [exc] * 3
    return out, [converted(a, lambda t: adapter.to_numpy64(t.numpy())) for a in grads] + [None] * (3 - len(grads))


def _run_jax(adapter, call, arrays, dtype: str, device: str):
    """`jax.vjp` of the call inside one `jax.jit`, as `_run_tensorflow` answers."""
    jax = adapter.jax
    dev, native = jax.devices(device)[0], np.dtype(getattr(jax.numpy, dtype))  # bfloat16: ml_dtypes'
    with adapter.x64() if dtype == "float64" else contextlib.nullcontext():
        x, w, b, g = (None if a is None else jax.device_put(a.astype(native), dev) for a in arrays)

        def forward_backward(x, w, b, g):
            y, pull = jax.vjp(call, x, w, b)
            return y, pull(g)
        try:
            with adapter.native():
                y, grads = jax.block_until_ready(jax.jit(forward_backward)(x, w, b, g))
            grads = list(grads)
        except Exception as exc:  # the backward may be what is refused or failed: keep the forward
            with adapter.native():
                y = jax.block_until_ready(jax.jit(call)(x, w, b))
            grads = None if y.shape != g.shape else [exc] * 3
        out = adapter.to_numpy64(y)
        return out, None if grads is None else [converted(a, adapter.to_numpy64) for a in grads]


def _run_torch(adapter, call, arrays, dtype: str, device: str):
    """torch autograd, `y.backward(dy)`, as `_run_tensorflow` answers (None where autograd
    computed no gradient for a tensor: that check fails alone)."""
    t = adapter.torch

    def tensor(a):  # the values are the dtype's already: the cast is exact
        return t.from_numpy(np.ascontiguousarray(a)).to(device="cuda" if device == "gpu" else "cpu",
                                                       dtype=getattr(t, dtype))
    x, w, b, g = (None if a is None else tensor(a) for a in arrays)
    sources = [v.requires_grad_(True) for v in (x, w, b) if v is not None]
    with adapter.native():
        y = call(x, w, b)
    numpy64 = lambda a: a.detach().to(t.float64).cpu().numpy()  # noqa: E731
    if tuple(y.shape) != tuple(g.shape):
        return numpy64(y), None
    try:
        with adapter.native():
            y.backward(g)
    except Exception as exc:  # refused (Unsupported) or failed: the output is still compared
        return numpy64(y), [exc] * 3
    return numpy64(y), [converted(v.grad, numpy64) for v in sources] + [None] * (3 - len(sources))
