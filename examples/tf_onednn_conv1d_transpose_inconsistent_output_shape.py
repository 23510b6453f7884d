"""TensorFlow with oneDNN on: conv1d_transpose with an output_shape no convolution produces fails with
oneDNN's AbortedError ("could not create a primitive descriptor") instead of TensorFlow's own shape check.

What it shows
-------------
A transposed 1-D conv of a length-5 input, kernel 3, stride 1, dilation 2, asked for output length 10:
the conv whose gradient it is maps length 10 to 10 - 2 * (3 - 1) = 6, not 5, so no conv has this
gradient (PyTorch calls it output_padding 1 and computes it: output_padding < max(stride, dilation)).
TensorFlow's own kernels refuse it with an argument check: XLA with "Conv2DBackpropInput: Size of
out_backprop doesn't match computed" (tensorflow/core/kernels/conv_grad_shape_utils.cc) and the Eigen
CPU kernel with "Current CPU implementations do not yet support dilation rates larger than 1". With
oneDNN on (TF_ENABLE_ONEDNN_OPTS=1) the call reaches oneDNN's kernel (mkl_conv_grad_input_ops.cc), whose
primitive creation fails: "AbortedError: ... could not create a primitive descriptor for the convolution
forward propagation primitive". An internal failure, not a refusal: the suite records it as `error`,
explained by the known difference tf-onednn-conv-transpose-inconsistent-output-shape.

How to run
----------
    python examples/tf_onednn_conv1d_transpose_inconsistent_output_shape.py        # oneDNN on
    python examples/tf_onednn_conv1d_transpose_inconsistent_output_shape.py --off  # oneDNN off

Exit status 1 when oneDNN's AbortedError is raised, else 0.

What it printed here
--------------------
tensorflow-cpu 2.21.0, Python 3.11.7, Linux x86-64 (AMD EPYC, AVX-512):

    oneDNN on:  AbortedError: ... could not create a primitive descriptor for the convolution forward propagation primitive ...
    oneDNN off: InvalidArgumentError: ... Current CPU implementations do not yet support dilation rates larger than 1. ...
"""
from __future__ import annotations

import os
import sys

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0" if "--off" in sys.argv else "1"  # read once, at import
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main() -> int:
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((1, 5, 2)).astype(np.float32))  # (N, W, C_in)
    w = tf.constant(rng.standard_normal((3, 2, 2)).astype(np.float32))  # (k, C_out, C_in)
    label = "oneDNN off" if "--off" in sys.argv else "oneDNN on"
    try:
        y = tf.nn.conv1d_transpose(x, w, output_shape=[1, 10, 2], strides=1, padding="VALID", dilations=2)
    except tf.errors.OpError as exc:
        print(f"{label}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        return 1 if isinstance(exc, tf.errors.AbortedError) else 0
    print(f"{label}: computed, shape {tuple(y.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
