"""TFLiteConverter.from_concrete_functions on a Keras 3 layer: the weights are not in the model.

What it shows
-------------
The TFLite converter's guide converts a `tf.function` around a model with
`tf.lite.TFLiteConverter.from_concrete_functions([concrete_function], trackable_obj)`. With a Keras 3
layer (TensorFlow backend) as the trackable object, the conversion succeeds and says nothing, but
the converted model keeps the layer's variables as resource variables (VAR_HANDLE / READ_VARIABLE
ops) that nothing initializes:

- the LiteRT interpreter with its default XNNPACK delegate returns values unrelated to the layer's
  (uninitialized memory: huge numbers, zeros, or NaN);
- without the delegate (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES) `invoke()` fails with
  "variable != nullptr was not true. Node number 2 (READ_VARIABLE) failed to invoke".

`TFLiteConverter.from_keras_model` on a functional model around the same layer gives the layer's
output: for Keras 3 it exports the call through `keras.export.ExportArchive`, which tracks Keras 3
variables, and the weights are frozen into the model as constants. The litert.layer target uses
that entry (conformance/adapters/litert.py). No upstream report of this was found.

How to run
----------
    python examples/litert_concrete_function_keras3_variables.py

It prints the layer's output, each converted model's output (or its error), whether the
concrete-function model holds READ_VARIABLE ops, and exits 1 when that model's output differs from
the layer's.

What it printed here (tensorflow-cpu 2.21.0, keras 3.15.1, ai-edge-litert 2.3.0, Linux x86-64)
-------------------------------------------------------------------------------------------
    layer                         [ -6.23  -3.65  -7.    -3.8   -9.31  -4.24 -10.07  -4.39]
    from_keras_model              [ -6.23  -3.65  -7.    -3.8   -9.31  -4.24 -10.07  -4.39]
    from_concrete_functions       [-4.44e+36  0.00e+00 -7.91e+36  0.00e+00 -1.83e+37  0.00e+00 -2.18e+37  0.00e+00]
    ... without XNNPACK           RuntimeError: tflite/kernels/read_variable.cc:67 variable != nullptr was not true.Node number 2 (READ_VARIABLE) failed to invoke.
    READ_VARIABLE in the concrete-function model: True
(the layer's weights are random; the concrete-function values change from run to run)
"""
import contextlib
import io
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

try:
    from ai_edge_litert import interpreter as litert
except ImportError:  # TensorFlow's own copy of the interpreter
    litert = tf.lite


def run(model: bytes, x: np.ndarray, **options) -> np.ndarray:
    interpreter = litert.Interpreter(model_content=model, **options)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).ravel()


def main() -> int:
    shape = (1, 4, 4, 1)
    layer = keras.layers.Conv2D(2, 3)
    layer.build(shape)
    x = np.arange(16, dtype=np.float32).reshape(shape)
    expected = keras.ops.convert_to_numpy(layer(x)).ravel()
    np.set_printoptions(precision=2, suppress=False, linewidth=120)
    print(f"{'layer':30}{expected}")

    inputs = keras.Input(batch_shape=shape)
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the temporary SavedModel's path
        from_model = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, layer(inputs))).convert()
    print(f"{'from_keras_model':30}{run(from_model, x)}")

    function = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec(shape, tf.float32)])
    from_function = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], layer).convert()
    got = run(from_function, x)
    print(f"{'from_concrete_functions':30}{got}")
    try:
        plain = run(from_function, x, experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        print(f"{'... without XNNPACK':30}{plain}")
    except RuntimeError as exc:
        print(f"{'... without XNNPACK':30}RuntimeError: {' '.join(str(exc).split())}")
    ops = io.StringIO()
    with contextlib.redirect_stdout(ops):
        tf.lite.experimental.Analyzer.analyze(model_content=from_function)
    print("READ_VARIABLE in the concrete-function model:", "READ_VARIABLE" in ops.getvalue())
    return 0 if np.allclose(got, expected, rtol=1e-5, atol=1e-5) else 1


if __name__ == "__main__":
    sys.exit(main())
