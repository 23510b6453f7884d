"""ONNX ConvTranspose with auto_pad SAME_UPPER / SAME_LOWER when the kernel is shorter than the stride.

What it shows
-------------
The operator's auto_pad text (https://onnx.ai/onnx/operators/onnx__ConvTranspose.html) says
SAME_UPPER and SAME_LOWER "pad the input so that output_shape[i] = input_shape[i] * strides[i]".
When k_eff + output_padding < stride, the full output stride * (in - 1) + k_eff + output_padding is
shorter than in * stride, so the total padding is negative, and the three ONNX implementations
here disagree (input [1, 2, 3], kernel [1], stride 2: full output [1, 0, 2, 0, 3], in * stride = 6):

- ONNX Runtime (CPU) clamps the total at zero (ComputeTotalPad, std::max(0, ...) in
  onnxruntime/core/providers/common.h) and returns the full output, 5 long, not 6;
- ONNX's own shape inference (onnx.shape_inference) also infers 5;
- OpenVINO's ONNX frontend (CPU plugin, where openvino is installed) clamps too and returns 5;
- the reference evaluator (onnx.reference) returns 6, but splits the negative total with Python's
  floor division: SAME_UPPER pads [-1, 0], so the extra zero comes first, [0, 1, 0, 2, 0, 3];
  SAME_LOWER pads [0, -1]: [1, 0, 2, 0, 3, 0]; with a total of -2 (stride 3) both put a zero at
  each end.

The suite's meaning ('same' and 'same_lower', docs/semantics.md): in * stride long, the adjoint of
the 'same' conv on an input of in * stride (whose total padding is clamped at zero), i.e. the full
output with zeros appended at the end: [1, 0, 2, 0, 3, 0]. No upstream report of this was found.

How to run
----------
    python examples/onnx_convtranspose_same_kernel_lt_stride.py

It prints each implementation's output for both auto_pad values and strides 2 and 3, and exits 1
when any differs from the suite's meaning.

What it printed here (onnx 1.23.2, onnxruntime 1.32.0, Linux x86-64)
--------------------------------------------------------------------
    stride 2 SAME_UPPER: expected [1.0, 0.0, 2.0, 0.0, 3.0, 0.0]; shape inference 5
        reference    [0.0, 1.0, 0.0, 2.0, 0.0, 3.0]   <- differs
        onnxruntime  [1.0, 0.0, 2.0, 0.0, 3.0]   <- differs
    stride 2 SAME_LOWER: expected [1.0, 0.0, 2.0, 0.0, 3.0, 0.0]; shape inference 5
        reference    [1.0, 0.0, 2.0, 0.0, 3.0, 0.0]
        onnxruntime  [1.0, 0.0, 2.0, 0.0, 3.0]   <- differs
    stride 3 SAME_UPPER: ... reference [0, 1, 0, 0, 2, 0, 0, 3, 0], onnxruntime 7 long
    stride 3 SAME_LOWER: ... reference [0, 1, 0, 0, 2, 0, 0, 3, 0], onnxruntime 7 long
With openvino 2026.4.1 installed, an `openvino` line follows each `onnxruntime` line, with the same
values as ONNX Runtime's.
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

try:
    import onnxruntime as ort
except ImportError:
    ort = None
try:
    import openvino as ov
except ImportError:
    ov = None


def model(auto_pad: str, stride: int):
    w = numpy_helper.from_array(np.ones((1, 1, 1), np.float32), "W")
    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], auto_pad=auto_pad, strides=[stride], kernel_shape=[1])
    graph = helper.make_graph([node], "convtranspose_same", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1, 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None] * 3)], initializer=[w])
    m = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 22)])
    onnx.checker.check_model(m)
    return m


def expected(stride: int) -> list[float]:
    """The full output (x scattered at stride), then zeros appended up to 3 * stride."""
    full = [0.0] * (stride * 2 + 1)
    for i, v in enumerate((1.0, 2.0, 3.0)):
        full[i * stride] = v
    return full + [0.0] * (3 * stride - len(full))


def main() -> int:
    x = np.array([[[1, 2, 3]]], np.float32)
    differs = False
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__ if ort else 'not installed'}, "
          f"openvino {ov.get_version() if ov else 'not installed'}")
    for stride in (2, 3):
        want = expected(stride)
        for auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            m = model(auto_pad, stride)
            inferred = [d.dim_value for d in shape_inference.infer_shapes(m).graph.output[0].type.tensor_type.shape.dim]
            got = {"reference": ReferenceEvaluator(m).run(None, {"X": x})[0].ravel().tolist()}
            if ort is not None:
                session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
                got["onnxruntime"] = session.run(None, {"X": x})[0].ravel().tolist()
            if ov is not None:
                core = ov.Core()
                ov_model = core.read_model(m.SerializeToString(), ov.Tensor(np.empty(0, np.uint8)))
                compiled = core.compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
                got["openvino"] = np.asarray(compiled([x])[0]).ravel().tolist()
            print(f"stride {stride} {auto_pad}: expected {want}; shape inference {inferred[2]}")
            for name, values in got.items():
                ok = values == want
                differs |= not ok
                print(f"    {name:12s} {values}{'' if ok else '   <- differs'}")
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
