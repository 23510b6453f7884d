"""The Keras targets' native call as code (conformance/adapters/snippet.py): the layer of keras_layers.py
on its backend, its weights loaded through its own API, run as each backend's target runs it
(tensorflow_paths.py for TensorFlow, with XLA on the xla path; keras_backend.py for JAX and
PyTorch), and before LiteRT's conversion (litert.py). Layouts: channels-last input (N, *spatial, C),
the layer's kernel as keras_layers.py documents it.
"""
from __future__ import annotations

from conformance.adapters import keras_layers, tf_snippet
from conformance.adapters.snippet import (Snippet, channels_first, channels_last, float64, gradient_results, indent,
                                          kernel_first, kernel_last, random_data)
from conformance.spec.case import Case

KERNEL_LAYOUT = {"depthwise": "(*k, C_in, depth_multiplier)", "conv_transpose": "(*k, O, I)", "conv": "(*k, I/groups, O)"}


def kernel(case: Case) -> str:
    """Code: the suite's weight `w` in the layer's kernel layout (keras_layers.to_native_weight)."""
    if keras_layers.depthwise_layer(case):
        return f"np.moveaxis(w.reshape({(case.in_channels, case.out_channels // case.in_channels) + case.kernel_size}), " \
               "(0, 1), (-2, -1))"
    return kernel_last("w", case.ndim)


def kernel_back(case: Case, name: str) -> str:
    """Code: a kernel-layout array `name` in the suite's weight layout (keras_layers.from_native_weight)."""
    if keras_layers.depthwise_layer(case):
        return f"np.moveaxis({name}, (-2, -1), (0, 1)).reshape({case.weight_shape})"
    return kernel_first(name, case.ndim)


def layer_lines(case: Case, cls: str, kwargs: dict, build: str, grads: bool) -> list[str]:
    """The layer built on the input's shape; in a repro, its kernel shape and count into `out`."""
    layout = KERNEL_LAYOUT["depthwise" if keras_layers.depthwise_layer(case) else case.op]
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    lines = [f"layer = keras.layers.{cls}({args})", f"layer.build({build})",
             f"# the layer's kernel: {list(keras_layers.native_weight_shape(case))} {layout}"]
    if grads:
        lines += ["out['weight_shape'] = tuple(int(d) for d in layer.kernel.shape)",
                  "out['param_count'] = int(layer.count_params())"]
    return lines


def write(case: Case, dtype: str, cls: str, kwargs: dict, *, backend: str, device: str = "cpu", xla: bool = False,
          grads: bool = False, forward: bool = True, keras_device: str | None = None) -> Snippet:
    """The layer on `backend` under the target's device. `grads`: the repro's version (gradients
    through the backend's autodiff, the layer's facts); `forward=False` stops once the layer holds
    the case's weights (LiteRT's conversion takes it from there). `keras_device`: the keras.device
    name the target used (keras_backend.keras_device), where it differs from the device's default."""
    head = [f"import os; os.environ['KERAS_BACKEND'] = {backend!r}  # read once, at the first import of keras",
            "import numpy as np"]
    if backend == "tensorflow":
        return _tensorflow(case, dtype, cls, kwargs, head, device, xla, grads and forward, forward, grads)
    writer = _jax if backend == "jax" else _torch
    imports, lines, results = writer(case, dtype, cls, kwargs, device, grads and forward)
    keras_device = keras_device or ("gpu:0" if device == "gpu" else "cpu")  # keras_backend.DEVICES
    return Snippet(head + imports, [f"with keras.device({keras_device!r}):"] + indent(lines), results,
                   random_data(case))


def _tensorflow(case, dtype, cls, kwargs, head, device, xla, backward, forward, repro) -> Snippet:
    native = f"tf.{dtype}.as_numpy_dtype"
    lines = [f"xt = tf.constant({channels_last('x')}.astype({native}))  # channels-last (N, *spatial, C)",
             *layer_lines(case, cls, kwargs, "tuple(xt.shape)", repro),
             f"layer.kernel.assign({kernel(case)}.astype({native}))"]
    if case.bias:
        lines.append(f"layer.bias.assign(b.astype({native}))")
    imports = head + ["import tensorflow as tf", "import keras"]
    if not forward:
        return Snippet(imports, lines, data=random_data(case))  # the caller puts it on its device
    if not backward:
        run = "tf.function(layer, jit_compile=True)(xt)  # compiled by XLA" if xla else "layer(xt)"
        return Snippet(imports, lines + [f"y = {run}"], data=random_data(case))
    weights = ["layer.kernel", "layer.bias"] if case.bias else ["layer.kernel"]
    step = ["forward = layer"] + tf_snippet.run_step(weights, [], xla)  # Keras variables are watched by themselves
    return Snippet(imports, tf_snippet.on_device(device, lines + step),
                   tf_snippet.results(case, lambda g: kernel_back(case, g)))


