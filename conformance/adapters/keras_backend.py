"""Keras 3 layers on the JAX and PyTorch backends: the targets keras.jax.layer (in the jax worker) and
keras.torch.layer (in the torch worker), the same layers with the same arguments as keras.layer on
TensorFlow (keras_layers.py), so that one case reads the same on the three backends.

Keras reads KERAS_BACKEND once, at its first import in a process, so each backend's Keras runs in
its framework's worker, which serves that framework alone: there `import_keras` sets KERAS_BACKEND
before that import. A process that may load several frameworks' adapters (a test session,
`python -m conformance.search.faults`) imports keras with TensorFlow's backend when it loads the
TensorFlow adapter; importing it there first with another backend would leave keras.layer without
its Keras, depending on which ran first. So outside a worker these targets run only where keras
already has their backend, or where KERAS_BACKEND says it before keras is imported; elsewhere they
are `unsupported` with that reason.

The case's weights are loaded through the layer's own API (`layer.kernel.assign`), and the gradients
come from the backend's own autodiff, as a user's training step gets them:
- JAX: `jax.vjp` of `layer.stateless_call(trainable, non_trainable, x)` inside `jax.jit`, as Keras's
  JAX trainer differentiates a model (one compiled program for forward and backward per case).
- PyTorch: autograd through the layer's variables (a torch-backend keras.Variable's value is a
  torch Parameter), `y.backward(g)`.
Devices: `keras.device('cpu' | 'gpu:0')`, the scope Keras offers on every backend (`keras_device`). Precision
profiles are the worker adapter's (JAX's default matmul precision; PyTorch's TF32 flags), which
the backends' conv ops read. float64 on JAX needs x64, enabled for the call as in the jax adapter.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys

import numpy as np

from conformance.adapters import keras_layers, keras_snippet
from conformance.adapters.base import (SCRATCH_VARIABLE, Adapter, Observation, Unsupported, channels_first,
                                       channels_last, converted)
from conformance.adapters.path import Path
from conformance.adapters.snippet import attach
from conformance.spec import frameworks
from conformance.spec.case import Case
from conformance.spec.inputs import Inputs

# keras.device names. Not 'cpu:0', the spelling Keras's docstring shows: on the torch backend (keras
# 3.15) a variable created under it is `Parameter(...).to('cpu:0')`, which torch answers with a copy
# (a non-leaf tensor) for a tensor on 'cpu', so no gradient ever reaches the layer's weights
# (examples/keras_torch_device_cpu0_no_weight_gradients.py).
DEVICES = {"cpu": "cpu", "gpu": "gpu:0"}


def keras_device(keras, backend: str, device: str) -> str:
    """The keras.device name of the target's device. Keras's JAX backend takes a name without an
    index ('cpu') from Keras 3.12.0 on (`_to_backend_device` in keras/src/backend/jax/
    distribution_lib.py); before, it splits the name on ':' and raises ValueError for 'cpu', so
    there the JAX backend gets 'cpu:0' (the torch backend's trouble with 'cpu:0' is not the JAX's)."""
    major_minor = tuple(int(part) for part in keras.__version__.split(".")[:2])
    if backend == "jax" and device == "cpu" and major_minor < (3, 12):
        return "cpu:0"
    return DEVICES[device]


def import_keras(backend: str):
    """keras with `backend` (see the module docstring for where this process may import it)."""
    if "keras" not in sys.modules:
        if not os.environ.get(SCRATCH_VARIABLE) and os.environ.get("KERAS_BACKEND") != backend:
            raise Unsupported(f"this process is not a {backend} worker and KERAS_BACKEND is not {backend!r}: "
                              f"Keras's backend is fixed at its first import for the whole process, which may "
                              f"also run TensorFlow's keras.layer; run this target in a worker (conformance run, "
                              f"the pytest plugin) or set KERAS_BACKEND={backend} before keras is imported")
        os.environ["KERAS_BACKEND"] = backend  # a worker serves one framework: its keras is this backend's
    if importlib.util.find_spec("keras") is None:
        raise Unsupported("keras is not installed")
    import keras  # installed: an import that fails is a broken Keras, an error (Adapter.start_errors)

    if keras.backend.backend() != backend:
        raise Unsupported(f"keras was imported in this process with the {keras.backend.backend()!r} backend "
                          f"before this target ran; it needs KERAS_BACKEND={backend} at keras's first import "
                          "(run it in its own worker process)")
    return keras


def backend_of(api: str) -> str:
    """The Keras backend an API runs on: its declaration's `keras_backend` (spec/frameworks.py)."""
    return frameworks.declaration(api).keras_backend


