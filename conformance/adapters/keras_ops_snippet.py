"""The keras.ops targets' native call as code (conformance/adapters/snippet.py): the op of
keras_ops.py with its arguments, the bias added with keras.ops.add, on the target's backend under
keras.device, and in a repro its gradients through that backend's autodiff as keras_ops.py takes
them (tf.GradientTape; jax.vjp inside jax.jit; torch autograd). Layouts: channels-last input
(N, *spatial, C), the kernel as keras_layers.py documents it (keras_snippet.kernel).
"""
from __future__ import annotations

from conformance.adapters import keras_layers, keras_snippet
from conformance.adapters.snippet import (Snippet, channels_first, channels_last, gradient_results, indent,
                                          random_data)
from conformance.spec.case import Case

CONVERT = {  # code: a suite-layout float64 array `a` as the backend's tensor of the dtype (exact: its values)
    "tensorflow": "tf.constant(a.astype(tf.{dtype}.as_numpy_dtype))",
    "jax": "jax.device_put(a.astype(np.dtype(jax.numpy.{dtype})), jax.devices({device!r})[0])",
    "torch": "torch.from_numpy(np.ascontiguousarray(a)).to(device={torch_device!r}, dtype=torch.{dtype})",
}
TO_NUMPY = {"tensorflow": "np.asarray({v}.numpy(), dtype=np.float64)", "jax": "np.asarray({v}, dtype=np.float64)",
            "torch": "{v}.detach().to(torch.float64).cpu().numpy()"}


def write(case: Case, dtype: str, name: str, kwargs: dict, *, backend: str, device: str = "cpu",
          keras_device: str = "cpu", grads: bool = False) -> Snippet:
    """`keras.ops.<name>(x, kernel, **kwargs)` (+ bias) on `backend`; `grads`: the repro's version."""
    head = [f"import os; os.environ['KERAS_BACKEND'] = {backend!r}  # read once, at the first import of keras",
            "import numpy as np", {"tensorflow": "import tensorflow as tf", "jax": "import jax",
                                   "torch": "import torch"}[backend], "import keras"]
    if backend == "jax" and dtype == "float64":
        head.append("jax.config.update('jax_enable_x64', True)  # JAX computes float64 only with x64")
    convert = CONVERT[backend].format(dtype=dtype, device=device, torch_device="cuda" if device == "gpu" else "cpu")
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    lines = [f"native = lambda a: {convert}",
             f"xk = native({channels_last('x')})  # channels-last (N, *spatial, C)",
             f"kernel = native({keras_snippet.kernel(case)})  # {_layout(case)}",
             "bk = native(b)" if case.bias else "bk = None",
             "def call(x, kernel, b):", f"    y = keras.ops.{name}(x, kernel, {args})",
             "    return y if b is None else keras.ops.add(y, b)  # the op has no bias: the user adds it"]
    if not grads:
        return Snippet(head, [f"with keras.device({keras_device!r}):"] + indent(lines + ["y = call(xk, kernel, bk)"]),
                       data=random_data(case))
    lines += [f"dyk = native({channels_last('dy')})", *GRADIENTS[backend]]
    results = {"grad_input": channels_first(TO_NUMPY[backend].format(v="g")),
               "grad_weight": keras_snippet.kernel_back(case, TO_NUMPY[backend].format(v="g"))}
    if case.bias:
        results["grad_bias"] = TO_NUMPY[backend].format(v="g")
    out = [f"out['output'] = {channels_first(TO_NUMPY[backend].format(v='y'))}",
           "grads = grads if grads is not None else [None, None, None]"] + gradient_results(results)
    return Snippet(head, [f"with keras.device({keras_device!r}):"] + indent(lines), out)


def _layout(case: Case) -> str:
    return keras_snippet.KERNEL_LAYOUT["depthwise" if keras_layers.depthwise_layer(case) else case.op]


# The gradients of (x, kernel, b) from dy, as keras_ops.py computes them: `y` and `grads` (None where
# dy does not fit y; the exception in place of each where computing them raised).
GRADIENTS = {
    "tensorflow": [
        "sources = [t for t in (xk, kernel, bk) if t is not None]",
        "with tf.GradientTape() as tape:", "    tape.watch(sources)", "    y = call(xk, kernel, bk)",
        "grads = None", "if tuple(y.shape) == tuple(dyk.shape):", "    try:",
        "        grads = list(tape.gradient(y, sources, output_gradients=dyk)) + [None] * (3 - len(sources))",
        "    except Exception as exc:  # the output still counts", "        grads = [exc, exc, exc]"],
    "jax": [
        "def forward_backward(x, kernel, b, g):", "    y, pull = jax.vjp(call, x, kernel, b)", "    return y, pull(g)",
        "try:", "    y, grads = jax.block_until_ready(jax.jit(forward_backward)(xk, kernel, bk, dyk))",
        "    grads = list(grads)", "except Exception as exc:  # the backward may be what failed: the forward alone",
        "    y = jax.block_until_ready(jax.jit(call)(xk, kernel, bk))",
        "    grads = None if y.shape != dyk.shape else [exc, exc, exc]"],
    "torch": [
        "sources = [t.requires_grad_(True) for t in (xk, kernel, bk) if t is not None]",
        "y = call(xk, kernel, bk)", "grads = None", "if tuple(y.shape) == tuple(dyk.shape):", "    try:",
        "        y.backward(dyk)", "        grads = [t.grad for t in sources] + [None] * (3 - len(sources))",
        "    except Exception as exc:  # the output still counts", "        grads = [exc, exc, exc]"],
}
