"""TensorFlow: the weight gradient of a convolution with an empty output is uninitialised memory.

What it shows
-------------
With TensorFlow's own CPU kernels (`TF_ENABLE_ONEDNN_OPTS=0`), the gradient with respect to the
filter of a conv whose output is empty is not zero (an empty sum) but whatever the allocator last
held: values like 4.8e+33 or 2.9e-36, sometimes 0. Two ways to an empty output:

- a 'VALID' conv whose kernel is wider than its input (`tf.nn.conv1d`, `conv3d`: their
  Conv2DBackpropFilter / Conv3DBackpropFilterV2 return early on an empty out_backprop without
  zeroing the filter gradient; tensorflow/tensorflow#9949 reported it for a zero-length input);
- a depthwise conv on an empty batch (`tf.nn.depthwise_conv2d`, Keras DepthwiseConv2D and Conv2D
  with groups == channels: DepthwiseConv2dNativeBackpropFilter, tensorflow/tensorflow#126484).

How to run
----------
    python examples/tf_conv_weight_grad_empty_uninitialized.py   # tensorflow-cpu 2.21: non-zero lines
"""
import os

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def weight_grad(conv, x, w):
    with tf.GradientTape() as tape:
        tape.watch(w)
        y = conv(x, w)
    return y.shape, float(tf.reduce_max(tf.abs(tape.gradient(y, w, output_gradients=tf.zeros_like(y)))))


rng = np.random.default_rng(0)
for trial in range(3):
    print("conv1d, kernel 5 over 4:", *weight_grad(lambda x, w: tf.nn.conv1d(x, w, 1, "VALID"),
                                                   tf.constant(rng.standard_normal((1, 4, 2)), tf.float32),
                                                   tf.constant(rng.standard_normal((5, 2, 3)), tf.float32)),
          "(max |grad_w|, expected 0)")
    print("depthwise, batch 0:     ", *weight_grad(lambda x, w: tf.nn.depthwise_conv2d(x, w, [1] * 4, "VALID"),
                                                   tf.zeros((0, 6, 6, 4)),
                                                   tf.constant(rng.standard_normal((3, 3, 4, 1)), tf.float32)),
          "(max |grad_w|, expected 0)")
