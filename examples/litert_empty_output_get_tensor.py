"""LiteRT: the interpreter runs a conv on an empty batch, then cannot return its empty output.

What it shows
-------------
A Keras Conv2D converted by `TFLiteConverter.from_keras_model` for a batch of 0 allocates, takes its
(0, 6, 6, 3) input and invokes, but `Interpreter.get_tensor` of the (0, 4, 4, 4) output raises
`ValueError: Invalid tensor size.` (tensorflow/tensorflow#57084: any zero-size output). The
conformance suite records this as the failure of every check of litert.layer on an empty batch.

How to run
----------
    python examples/litert_empty_output_get_tensor.py     # ai-edge-litert 2.3, tensorflow-cpu 2.21
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:
    Interpreter = tf.lite.Interpreter

x = keras.Input(batch_shape=(0, 6, 6, 3))
model = keras.Model(x, keras.layers.Conv2D(4, 3)(x))
interpreter = Interpreter(model_content=tf.lite.TFLiteConverter.from_keras_model(model).convert())
interpreter.allocate_tensors()
interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.zeros((0, 6, 6, 3), np.float32))
interpreter.invoke()
print("output shape the model declares:", interpreter.get_output_details()[0]["shape"])
try:
    print("output:", interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).shape)
except ValueError as exc:
    print("get_tensor raised ValueError:", exc)
