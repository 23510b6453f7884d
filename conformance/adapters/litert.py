"""LiteRT (TensorFlow Lite): the `litert.layer` target, in the tensorflow worker (oneDNN off), forward only.

The layer is keras.layer's: the same Keras 3 layer on the TensorFlow backend, with the same arguments
(keras_layers.py), built on the case's input shape and loaded with the case's weights through its own
API (`layer.kernel.assign`). It is wrapped in a functional model with a fixed input
(`keras.Input(batch_shape=...)`) and converted by `tf.lite.TFLiteConverter.from_keras_model`, with
the converter's defaults (TFLite builtin ops only, no optimizations): what `convert()` gives a user.
Why that entry: for a Keras 3 model it exports the inference call through `keras.export.ExportArchive`,
which tracks Keras 3 variables, so their values are frozen into the model. The other entry,
`from_concrete_functions` on a `tf.function` around the layer, does not: the converted model reads
resource variables that nothing initializes (READ_VARIABLE), and LiteRT returns garbage with its
XNNPACK delegate or fails without it (examples/litert_concrete_function_keras3_variables.py).

The converted models are kept in the run's cache folder, keyed by everything they are made of
(conformance/adapters/artifacts.py); the interpreter runs them in every run.

The model runs in LiteRT's interpreter from the ai-edge-litert package
(`ai_edge_litert.interpreter.Interpreter`), with its defaults (the XNNPACK delegate for float32 on
CPU); where that package is not installed, TensorFlow's own `tf.lite.Interpreter` (deprecated, still
shipped in TF 2.21). The tensorflow section of the results says which (`environment`).

Dtypes: LiteRT's builtin CPU kernels compute convolutions in float32 (and in quantized integers). A
float16, bfloat16 or float64 Keras model is refused by the converter, in its own words (the ops would
need TF Select). The converter's float16 option (`target_spec.supported_types = [tf.float16]`) is
post-training quantization of a float32 model: it stores the weights in float16, and the CPU kernels
dequantize them and compute in float32 on float32 inputs. That is no float16 computation, so it is
not run as one. Devices: CPU (LiteRT's GPU delegate is for mobile GPUs; this package has no CUDA one).
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import re

from conformance.adapters import artifacts, keras_backend, keras_layers, keras_snippet
from conformance.adapters.base import Observation, Unsupported, channels_first, channels_last, dist_version, worker_threads
from conformance.adapters.path import Path
from conformance.adapters.refusal import Refusal, refusal_for
from conformance.spec.case import Case
from conformance.wording import shorten

API = "litert.layer"  # the suite's name of this path (spec/frameworks.py)
# How the TFLite converter and the LiteRT interpreter refuse a model (conformance/adapters/refusal.py).
REFUSALS = (
    Refusal("ConverterError", r"Some ops are not supported by the native TFLite runtime",
            "https://ai.google.dev/edge/litert/models/ops_select (TensorFlow ops without a TFLite builtin "
            "need TF Select, which the converter's defaults leave off)"),
    Refusal("ValueError", r"Unsupported TensorFlow type .* provided for the input type",
            "tensorflow/lite/python/util.py convert_dtype_to_tflite_type (the converter's input types: no bfloat16)"),
    Refusal("RuntimeError", r"failed to prepare",
            "tensorflow/lite/kernels/*.cc Prepare(): a builtin kernel's own checks of its arguments, run by "
            "Interpreter.allocate_tensors"),
)
NO_GRADIENTS = "the converted LiteRT model runs inference only: no gradients"
CONVERTER = "tf.lite.TFLiteConverter.from_keras_model, defaults (TFLITE_BUILTINS, no optimizations)"
FLOAT16_OPTION = ("; the converter's float16 option (target_spec.supported_types=[tf.float16]) only stores a "
                  "float32 model's weights in float16 and computes in float32, so it is no float16 run")


class LiteRtLayer(Path):
    """`litert.layer`: the Keras layer converted for LiteRT and run in its interpreter (tensorflow worker)."""

    def native_weight_shape(self, case: Case) -> tuple[int, ...]:
        return keras_layers.native_weight_shape(case)

    def import_package(self, package: str):
        return self.adapter.keras if package == "keras" else super().import_package(package)

    def start_error(self) -> str | None:
        return interpreter_import_error(self.adapter.tf)

    def run(self, case, dtype, device, inputs) -> Observation:
        return run(self.adapter, case, dtype, device, inputs)


def run(adapter, case: Case, dtype: str, device: str, inputs, make=None) -> Observation:
    """The case's Keras layer converted for LiteRT and run in its interpreter; `adapter` is the
    tensorflow worker's (its `tf`, `keras` and `native()`). `make`: as keras_backend.run_keras_layer's
    (a construction around the layer, `conformance port`); by default the layer alone is converted."""
    if device != "cpu":
        raise Unsupported("LiteRT's Python interpreter runs on the CPU (its GPU delegate is for mobile GPUs)")
    keras_layers.check_expressible(case)
    tf, keras = adapter.tf, adapter.keras
    ndtype = tf.as_dtype(dtype).as_numpy_dtype  # values are already rounded to the dtype: the cast is exact
    x_nat = channels_last(inputs.input).astype(ndtype)
    cls, kwargs = keras_layers.layer_spec(case, dtype)
    obs = Observation(output=None, grad_input=Unsupported(NO_GRADIENTS), grad_weight=Unsupported(NO_GRADIENTS),
                      grad_bias=Unsupported(NO_GRADIENTS) if case.bias else None)

    def write(grads=False):  # the Keras layer holding the case's weights, then its conversion (forward only)
        layer = keras_snippet.write(case, dtype, cls, kwargs, backend="tensorflow", grads=grads, forward=False)
        return _call_lines(layer, dtype, repro=grads)
    obs.call, obs.repro = write().text(), write
    with tf.device("/CPU:0"):
        with adapter.native():
            model, layer = (make or keras_backend.own_layer)(keras, cls, kwargs, x_nat.shape)
        obs.layer_weight_shape = tuple(int(d) for d in layer.kernel.shape)
        obs.param_count = int(model.count_params())
        mismatch = keras_layers.kernel_mismatch(obs.layer_weight_shape, keras_layers.native_weight_shape(case))
        if mismatch is not None:
            obs.output = mismatch
            return obs
        layer.kernel.assign(keras_layers.to_native_weight(case, inputs.weight).astype(ndtype))
        if case.bias:
            layer.bias.assign(inputs.bias.astype(ndtype))
        try:
            flat = artifacts.made(adapter, "litert", lambda: _convert_key(model, x_nat.shape, dtype),
                                  lambda: convert(adapter, model, x_nat.shape, dtype))
            obs.output = channels_first(adapter.to_numpy64(invoke(adapter, flat, x_nat)))
        except Unsupported as exc:  # the layer's own facts still count: its kernel shape and parameter count
            obs.output = exc
    return obs


def _convert_key(layer, input_shape, dtype: str) -> dict:
    """What the converted model is a function of (conformance/adapters/artifacts.py): the packages
    that write it (their versions and installed code), the layer's class and configuration (without its name, which numbers layers in
    the order a worker builds them), its weights' bytes, the input's shape and dtype."""
    config = _without_names(layer.get_config())
    return {"versions": {p: dist_version(p) for p in ("tensorflow", "tensorflow-cpu", "keras")},
            "code": {m: artifacts.installed_code(m) for m in ("tensorflow", "keras")},
            "converter": CONVERTER, "class": type(layer).__name__, "config": config,
            "weights": [[w.path.rsplit("/", 1)[-1], artifacts.digest(w.numpy())] for w in layer.weights],
            "input": [list(input_shape), dtype]}


def _without_names(config: dict) -> dict:
    """A layer's configuration without its name, which numbers layers in the order a worker builds
    them; a model's (a construction around the layer), without its layers' names either."""
    out = {k: v for k, v in config.items() if k != "name"}
    if isinstance(out.get("layers"), list):
        out["layers"] = [{**entry, "config": _without_names(entry.get("config", {}))} for entry in out["layers"]]
    return out


def convert(adapter, layer, input_shape, dtype: str) -> bytes:
    """The LiteRT flatbuffer of `layer` on a fixed input: `TFLiteConverter.from_keras_model` of a
    functional model around it, with the converter's defaults. Its refusal is `Unsupported` in its
    own words (`converter_reason`)."""
    tf, keras = adapter.tf, adapter.keras
    x = keras.Input(batch_shape=tuple(input_shape), dtype=dtype)
    model = keras.Model(x, layer(x))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    # Keras prints the temporary SavedModel's path and signature to stdout ("Saved artifact at ...")
    with adapter.native(), contextlib.redirect_stdout(io.StringIO()):
        try:
            return converter.convert()
        except Exception as exc:
            if refusal_for(exc, REFUSALS) is None:  # the converter failed: an error, with its text
                raise
            raise Unsupported(f"TFLiteConverter: {converter_reason(str(exc))}"
                              f"{FLOAT16_OPTION if dtype == 'float16' else ''}") from exc


def invoke(adapter, model: bytes, x):
    """The model's output on `x` in the LiteRT interpreter. A model the interpreter refuses to prepare
    (allocate_tensors: a kernel's own checks of its arguments) is `Unsupported` with its text."""
    with adapter.native():  # keeps tf.lite.Interpreter's deprecation warning for the records
        # the worker's thread count (XNNPACK's pool) where it has one, else the interpreter's default
        interpreter = interpreter_class(adapter.tf)(model_content=model, num_threads=worker_threads())
    try:
        interpreter.allocate_tensors()
    except Exception as exc:  # "Node number 0 (TRANSPOSE_CONV) failed to prepare."
        if refusal_for(exc, REFUSALS) is None:
            raise
        raise Unsupported(f"LiteRT interpreter: {' '.join(str(exc).split())}") from exc
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def interpreter_class(tf):
    """LiteRT's interpreter; TensorFlow's own where the ai-edge-litert package is not installed."""
    if importlib.util.find_spec("ai_edge_litert") is None:
        return tf.lite.Interpreter
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter


def interpreter_import_error(tf) -> str | None:
    """Why the LiteRT interpreter cannot be imported although the ai-edge-litert package is installed
    (a broken install: litert.layer fails to start), else None."""
    try:
        interpreter_class(tf)
    except Exception as exc:  # noqa: BLE001 - whatever the import raised is the failure
        return f"ai_edge_litert failed to import: {type(exc).__name__}: {' '.join(str(exc).split())[:600]}"
    return None


def converter_reason(text: str) -> str:
    """The converter's own words, without its MLIR locations (they name temporary functions and the
    caller's source files). The summary after "failed while converting" when there is one (which ops
    TFLite lacks, with their types), else its error lines."""
    summary = re.search(r"failed while converting: '[^']*':\s*(.*?)(?:\n\s*\n|\n<unknown>|$)", text, re.S)
    if summary:
        lines = summary.group(1).splitlines()
    else:
        lines = [_without_locations(line) for line in text.splitlines() if "error:" in line]
    words = " ".join(dict.fromkeys(line.strip() for line in lines if line.strip())) or text.strip()
    return shorten(words, 600)


def _without_locations(line: str) -> str:
    """`line` without its `loc(...)` groups (nested parentheses) and `<unknown>:0:` prefixes."""
    out, i = [], 0
    while (j := line.find("loc(", i)) >= 0:
        out.append(line[i:j])
        depth, k = 0, j + 3
        for k in range(j + 3, len(line)):
            depth += {"(": 1, ")": -1}.get(line[k], 0)
            if depth == 0:
                break
        i = k + 1
    out.append(line[i:])
    text = re.sub(r"<unknown>:0:\s*", " ", "".join(out))
    text = re.sub(r"\b(error|note):\s*:\s*", r"\1: ", text)  # what was around a dropped location
    return " ".join(text.split())


def _call_lines(layer, dtype: str, *, repro: bool = False):
    """`layer` (keras_snippet.write's Snippet of the layer holding the case's weights) with the
    conversion and the interpreter as `run` makes them, on the CPU; in a repro, a refusal of either
    is the output's value (the layer's facts still count)."""
    lines = [f"inputs = keras.Input(batch_shape=tuple(xt.shape), dtype={dtype!r})",
             "model = keras.Model(inputs, layer(inputs))",
             "with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the SavedModel it writes",
             "    tflite_model = tf.lite.TFLiteConverter.from_keras_model(model).convert()",
             "try:", "    from ai_edge_litert.interpreter import Interpreter",
             "except ImportError:  # TensorFlow's own, where ai-edge-litert is not installed",
             "    Interpreter = tf.lite.Interpreter",
             f"interpreter = Interpreter(model_content=tflite_model, num_threads={worker_threads()!r})",
             "interpreter.allocate_tensors()",
             "interpreter.set_tensor(interpreter.get_input_details()[0]['index'], xt.numpy())",
             "interpreter.invoke()",
             "y = interpreter.get_tensor(interpreter.get_output_details()[0]['index'])"]
    if repro:
        lines = ["try:", *("    " + line for line in lines), "except Exception as exc:", "    y = exc"]
    layer.imports.append("import contextlib, io")
    layer.call = ["with tf.device('/CPU:0'):", *("    " + line for line in layer.call + lines)]
    layer.results = ["out['output'] = y if isinstance(y, BaseException) else "
                     "np.moveaxis(np.asarray(y, dtype=np.float64), -1, 1)"]
    return layer


def environment() -> dict:
    """The LiteRT path's facts for the tensorflow section of the results, from package metadata
    (nothing imported): which interpreter runs the models, and the converter entry."""
    try:
        version = importlib.metadata.version("ai-edge-litert") if importlib.util.find_spec("ai_edge_litert") else None
    except importlib.metadata.PackageNotFoundError:
        version = None
    interpreter = ("ai_edge_litert.interpreter.Interpreter" if version else
                   "tf.lite.Interpreter (the ai-edge-litert package is not installed)")
    return {"interpreter": interpreter, "ai_edge_litert": version, "delegates": "the interpreter's defaults",
            "num_threads": worker_threads(),
            "converter": CONVERTER, "converted_models_kept": artifacts.location()}
