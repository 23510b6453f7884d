"""TensorFlow: tf.nn.convolution / tf.nn.conv{1,2,3}d_transpose, and Keras 3 layers on the TF backend.

Native layouts are channels-last, input (N, *spatial, C). Weights, as documented:
- tf.nn.convolution filters (*k, I/g, O); groups are implied by the filter's in-channel dim
  (https://www.tensorflow.org/api_docs/python/tf/nn/convolution).
- tf.nn.conv{1,2,3}d_transpose filters (*k, O, I)
  (https://www.tensorflow.org/api_docs/python/tf/nn/conv2d_transpose, likewise conv1d_/conv3d_transpose).
- keras.layers.Conv{1,2,3}D kernel (*k, I/g, O), Conv{1,2,3}DTranspose kernel (*k, O, I),
  DepthwiseConv{1,2}D kernel (*k, C_in, depth_multiplier): Keras 3 documents no layout on its pages;
  these are the `kernel_shape` / `depthwise_shape` of keras/src/layers/convolutional/base_conv.py,
  base_conv_transpose.py and base_depthwise_conv.py (keras 3.15), i.e. the tf.nn layouts. Depthwise
  output channel c * depth_multiplier + m reads kernel[..., c, m]
  (https://www.tensorflow.org/api_docs/python/tf/nn/depthwise_conv2d).
Padding: tf.nn.convolution and tf.nn.conv{1,3}d_transpose take 'VALID'/'SAME' only; tf.nn.conv2d and
tf.nn.conv2d_transpose also take explicit [[0, 0], [begin, end], ..., [0, 0]] lists, so explicit 2-D
conv cases go to tf.nn.conv2d. Other explicit cases are passed as lists and TF's own refusal is kept.
Keras takes 'valid'/'same' (and 'causal' for Conv1D), never explicit amounts.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import os
import sys

import numpy as np

from conformance.spec.case import Case
from conformance.adapters.base import Adapter, Observation, Unsupported, channels_first, channels_last, converted, kernel_first, kernel_last


class TensorFlowAdapter(Adapter):
    name = "tensorflow"
    apis = ("tf.nn", "keras.layer")

    def __init__(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # silence TF's import chatter
        if "keras" not in sys.modules:  # importing tensorflow imports keras, which reads this once
            os.environ["KERAS_BACKEND"] = "tensorflow"
        import tensorflow as tf

        # Keras compiles grouped convs with XLA per input shape; each new case would log a retracing warning.
        tf.get_logger().setLevel("ERROR")
        self.tf = tf
        self.refusals = (tf.errors.OpError, ValueError, NotImplementedError, TypeError)
        self._dtypes = {"float16": tf.float16, "bfloat16": tf.bfloat16,
                        "float32": tf.float32, "float64": tf.float64}

    @property
    def keras(self):
        import keras

        if keras.backend.backend() != "tensorflow":
            raise Unsupported(f"keras was imported with the {keras.backend.backend()!r} backend before "
                              "this adapter; keras.layer needs KERAS_BACKEND=tensorflow")
        return keras

    # ---------------------------------------------------------------- environment
    def version(self) -> str:
        return self.tf.__version__

    def devices(self) -> list[str]:
        return ["cpu", "gpu"] if self.tf.config.list_physical_devices("GPU") else ["cpu"]

    def environment(self) -> dict:
        tf = self.tf
        build = tf.sysconfig.get_build_info()
        try:
            keras_version = importlib.metadata.version("keras")
        except importlib.metadata.PackageNotFoundError:
            keras_version = None
        threading = tf.config.threading
        env = {"version": tf.__version__, "keras": keras_version, "cuda": build.get("cuda_version"),
               "cudnn": build.get("cudnn_version"),
               # 0: TensorFlow picks (one per core); a thread pool's size changes reduction orders
               "threads": threading.get_intra_op_parallelism_threads(),
               "inter_op_threads": threading.get_inter_op_parallelism_threads(),
               "onednn": {"enabled": _onednn_enabled(), "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS")},
               "xla": {"built": _built_with_xla(tf), "jit": tf.config.optimizer.get_jit() or None}}
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            env.update(gpu=tf.config.experimental.get_device_details(gpus[0]).get("device_name"),
                       defaults=self._settings())
        return env

    def _settings(self) -> dict:
        return {"tensor_float_32_execution": self.tf.config.experimental.tensor_float_32_execution_enabled()}

    @contextlib.contextmanager
    def precision(self, device: str, profile: str):
        if device != "gpu":
            yield {}
            return
        cfg = self.tf.config.experimental
        saved = cfg.tensor_float_32_execution_enabled()
        try:
            if profile == "strict":
                cfg.enable_tensor_float_32_execution(False)
            yield self._settings()
        finally:
            cfg.enable_tensor_float_32_execution(saved)

    # ---------------------------------------------------------------- semantics
    def native_weight_shape(self, api: str, case: Case) -> tuple[int, ...]:
        if _depthwise_layer(api, case):
            # (*k, C_in, multiplier): https://www.tensorflow.org/api_docs/python/tf/nn/depthwise_conv2d
            return case.kernel_size + (case.in_channels, case.out_channels // case.in_channels)
        # conv (O, I/g, *k) -> (*k, I/g, O): https://www.tensorflow.org/api_docs/python/tf/nn/convolution
        # transposed (I, O, *k) -> (*k, O, I): https://www.tensorflow.org/api_docs/python/tf/nn/conv2d_transpose
        a, b, *k = case.weight_shape
        return (*k, b, a)

    def _to_native_weight(self, api, case, w):
        if _depthwise_layer(api, case):
            mult = case.out_channels // case.in_channels
            return np.ascontiguousarray(np.moveaxis(w.reshape((case.in_channels, mult) + case.kernel_size),
                                                    (0, 1), (-2, -1)))
        return kernel_last(w)

    def _from_native_weight(self, api, case, w):
        if _depthwise_layer(api, case):
            return np.moveaxis(w, (-2, -1), (0, 1)).reshape(case.weight_shape)
        return kernel_first(w)

    def _nn_padding(self, case: Case):
        """tf.nn's padding argument: the case's keyword, else explicit [begin, end] pairs (NWC order)."""
        if case.padding in ("valid", "same"):
            return case.padding.upper()
        if case.padding == "causal":
            raise Unsupported("tf.nn has no 'causal' padding (only 'VALID', 'SAME' or explicit pairs, and "
                              "tf.nn.convolution takes no explicit pairs in 1-D); keras Conv1D has it")
        return [[0, 0]] + [list(p) for p in case.pads] + [[0, 0]]

    def _check_expressible(self, api: str, case: Case):
        if case.op == "conv_transpose" and case.groups > 1:
            what = f"tf.nn.conv{case.ndim}d_transpose" if api == "tf.nn" else f"keras Conv{case.ndim}DTranspose"
            raise Unsupported(f"{what} has no groups argument (filters always cover every channel)")
        if api == "tf.nn":
            if case.op == "conv_transpose" and case.padding == "same" and any(case.output_padding):
                raise Unsupported("tf.nn conv_transpose has no output_padding: it is implied by output_shape, and "
                                  "with padding='SAME' output_shape is in*stride whatever the output_padding")
        elif not isinstance(case.padding, str):
            raise Unsupported("Keras layers take padding 'valid'/'same' (and 'causal' for Conv1D) only, no "
                              f"explicit amounts; this case needs [begin, end] = {[list(p) for p in case.pads]}")

    def run(self, api, case, dtype, device, inputs) -> Observation:
        tf = self.tf
        self._check_expressible(api, case)
        keras = self.keras if api == "keras.layer" else None
        ndtype = self._dtypes[dtype].as_numpy_dtype  # values are already rounded to the dtype: the cast is exact
        x_nat = channels_last(inputs.input).astype(ndtype)
        w_nat = self._to_native_weight(api, case, inputs.weight).astype(ndtype)
        b_nat = inputs.bias.astype(ndtype) if case.bias else None
        g_nat = channels_last(inputs.grad_output).astype(ndtype)
        obs = Observation(output=None)
        with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
            x, g = tf.constant(x_nat), tf.constant(g_nat)
            if api == "tf.nn":
                y, tape, sources = self._nn_forward(case, dtype, x, w_nat, b_nat, obs)
            else:
                forward = self._layer_forward(keras, case, dtype, x, w_nat, b_nat, obs)
                if forward is None:
                    return obs
                y, tape, sources = forward
            obs.output = channels_first(self.to_numpy64(y.numpy()))
            if tuple(y.shape) != g_nat.shape:  # the output_shape check reports it
                obs.grad_input = obs.grad_weight = obs.grad_bias = Unsupported(
                    f"gradients not compared: the output is {list(obs.output.shape)}, not the case's "
                    f"{list(case.output_shape)}, so the case's upstream gradient does not apply")
                return obs
            try:
                with self.native():
                    grads = tape.gradient(y, sources, output_gradients=g)
            except Exception as exc:  # refused (Unsupported) or failed: the output is still compared
                obs.grad_input = obs.grad_weight = obs.grad_bias = exc
                return obs
        # tape.gradient gives None for a source the output does not depend on: that check fails alone
        numpy64 = lambda a: self.to_numpy64(a.numpy())  # noqa: E731
        obs.grad_input = converted(grads[0], lambda a: channels_first(numpy64(a)))
        obs.grad_weight = converted(grads[1], lambda a: self._from_native_weight(api, case, numpy64(a)))
        if case.bias:
            obs.grad_bias = converted(grads[2], numpy64)
        return obs

    def _nn_forward(self, case: Case, dtype: str, x, w_nat, b_nat, obs: Observation):
        """The tf.nn call on `x` under a gradient tape: (output, tape, the sources to differentiate)."""
        tf, nd = self.tf, case.ndim
        strides, dilations = list(case.stride), list(case.dilation)
        # data_format given explicitly (it is the default): in eager mode, the gradient of a 3-D
        # tf.nn.convolution called without it raises AttributeError in TF 2.21 (nn_grad._Conv3DGrad
        # reads the data_format attr, which is None).
        data_format = ("NWC", "NHWC", "NDHWC")[nd - 1]
        out_shape = [case.batch, *case.out_spatial, case.out_channels]  # channels-last, as TF takes it
        padding = self._nn_padding(case)
        w = tf.constant(w_nat)
        b = tf.constant(b_nat) if case.bias else None
        if case.op == "conv":
            # tf.nn.convolution takes 'VALID'/'SAME' only; tf.nn.conv2d also takes explicit pairs.
            name = "conv2d" if nd == 2 and not isinstance(padding, str) else "convolution"
            kwargs = dict(strides=strides, padding=padding, data_format=data_format, dilations=dilations)
        else:
            name = f"conv{nd}d_transpose"
            kwargs = dict(output_shape=out_shape, strides=strides, padding=padding,
                          data_format=data_format, dilations=dilations)
        op = getattr(tf.nn, name)
        obs.call = _nn_snippet(case, dtype, f"tf.nn.{name}", kwargs)
        sources = [x, w] + ([b] if case.bias else [])
        with self.native(), tf.GradientTape() as tape:
            tape.watch(sources)
            y = op(x, w, **kwargs)
            if case.bias:
                y = tf.nn.bias_add(y, b)
        return y, tape, sources

    def _layer_forward(self, keras, case: Case, dtype: str, x, w_nat, b_nat, obs: Observation):
        """The Keras layer, built and loaded with the case's weights, called on `x` under a gradient
        tape: (output, tape, the sources to differentiate); None when its kernel has another shape
        than the documented one (`obs` then says so)."""
        tf = self.tf
        cls, kwargs = self._layer(case, dtype)
        obs.call = _layer_snippet(case, dtype, cls, kwargs)
        with self.native():
            layer = getattr(keras.layers, cls)(**kwargs)
            layer.build(tuple(x.shape))
        obs.layer_weight_shape = tuple(layer.kernel.shape)
        obs.param_count = int(layer.count_params())
        if obs.layer_weight_shape != w_nat.shape:  # the weight_shape check reports the difference
            obs.output = obs.grad_input = obs.grad_weight = obs.grad_bias = Unsupported(
                f"the layer's kernel is {list(obs.layer_weight_shape)}, not the documented "
                f"{list(w_nat.shape)}: the case's weights cannot be loaded into it")
            return None
        layer.kernel.assign(w_nat)
        if case.bias:
            layer.bias.assign(b_nat)
        sources = [x, layer.kernel] + ([layer.bias] if case.bias else [])
        with self.native(), tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        return y, tape, sources

    def _layer(self, case: Case, dtype: str):
        """The Keras layer class name and its keyword arguments for the case."""
        nd = case.ndim
        common = dict(kernel_size=case.kernel_size, strides=case.stride, padding=case.padding,
                      dilation_rate=case.dilation, use_bias=case.bias, data_format="channels_last", dtype=dtype)
        if case.op == "conv_transpose":
            # output_padding=None is Keras' default (Keras infers the size); the case's 0 is that default.
            op = case.output_padding if any(case.output_padding) else None
            return f"Conv{nd}DTranspose", dict(filters=case.out_channels, **common, output_padding=op)
        if _depthwise_layer("keras.layer", case):
            return f"DepthwiseConv{nd}D", dict(**common, depth_multiplier=case.out_channels // case.in_channels)
        return f"Conv{nd}D", dict(filters=case.out_channels, **common, groups=case.groups)


def _depthwise_layer(api: str, case: Case) -> bool:
    """Keras has DepthwiseConv1D/2D (not 3D): depthwise keras cases use them, with their own kernel layout."""
    return api == "keras.layer" and case.op == "conv" and case.is_depthwise and case.ndim in (1, 2)


def _nn_snippet(case: Case, dtype: str, fn: str, kwargs: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    x_shape = [case.batch, *case.in_spatial, case.in_channels]
    a, b, *k = case.weight_shape
    lines = ["import tensorflow as tf",
             f"x = tf.random.normal({x_shape}, dtype=tf.{dtype})",
             f"w = tf.random.normal({[*k, b, a]}, dtype=tf.{dtype})",
             f"y = {fn}(x, w, {args})"]
    if case.bias:
        lines.append(f"y = tf.nn.bias_add(y, tf.random.normal([{case.out_channels}], dtype=tf.{dtype}))")
    return "\n".join(lines)


def _layer_snippet(case: Case, dtype: str, cls: str, kwargs: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    x_shape = [case.batch, *case.in_spatial, case.in_channels]
    return "\n".join(["import os; os.environ['KERAS_BACKEND'] = 'tensorflow'",
                      "import keras, tensorflow as tf",
                      f"x = tf.random.normal({x_shape}, dtype=tf.{dtype})",
                      f"layer = keras.layers.{cls}({args})",
                      "y = layer(x)"])


def _onednn_enabled() -> bool | None:
    """TensorFlow's own decision, in this process, to run its oneDNN (MKL) CPU kernels: unset, the
    CPU decides; TF_ENABLE_ONEDNN_OPTS=0 turns them off, =1 on. A private API, so None where this
    TensorFlow lacks it."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def _built_with_xla(tf) -> bool | None:
    try:
        return bool(tf.test.is_built_with_xla())
    except AttributeError:
        return None
