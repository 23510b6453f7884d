"""The TensorFlow targets' native call as code (conformance/adapters/snippet.py): tf.nn, and the way
tensorflow_paths.py runs a forward function, tf.nn's or a Keras layer's (keras_snippet.py):
eagerly under a GradientTape, or as the training step compiled by XLA (tf.function(jit_compile=True)).
Layouts: channels-last input (N, *spatial, C); tf.nn filters (*k, I/groups, O), and (*k, O, I) for
tf.nn.conv*_transpose: the suite's weight with its axes reversed around the kernel (`kernel_last`).
"""
from __future__ import annotations

from conformance.adapters.snippet import (Snippet, channels_first, channels_last, float64, gradient_results, indent,
                                          kernel_first, kernel_last, random_data)
from conformance.spec.case import Case

IMPORTS = ["import numpy as np", "import tensorflow as tf"]


def nn_write(case: Case, dtype: str, fn: str, kwargs: dict, *, device: str = "cpu", xla: bool = False,
             grads: bool = False) -> Snippet:
    """tf.nn's call (`fn` with `kwargs`, then tf.nn.bias_add), eager or compiled by XLA."""
    nd = case.ndim
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    native = f"tf.{dtype}.as_numpy_dtype"  # the values are the dtype's already: the cast is exact
    prep = [f"xt = tf.constant({channels_last('x')}.astype({native}))  # channels-last (N, *spatial, C)",
            f"wt = tf.constant({kernel_last('w', nd)}.astype({native}))  # filters "
            + ("(*k, O, I)" if case.op == "conv_transpose" else "(*k, I/groups, O)"),
            f"bt = tf.constant(b.astype({native}))" if case.bias else "bt = None"]
    forward = ["def forward(x):", f"    y = {fn}(x, wt, {args})"]
    forward.append("    return tf.nn.bias_add(y, bt)" if case.bias else "    return y")
    weights = ["wt", "bt"] if case.bias else ["wt"]
    if not grads:
        run = (["forward = tf.function(forward, jit_compile=True)  # compiled by XLA"] if xla else []) + \
            ["y = forward(xt)"]
        return Snippet(IMPORTS, prep + forward + run, data=random_data(case))
    step = run_step(weights, weights, xla)  # tf.nn's weights are constants: the tape watches them
    return Snippet(IMPORTS, on_device(device, prep + forward + step), results(case, lambda g: kernel_first(g, nd)))


def on_device(device: str, lines: list[str]) -> list[str]:
    """The lines under tf.device, as the adapter runs a unit."""
    return [f"with tf.device({'/GPU:0' if device == 'gpu' else '/CPU:0'!r}):"] + indent(lines)


def run_step(weights: list[str], constants: list[str], xla: bool) -> list[str]:
    """`forward(xt)` and the gradients of (xt, *weights) from `dyt`, as tensorflow_paths.py runs
    them: eagerly under a tape (no gradients where the output's shape is not dy's), or the training
    step compiled by XLA, with the forward alone compiled where the step fails. `constants`: the
    tensors the tape must be told to watch besides the input (a Keras layer's variables are watched
    by themselves)."""
    dyt = "dyt = tf.constant(np.moveaxis(dy, 1, -1).astype(xt.dtype.as_numpy_dtype))  # dy, channels-last"
    watched, sources = ", ".join(["{x}", *constants]), ", ".join(["{x}", *weights])
    if not xla:
        return [dyt, "with tf.GradientTape() as tape:", f"    tape.watch([{watched.format(x='xt')}])", "    y = forward(xt)",
                "grads = None", "if tuple(y.shape) == tuple(dyt.shape):", "    try:",
                f"        grads = tape.gradient(y, [{sources.format(x='xt')}], output_gradients=dyt)",
                "    except Exception as exc:  # the output still counts", "        grads = [exc, exc, exc]"]
    return [dyt, "def step(x, g):  # the training step, compiled by XLA",
            "    with tf.GradientTape() as tape:", f"        tape.watch([{watched.format(x='x')}])", "        y = forward(x)",
            "    if tuple(y.shape) != tuple(g.shape):", "        return y, None",
            f"    return y, tape.gradient(y, [{sources.format(x='x')}], output_gradients=g)",
            "try:", "    y, grads = tf.function(step, jit_compile=True)(xt, dyt)",
            "except Exception as exc:  # the forward alone, compiled, then",
            "    y, grads = tf.function(forward, jit_compile=True)(xt), [exc, exc, exc]"]


def results(case: Case, weight_back) -> list[str]:
    """`out` from the native `y` and `grads` ([input, weight, bias] tensors); `weight_back(name)`: code
    of the weight gradient in the suite's layout."""
    grads = {"grad_input": channels_first(float64("g.numpy()")), "grad_weight": weight_back(float64("g.numpy()"))}
    if case.bias:
        grads["grad_bias"] = float64("g.numpy()")
    return [f"out['output'] = {channels_first(float64('y.numpy()'))}",
            "grads = grads if grads is not None else [None, None, None]"] + gradient_results(grads)