class KerasBackendLayer(Path):
    """keras.jax.layer (jax worker), keras.torch.layer (torch worker): the case's Keras layer on the
    worker's backend, which the API's declaration names (`keras_backend`)."""

    def native_weight_shape(self, case: Case) -> tuple[int, ...]:
        return keras_layers.native_weight_shape(case)

    def import_package(self, package: str):
        return import_keras(backend_of(self.api)) if package == "keras" else super().import_package(package)

    def run(self, case, dtype, device, inputs) -> Observation:
        return run_keras_layer(self.adapter, self.api, case, dtype, device, inputs)


def run_keras_layer(adapter: Adapter, api: str, case: Case, dtype: str, device: str, inputs: Inputs,
                    make=None) -> Observation:
    """Build the case's Keras layer on the API's backend, load the case's weights, and observe the
    output, the layer's kernel shape and parameter count, and the three gradients. `make(keras, cls,
    kwargs, input_shape)` -> (the model called, the conv layer in it): where `conformance port` runs a
    construction around the layer (conformance/recipes/); by default the model is the layer itself."""
    backend = backend_of(api)
    keras_layers.check_expressible(case)
    if device == "gpu" and "gpu" not in adapter.devices():
        raise Unsupported(f"{backend} sees no GPU")
    keras = import_keras(backend)
    cls, kwargs = keras_layers.layer_spec(case, dtype)
    if backend == "jax":
        # The case's weights replace the initial ones. glorot_uniform, the default, draws them with a
        # JAX program compiled per kernel shape, several times the cost of the case's own program;
        # zeros is the cheapest start, and no computation under test reads it.
        kwargs["depthwise_initializer" if cls.startswith("Depthwise") else "kernel_initializer"] = "zeros"
    obs = Observation(output=None)
    device_name = keras_device(keras, backend, device)
    attach(obs, functools.partial(keras_snippet.write, case, dtype, cls, kwargs, backend=backend, device=device,
                                  keras_device=device_name))
    x64 = adapter.x64() if backend == "jax" and dtype == "float64" else contextlib.nullcontext()
    with keras.device(device_name), x64:
        with adapter.native():
            model, layer = (make or own_layer)(keras, cls, kwargs, (case.batch, *case.in_spatial, case.in_channels))
        obs.layer_weight_shape = tuple(int(d) for d in layer.kernel.shape)
        obs.param_count = int(model.count_params())
        mismatch = keras_layers.kernel_mismatch(obs.layer_weight_shape, keras_layers.native_weight_shape(case))
        if mismatch is not None:
            obs.output = obs.grad_input = obs.grad_weight = obs.grad_bias = mismatch
            return obs
        run = _run_jax if backend == "jax" else _run_torch
        run(adapter, model, layer, case, dtype, device, inputs, obs)
    return obs


def own_layer(keras, cls: str, kwargs: dict, input_shape):
    """The layer alone, built on the input's shape: (the model called, the conv layer) are one."""
    layer = getattr(keras.layers, cls)(**kwargs)
    layer.build(tuple(input_shape))
    return layer, layer


def _not_comparable(case: Case, output_shape) -> Unsupported:
    got = [output_shape[0], output_shape[-1], *output_shape[1:-1]]
    return Unsupported(f"gradients not compared: the output is {got}, not the case's {list(case.output_shape)}, "
                       "so the case's upstream gradient does not apply")