def _jax(case: Case, dtype: str, cls: str, kwargs: dict, device: str, backward: bool):
    """keras_backend._run_jax: jax.vjp of layer.stateless_call in one jax.jit."""
    imports = ["import jax", "import keras"]
    if dtype == "float64":
        imports.append("jax.config.update('jax_enable_x64', True)  # JAX computes float64 only with x64")
    build = repr((case.batch, *case.in_spatial, case.in_channels))
    lines = [*layer_lines(case, cls, kwargs, build, backward),
             f"device = jax.devices({device!r})[0]",
             f"put = lambda a: jax.device_put(a.astype(np.dtype(jax.numpy.{dtype})), device)",
             f"layer.kernel.assign(put({kernel(case)}))"]
    if case.bias:
        lines.append("layer.bias.assign(put(b))")
    lines.append(f"xj = put({channels_last('x')})  # channels-last (N, *spatial, C)")
    if not backward:
        return imports, lines + ["y = layer(xj)"], []
    bias = "g_vars[index[id(layer.bias)]]" if case.bias else "None"
    lines += [f"dyj = put({channels_last('dy')})",
              "variables = list(layer.trainable_variables)", "trainable = [v.value for v in variables]",
              "frozen = [v.value for v in layer.non_trainable_variables]",
              "def forward(trainable, x):", "    return layer.stateless_call(trainable, frozen, x)[0]",
              "def forward_backward(trainable, x, g):", "    y, pull = jax.vjp(forward, trainable, x)",
              "    return y, pull(g)",
              "try:", "    y, (g_vars, gx) = jax.block_until_ready(jax.jit(forward_backward)(trainable, xj, dyj))",
              "    index = {id(v): i for i, v in enumerate(variables)}  # a keras.Variable's == is elementwise",
              f"    grads = [gx, g_vars[index[id(layer.kernel)]], {bias}]",
              "except Exception as exc:  # the backward may be what failed: the forward alone",
              "    y, grads = jax.block_until_ready(jax.jit(forward)(trainable, xj)), [exc, exc, exc]"]
    return imports, lines, _results(case, "np.asarray(g, dtype=np.float64)", float64("y"))


def _torch(case: Case, dtype: str, cls: str, kwargs: dict, device: str, backward: bool):
    """keras_backend._run_torch: autograd through the layer's torch Parameters, y.backward(dy)."""
    build = repr((case.batch, *case.in_spatial, case.in_channels))
    lines = [*layer_lines(case, cls, kwargs, build, backward),
             "kernel = layer.kernel.value  # the torch Parameter behind the keras.Variable",
             f"tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device=kernel.device, "
             f"dtype=torch.{dtype}, copy=True)",
             f"layer.kernel.assign(tensor({kernel(case)}))"]
    if case.bias:
        lines.append("layer.bias.assign(tensor(b))")
    lines += [f"xt = tensor({channels_last('x')}).requires_grad_(True)  # channels-last (N, *spatial, C)",
              "y = layer(xt)"]
    if not backward:
        return ["import torch", "import keras"], lines, []
    bias = "layer.bias.value.grad" if case.bias else "None"
    lines += [f"dyt = tensor({channels_last('dy')})", "grads = None", "if tuple(y.shape) == tuple(dyt.shape):",
              "    try:", "        y.backward(dyt)", f"        grads = [xt.grad, kernel.grad, {bias}]",
              "    except Exception as exc:  # the output still counts", "        grads = [exc, exc, exc]"]
    return ["import torch", "import keras"], lines, _results(case, "g.detach().to(torch.float64).cpu().numpy()",
                                                             "y.detach().to(torch.float64).cpu().numpy()")


def _results(case: Case, numpy64: str, output: str) -> list[str]:
    grads = {"grad_input": channels_first(numpy64), "grad_weight": kernel_back(case, numpy64)}
    if case.bias:
        grads["grad_bias"] = numpy64
    return [f"out['output'] = {channels_first(output)}",
            "grads = grads if grads is not None else [None, None, None]"] + gradient_results(grads)
