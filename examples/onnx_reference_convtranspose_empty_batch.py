"""ONNX reference evaluator: ConvTranspose on an empty batch returns nothing at all.

What it shows
-------------
`onnx.reference.ReferenceEvaluator` on a one-node ConvTranspose model with an input of batch 0
raises `TypeError: Issues with types ... (operator 'ConvTranspose')`: its implementation
(onnx/reference/ops/op_conv_transpose.py, ConvTranspose._run) allocates the output inside the loop
over batch items, so with no item the result is None. ONNX Runtime returns the (0, 3, 9) output.

How to run
----------
    python examples/onnx_reference_convtranspose_empty_batch.py     # onnx 1.23, onnxruntime 1.32
"""
import numpy as np
import onnxruntime
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2])
graph = helper.make_graph([node], "convT", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None),
                                            helper.make_tensor_value_info("w", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
feeds = {"x": np.zeros((0, 2, 4), np.float32), "w": np.ones((2, 3, 3), np.float32)}
session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
print("onnxruntime:", session.run(None, feeds)[0].shape, "(expected (0, 3, 9))")
try:
    print("reference:  ", ReferenceEvaluator(model).run(None, feeds)[0].shape)
except TypeError as exc:
    print("reference raised TypeError:", str(exc)[:120])