def _index(variables: list, variable) -> int:
    """Where `variable` is in `variables`, by identity (a keras.Variable's == is elementwise)."""
    return next(i for i, v in enumerate(variables) if v is variable)


def _run_jax(adapter, model, layer, case: Case, dtype: str, device: str, inputs: Inputs, obs: Observation) -> None:
    jax = adapter.jax
    dev, ndtype = jax.devices(device)[0], np.dtype(getattr(jax.numpy, dtype))  # bfloat16: ml_dtypes'

    def put(a):  # values are already rounded to the dtype: the cast is exact
        return jax.device_put(a.astype(ndtype), dev)
    layer.kernel.assign(put(keras_layers.to_native_weight(case, inputs.weight)))
    if case.bias:
        layer.bias.assign(put(inputs.bias))
    x, g = put(channels_last(inputs.input)), put(channels_last(inputs.grad_output))
    variables = list(model.trainable_variables)
    trainable = [v.value for v in variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def forward(trainable, x):
        return model.stateless_call(trainable, frozen, x)[0]

    def forward_backward(trainable, x, g):
        y, pull = jax.vjp(forward, trainable, x)
        return y, pull(g)
    try:
        with adapter.native():
            y, (g_vars, gx) = jax.block_until_ready(jax.jit(forward_backward)(trainable, x, g))
        gw = g_vars[_index(variables, layer.kernel)]
        gb = g_vars[_index(variables, layer.bias)] if case.bias else None
    except Exception as exc:  # the backward may be what is refused or failed: keep the forward
        with adapter.native():
            y = jax.block_until_ready(jax.jit(forward)(trainable, x))
        gx = gw = gb = _not_comparable(case, y.shape) if y.shape != g.shape else exc
    numpy64 = adapter.to_numpy64
    obs.output = channels_first(numpy64(y))
    obs.grad_input = converted(gx, lambda a: channels_first(numpy64(a)))
    obs.grad_weight = converted(gw, lambda a: keras_layers.from_native_weight(case, numpy64(a)))
    obs.grad_bias = converted(gb, numpy64)


def _run_torch(adapter, model, layer, case: Case, dtype: str, device: str, inputs: Inputs, obs: Observation) -> None:
    t = adapter.torch
    kernel = layer.kernel.value  # the torch Parameter behind the keras.Variable
    bias = layer.bias.value if case.bias else None

    def tensor(a):  # values are already rounded to the dtype: the cast is exact
        return t.from_numpy(np.ascontiguousarray(a)).to(device=kernel.device, dtype=getattr(t, dtype), copy=True)
    layer.kernel.assign(tensor(keras_layers.to_native_weight(case, inputs.weight)))
    if case.bias:
        layer.bias.assign(tensor(inputs.bias))
    x = tensor(channels_last(inputs.input)).requires_grad_(True)
    with adapter.native():
        y = model(x)
    obs.output = channels_first(y.detach().to(t.float64).cpu().numpy())
    if tuple(y.shape) != channels_last(inputs.grad_output).shape:
        obs.grad_input = obs.grad_weight = obs.grad_bias = _not_comparable(case, tuple(y.shape))
        return
    try:
        with adapter.native():
            y.backward(tensor(channels_last(inputs.grad_output)))
    except Exception as exc:  # refused (Unsupported) or failed: the output is still compared
        obs.grad_input = obs.grad_weight = obs.grad_bias = exc
        return
    numpy64 = lambda a: a.detach().to(t.float64).cpu().numpy()  # noqa: E731
    # .grad is None where autograd computed no gradient: that check fails, the others count
    obs.grad_input = converted(x.grad, lambda a: channels_first(numpy64(a)))
    obs.grad_weight = converted(kernel.grad, lambda a: keras_layers.from_native_weight(case, numpy64(a)))
    obs.grad_bias = converted(bias.grad, numpy64) if case.bias else None
