"""TensorFlow: tf.nn.convolution / tf.nn.conv{1,2,3}d_transpose, and Keras 3 layers on the TF backend.

Native layouts are channels-last, input (N, *spatial, C). Weights, as documented:
- tf.nn.convolution filters (*k, I/g, O); groups are implied by the filter's in-channel dim
  (https://www.tensorflow.org/api_docs/python/tf/nn/convolution).
- tf.nn.conv{1,2,3}d_transpose filters (*k, O, I)
  (https://www.tensorflow.org/api_docs/python/tf/nn/conv2d_transpose, likewise conv1d_/conv3d_transpose).
- Keras layers: conformance/adapters/keras_layers.py (their kernel layouts are the tf.nn ones).
Padding: tf.nn.convolution and tf.nn.conv{1,3}d_transpose take 'VALID'/'SAME' only; tf.nn.conv2d and
tf.nn.conv2d_transpose also take explicit [[0, 0], [begin, end], ..., [0, 0]] lists, so explicit 2-D
conv cases go to tf.nn.conv2d. Other explicit cases are passed as lists and TF's own refusal is kept.
Keras takes 'valid'/'same' (and 'causal' for Conv1D), never explicit amounts.
Paths (the API name's middle word): `xla` compiles the training step (forward and gradients) with
tf.function(jit_compile=True); `onednn` is the same call in the tensorflow-onednn worker kind, whose
process imports TensorFlow with TF_ENABLE_ONEDNN_OPTS=1 (its declarations' `variables`, conformance/spec/frameworks.py).
"""
from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import sys

from conformance.spec.case import Case
from conformance.adapters import keras_backend, keras_layers, keras_ops, keras_snippet, litert, tf_snippet
from conformance.adapters.snippet import Snippet, attach
from conformance.adapters.base import Adapter, CompiledPathError, Observation, Unsupported, worker_threads
from conformance.adapters.refusal import Refusal
from conformance.spec.frameworks import builtin_apis

# How tf.nn refuses a convolution (conformance/adapters/refusal.py); the worker's Keras layers add
# Keras's refusals, and litert.layer the converter's and the interpreter's (litert.REFUSALS).
REFUSALS = (
    Refusal("TypeError", r"Expected string for argument 'padding'",
            "https://www.tensorflow.org/api_docs/python/tf/nn/convolution (padding: 'A string, either "
            "\"VALID\" or \"SAME\"'; only tf.nn.conv2d and conv2d_transpose also take explicit pairs)"),
    Refusal("ValueError", r"`strides > 1` not supported in conjunction with `dilation_rate > 1`",
            "https://www.tensorflow.org/api_docs/python/tf/nn/convolution (dilations: 'If any value of "
            "dilation_rate is > 1, then all values of strides must be 1')"),
    Refusal("InvalidArgumentError", r"Current CPU implementations? (do|does) not yet support dilation rates larger than 1",
            "tensorflow/core/kernels/conv_grad_input_ops.h, conv_grad_ops_3d.cc (the Eigen CPU kernels of "
            "Conv{2,3}DBackpropInput, so of conv_transpose and of a dilated conv's input gradient, take no dilation)"),
    Refusal("InvalidArgumentError", r"Gradients for grouped convolutions are not supported on CPU",
            "tensorflow/core/kernels/conv_grad_input_ops.h (the Eigen CPU kernel's check of the filter depth)"),
    Refusal("InvalidArgumentError", r"Number of channels in filter \(\d+\) must match last dimension of input",
            "tensorflow/core/kernels/conv_ops_3d.cc (Conv3D's Eigen CPU kernel has no groups)"),
    Refusal("InvalidArgumentError", r"input and filter must have the same depth",
            "tensorflow/core/kernels/mkl/mkl_conv_ops.cc (Conv3D's oneDNN kernel has no groups)"),
    Refusal("InvalidArgumentError", r"Size of out_backprop doesn't match computed",
            "tensorflow/core/kernels/conv_grad_shape_utils.cc ConvBackpropComputeDimensions (an output_shape no "
            "convolution with these strides maps back to the input: output_padding >= stride)"),
)


