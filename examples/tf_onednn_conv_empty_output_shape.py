"""TensorFlow + oneDNN: a convolution with nothing to compute returns a tensor of its input's shape.

What it shows
-------------
With TensorFlow's oneDNN kernels on (`TF_ENABLE_ONEDNN_OPTS=1`, the default on many Linux CPUs),
`tf.nn.conv2d`, `tf.nn.conv3d` and `tf.nn.depthwise_conv2d` on an empty batch, or with a kernel wider
than the input ('VALID'), return an empty-or-not tensor shaped like the *input*, not the output:
(0, 6, 6, 3) instead of (0, 4, 4, 4), and (1, 3, 3, 3, 2), holding the input's values, instead of
(1, 0, 0, 0, 2). A bias added after it then fails ("Must provide as many biases as the last dimension
of the input tensor", "Incompatible shapes"), so Keras Conv layers with a bias raise on an empty
batch. TensorFlow's own kernels (`TF_ENABLE_ONEDNN_OPTS=0`) return the right shapes.

The oneDNN forward kernel (tensorflow/core/kernels/mkl/mkl_conv_ops.cc, MklConvOp::Compute) takes a
shortcut when "output with 0 elements and 0 batch size" and allocates its output with the source's
shape (`src_tf_shape`) where it computed the destination's (`dst_tf_shape`).

How to run
----------
    python examples/tf_onednn_conv_empty_output_shape.py      # tensorflow-cpu 2.21: every line differs
"""
import os

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

w = tf.constant(np.ones((3, 3, 3, 4), np.float32))
print("conv2d, batch 0:          ", tf.nn.conv2d(tf.zeros((0, 6, 6, 3)), w, 1, "VALID").shape, "expected (0, 4, 4, 4)")
print("conv3d, kernel 4 over 3:  ", tf.nn.conv3d(tf.ones((1, 3, 3, 3, 2)), tf.ones((4, 4, 4, 2, 2)), [1] * 5,
                                                 "VALID").shape, "expected (1, 0, 0, 0, 2)")
print("depthwise, batch 0:       ", tf.nn.depthwise_conv2d(tf.zeros((0, 6, 6, 4)), tf.ones((3, 3, 4, 1)), [1] * 4,
                                                           "VALID").shape, "expected (0, 4, 4, 4)")
