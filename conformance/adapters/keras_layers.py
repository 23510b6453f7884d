"""Keras 3 convolution layers, whatever the backend: which layer a case is, with which arguments, and
the layer's kernel layout. Nothing here imports a framework; the backends' runs are in
keras_backend.py (JAX, PyTorch) and tensorflow_paths.py (TensorFlow).

Layers: Conv{1,2,3}D, Conv{1,2,3}DTranspose, and DepthwiseConv{1,2}D for depthwise convs (groups ==
C_in, any depth multiplier; Keras has no DepthwiseConv3D, so 3-D depthwise cases are Conv3D with
groups). Always data_format='channels_last', Keras's default: input (N, *spatial, C).
Kernels: Keras 3 documents no layout on its pages; these are the `kernel_shape` / `depthwise_shape`
of keras/src/layers/convolutional/base_conv.py, base_conv_transpose.py and base_depthwise_conv.py
(keras 3.15), the same on every backend (each backend converts to its own kernel layout inside its
ops): Conv (*k, I/g, O), ConvTranspose (*k, O, I), DepthwiseConv (*k, C_in, depth_multiplier), where
output channel c * depth_multiplier + m reads kernel[..., c, m]
(https://www.tensorflow.org/api_docs/python/tf/nn/depthwise_conv2d).
Padding: 'valid' and 'same' (and 'causal' for Conv1D), never explicit amounts.
"""
from __future__ import annotations

import numpy as np

from conformance.adapters.base import Unsupported, kernel_first, kernel_last
from conformance.adapters.refusal import Refusal
from conformance.spec.case import Case

# How a Keras convolution layer refuses its arguments, on every backend (conformance/adapters/refusal.py).
REFUSALS = (
    Refusal("ValueError", r"`strides > 1` not supported in conjunction with `dilation_rate > 1`",
            "https://keras.io/api/layers/convolution_layers/convolution2d/ (strides: 'Specifying any stride value "
            "!= 1 is incompatible with specifying any dilation_rate value != 1'); "
            "keras/src/layers/convolutional/base_conv.py BaseConv.__init__"),
    Refusal("ValueError", r"The `padding` argument must be a list/tuple or one of",
            "https://keras.io/api/layers/convolution_layers/convolution1d/ (padding: 'valid', 'same' or 'causal' for "
            "Conv1D; 'valid' or 'same' for the others); keras/src/utils/argument_validation.py standardize_padding"),
    Refusal("ValueError", r"`output_padding` must be strictly less than `strides`",
            "https://keras.io/api/layers/convolution_layers/convolution2d_transpose/ (output_padding: 'must be lower "
            "than the stride'); keras/src/layers/convolutional/base_conv_transpose.py"),
)


def depthwise_layer(case: Case) -> bool:
    """Whether the case runs as DepthwiseConv1D/2D (not 3D: Keras has none) with its own kernel layout."""
    return case.op == "conv" and case.is_depthwise and case.ndim in (1, 2)


def check_expressible(case: Case) -> None:
    """Raise `Unsupported` where no Keras convolution layer takes the case's arguments."""
    if case.op == "conv_transpose" and case.groups > 1:
        raise Unsupported(f"keras Conv{case.ndim}DTranspose has no groups argument (filters always cover every "
                          "channel)")
    if not isinstance(case.padding, str):
        raise Unsupported("Keras layers take padding 'valid'/'same' (and 'causal' for Conv1D) only, no "
                          f"explicit amounts; this case needs [begin, end] = {[list(p) for p in case.pads]}")


def layer_spec(case: Case, dtype: str) -> tuple[str, dict]:
    """The Keras layer class name and its keyword arguments for the case."""
    nd = case.ndim
    common = dict(kernel_size=case.kernel_size, strides=case.stride, padding=case.padding,
                  dilation_rate=case.dilation, use_bias=case.bias, data_format="channels_last", dtype=dtype)
    if case.op == "conv_transpose":
        # output_padding=None is Keras' default (Keras infers the size); the case's 0 is that default.
        op = case.output_padding if any(case.output_padding) else None
        return f"Conv{nd}DTranspose", dict(filters=case.out_channels, **common, output_padding=op)
    if depthwise_layer(case):
        return f"DepthwiseConv{nd}D", dict(**common, depth_multiplier=case.out_channels // case.in_channels)
    return f"Conv{nd}D", dict(filters=case.out_channels, **common, groups=case.groups)


def native_weight_shape(case: Case) -> tuple[int, ...]:
    """The kernel shape the layer creates (see the module docstring), from the canonical shape by rule."""
    if depthwise_layer(case):
        return case.kernel_size + (case.in_channels, case.out_channels // case.in_channels)
    # conv (O, I/g, *k) -> (*k, I/g, O); transposed (I, O, *k) -> (*k, O, I)
    a, b, *k = case.weight_shape
    return (*k, b, a)


def to_native_weight(case: Case, w: np.ndarray) -> np.ndarray:
    """The canonical weight in the layer's kernel layout."""
    if depthwise_layer(case):
        mult = case.out_channels // case.in_channels
        return np.ascontiguousarray(np.moveaxis(w.reshape((case.in_channels, mult) + case.kernel_size),
                                                (0, 1), (-2, -1)))
    return kernel_last(w)


def from_native_weight(case: Case, w: np.ndarray) -> np.ndarray:
    """Inverse of `to_native_weight` (for the kernel's gradient)."""
    if depthwise_layer(case):
        return np.moveaxis(w, (-2, -1), (0, 1)).reshape(case.weight_shape)
    return kernel_first(w)


def kernel_mismatch(layer_shape: tuple, documented: tuple) -> Unsupported | None:
    """What every quantity of the run is when the layer's kernel has another shape than the documented
    one: the case's weights cannot be loaded (the weight_shape check reports the difference)."""
    if tuple(layer_shape) == tuple(documented):
        return None
    return Unsupported(f"the layer's kernel is {list(layer_shape)}, not the documented {list(documented)}: "
                       "the case's weights cannot be loaded into it")