class TensorFlowAdapter(Adapter):
    name = "tensorflow"
    apis = builtin_apis("tensorflow")

    def __init__(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # silence TF's import chatter
        if "keras" not in sys.modules:  # importing tensorflow imports keras, which reads this once
            os.environ["KERAS_BACKEND"] = "tensorflow"
        import tensorflow as tf

        # Keras compiles grouped convs with XLA per input shape; each new case would log a retracing warning.
        tf.get_logger().setLevel("ERROR")
        if worker_threads():  # before the first op: the pool is made once (no variable sets it)
            tf.config.threading.set_intra_op_parallelism_threads(worker_threads())
        self.tf = tf
        self.refusals = REFUSALS + keras_layers.REFUSALS + keras_ops.REFUSALS + litert.REFUSALS
        self.dtypes = {"float16": tf.float16, "bfloat16": tf.bfloat16,
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
        env["litert"] = litert.environment()  # the litert.layer target: converter, interpreter
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

    # ---------------------------------------------------------------- construction
    # The paths (tensorflow_paths.py, keras_ops.py, litert.py) run in this session; these steps of
    # theirs are the adapter's, so that a recipe of `conformance port` (conformance/recipes/) or a
    # planted fault (search/faults.py: `jit_compiled`) can replace one for all paths.
    def _nn_padding(self, case: Case):
        """tf.nn's padding argument: the case's keyword, else explicit [begin, end] pairs (NWC order)."""
        if case.padding in ("valid", "same"):
            return case.padding.upper()
        if case.padding == "causal":
            raise Unsupported("tf.nn has no 'causal' padding (only 'VALID', 'SAME' or explicit pairs, and "
                              "tf.nn.convolution takes no explicit pairs in 1-D); keras Conv1D has it")
        if case.padding == "same_lower":
            raise Unsupported("tf.nn has no SAME_LOWER padding: its 'SAME' puts an odd element at the end "
                              "(only 'VALID', 'SAME' or explicit pairs)")
        return [[0, 0]] + [list(p) for p in case.pads] + [[0, 0]]

    def check_expressible(self, api: str, case: Case):
        """Raise `Unsupported` where the path `api` cannot express the case."""
        self.paths[api].check_expressible(case)

    def jit_compiled(self, fn):
        """`fn` as users compile it with XLA (a step of its own, so that a planted fault can skip it)."""
        return self.tf.function(fn, jit_compile=True)

    def xla_call(self, function, *args):
        """Call a tf.function that must be compiled by XLA: TensorFlow marks such a function
        `_XlaMustCompile`; one without the mark would run on TF's own kernels under an XLA target's name."""
        marks = function.get_concrete_function(*args).function_def.attr
        if "_XlaMustCompile" not in marks or not marks["_XlaMustCompile"].b:
            raise CompiledPathError("the call is not marked for XLA compilation (jit_compile=True): it would run "
                                    "on TensorFlow's own kernels")
        return function(*args)

    def watched(self, weights) -> list:
        """The weights a tape must be told to watch: tf.nn's are constants; a Keras layer's are
        trainable variables, watched by themselves (and Keras variables are not tf.Variables)."""
        return [w for w in weights if isinstance(w, self.tf.Tensor)]

    def gradients_apply(self, y, g, case: Case, obs: Observation) -> bool:
        if tuple(y.shape) == tuple(g.shape):
            return True
        obs.grad_input = obs.grad_weight = obs.grad_bias = Unsupported(  # the output_shape check reports it
            f"gradients not compared: the output is {list(obs.output.shape)}, not the case's "
            f"{list(case.output_shape)}, so the case's upstream gradient does not apply")
        return False

    def nn_forward(self, case: Case, dtype: str, w_nat, b_nat, obs: Observation):
        """The tf.nn call: (forward(x), the weights to differentiate)."""
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
        attach(obs, functools.partial(_nn_snippet, case, dtype, f"tf.nn.{name}", kwargs))

        def forward(x):
            y = op(x, w, **kwargs)
            return tf.nn.bias_add(y, b) if case.bias else y

        return forward, [w] + ([b] if case.bias else [])

    def layer_forward(self, keras, api: str, case: Case, dtype: str, x, w_nat, b_nat, obs: Observation):
        """The Keras layer, built and loaded with the case's weights: (its call, its weights to
        differentiate); None when its kernel has another shape than the documented one (`obs` then
        says so)."""
        cls, kwargs = keras_layers.layer_spec(case, dtype)
        attach(obs, functools.partial(keras_snippet.write, case, dtype, cls, kwargs, backend="tensorflow"))
        with self.native():
            layer, _ = keras_backend.own_layer(keras, cls, kwargs, tuple(x.shape))
        obs.layer_weight_shape = tuple(layer.kernel.shape)
        obs.param_count = int(layer.count_params())
        mismatch = keras_layers.kernel_mismatch(obs.layer_weight_shape, w_nat.shape)
        if mismatch:  # the weight_shape check reports the difference
            obs.output = obs.grad_input = obs.grad_weight = obs.grad_bias = mismatch
            return None
        layer.kernel.assign(w_nat)
        if case.bias:
            layer.bias.assign(b_nat)
        return layer, [layer.kernel] + ([layer.bias] if case.bias else [])

def _nn_snippet(case: Case, dtype: str, fn: str, kwargs: dict, *, device: str = "cpu", xla: bool = False,
                grads: bool = False) -> Snippet:
    """tf.nn's call over the suite-layout arrays (conformance/adapters/tf_snippet.py)."""
    return tf_snippet.nn_write(case, dtype, fn, kwargs, device=device, xla=xla, grads=grads)


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
