"""The ONNX reference evaluator's Conv with auto_pad VALID or SAME_UPPER, before onnx 1.23.0.

What it shows
-------------
The Conv operator (https://onnx.ai/onnx/operators/onnx__Conv.html) says auto_pad VALID means no
padding, and SAME_UPPER pads so that output = ceil(in / stride). Up to onnx 1.22.0,
onnx/reference/ops/op_conv.py (`_conv_implementation`) handles both in one branch that
- computes SAME padding for VALID too, so VALID gives SAME's output size, and
- takes each axis's length from `X.shape[i]`, the batch and channel sizes, instead of the spatial
  `X.shape[i + 2]`, so SAME's padding is computed from the wrong lengths: the output has the wrong
  size, or the evaluator raises "ValueError: index can't contain negative values".
onnx 1.23.0 has a VALID branch (no padding) and reads `X.shape[i + 2]`. ONNX Runtime is not
affected. No upstream report of this was found.

How to run
----------
    python examples/onnx_reference_conv_auto_pad_before_1_23.py

It builds one-node Conv models (input [2, 4, 9, 7], kernel 3) with auto_pad VALID and SAME_UPPER,
stride 1 and 2, runs them on the reference evaluator, and exits 1 when an output shape differs from
the operator's formula (or the evaluator raises).

What it printed here
--------------------
onnx 1.17.0 and 1.22.0 (Linux x86-64), exit 1:
    VALID      stride 1: expected [2, 4, 7, 5], got [2, 4, 9, 7]   <- differs
    VALID      stride 2: expected [2, 4, 4, 3], got [2, 4, 4, 3]
    SAME_UPPER stride 1: expected [2, 4, 9, 7], got [2, 4, 9, 7]
    SAME_UPPER stride 2: expected [2, 4, 5, 4], got [2, 4, 4, 3]   <- differs
onnx 1.23.2: every line as expected, exit 0.
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

INPUT = (2, 4, 9, 7)
KERNEL = 3


def model(auto_pad: str, stride: int):
    w = numpy_helper.from_array(np.ones((4, 4, KERNEL, KERNEL), np.float32), "W")
    node = helper.make_node("Conv", ["X", "W"], ["Y"], auto_pad=auto_pad, strides=[stride, stride],
                            kernel_shape=[KERNEL, KERNEL])
    graph = helper.make_graph([node], "conv_auto_pad", [helper.make_tensor_value_info("X", TensorProto.FLOAT, INPUT)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None] * 4)], initializer=[w])
    m = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    return m


def expected(auto_pad: str, stride: int) -> list[int]:
    """The operator's output sizes: VALID ceil((in - k + 1) / stride), SAME_UPPER ceil(in / stride)."""
    spatial = [-(-(n - KERNEL + 1) // stride) if auto_pad == "VALID" else -(-n // stride) for n in INPUT[2:]]
    return [INPUT[0], 4, *spatial]


def main() -> int:
    x = np.ones(INPUT, np.float32)
    differs = False
    print(f"onnx {onnx.__version__}")
    for auto_pad in ("VALID", "SAME_UPPER"):
        for stride in (1, 2):
            want = expected(auto_pad, stride)
            try:
                got = list(ReferenceEvaluator(model(auto_pad, stride)).run(None, {"X": x})[0].shape)
            except ValueError as exc:
                got = f"ValueError: {exc}"
            ok = got == want
            differs |= not ok
            print(f"    {auto_pad:10s} stride {stride}: expected {want}, got {got}{'' if ok else '   <- differs'}")
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
