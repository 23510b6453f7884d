"""The ONNX reference evaluator's ConvTranspose: grouped transposed convs, and output_padding >= stride.

What it shows
-------------
1. group > 1. onnx.reference.ops.op_conv_transpose.ConvTranspose handles groups by slicing W along
   its first axis with the *output* channel count (W is (C, M/group, k...), its first axis the
   input channels), adding the whole bias to every group, and writing each group's result into a
   single output channel. So a grouped ConvTranspose either raises a NumPy ValueError ("cannot
   reshape array ...", "could not broadcast input array ...") or, for depthwise shapes
   (C == M == group), returns an output of the right shape with wrong values. The expected value
   here is the same evaluator run on each group alone (group=1, which it computes right), the
   results concatenated along the channels; onnxruntime, when installed, agrees with it.
2. output_padding >= stride (with dilation > output_padding). The operator page says each
   output_padding value "must be less than the corresponding stride/dilation dimension"; a
   ConvTranspose with stride 1, dilation 2 and output_padding 1 makes the evaluator's col2im shape
   check raise ValueError ("expected size of input's dimension 2 to match the calculated number of
   sliding blocks"). onnxruntime 1.32 refuses the same model ("output_padding (1) may be too large
   for stride (1)"), though a version of its source reads the spec as output_padding <
   max(stride, dilation) (onnxruntime/core/providers/cpu/nn/conv_transpose_attributes.h, "ONNX
   spec: output_padding[i] should be less than max(stride[i], dilation[i])"). PyTorch computes it.

No upstream report of either was found.

How to run
----------
    python examples/onnx_reference_convtranspose_bugs.py

Exit status 1 when the evaluator raised or differed on any of them, else 0.

What it printed here (onnx 1.23.2, onnxruntime 1.32.0, Linux x86-64)
--------------------------------------------------------------------
    ConvTranspose C=2, M=2, group=2, k=3, stride 2
        reference max |difference| from the per-group result: 1.57
        onnxruntime max |difference| from the per-group result: 0
    ConvTranspose C=4, M=4, group=2, k=3, stride 2
        reference raised ValueError: could not broadcast input array from shape (2,9,9) into shape (1,9,9)
        onnxruntime max |difference| from the per-group result: 0
    ConvTranspose C=4, M=8, group=2, k=3, stride 2
        reference raised ValueError: cannot reshape array of size 144 into shape (1,2,36)
        onnxruntime max |difference| from the per-group result: 0
    ConvTranspose k=3, stride 1, dilation 2, output_padding 1
        reference raised ValueError: Given n_input_plane=3, X.shape=(3, 5), ... expected size of input's
        dimension 2 to match the calculated number of sliding blocks [np.int64(6)] = 6, but got input.size(2)=5.
        onnxruntime: InvalidArgument: ... output_padding (1) may be too large for stride (1). ...
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

try:
    import onnxruntime as ort
except ImportError:
    ort = None


def model(w: np.ndarray, b: np.ndarray, x_shape, **attrs):
    node = helper.make_node("ConvTranspose", ["X", "W", "B"], ["Y"], **attrs)
    graph = helper.make_graph([node], "convtranspose", [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None] * len(x_shape))],
                              initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    m = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 22)])
    onnx.checker.check_model(m)
    return m


def run_reference(m, x):
    try:
        return ReferenceEvaluator(m).run(None, {"X": x})[0]
    except ValueError as exc:
        return exc


def run_ort(m, x):
    if ort is None:
        return "onnxruntime not installed"
    try:
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
    except Exception as exc:  # noqa: BLE001 - ORT's refusal, printed
        return f"{type(exc).__name__}: {exc}"


def per_group(x, w, b, group, **attrs):
    """The evaluator on each group alone (group=1), concatenated along the output channels."""
    c, m_per = x.shape[1] // group, w.shape[1]
    parts = [ReferenceEvaluator(model(w[g * c:(g + 1) * c], b[g * m_per:(g + 1) * m_per], list(x[:, g * c:(g + 1) * c].shape),
                                      group=1, **attrs)).run(None, {"X": x[:, g * c:(g + 1) * c]})[0]
             for g in range(group)]
    return np.concatenate(parts, axis=1)


def show(title, got, want=None, ort_result=None) -> bool:
    """Prints one comparison; True when the evaluator raised or differed."""
    print(title)
    bad = isinstance(got, Exception) or (want is not None and not np.allclose(got, want, rtol=1e-5, atol=1e-5))
    if isinstance(got, Exception):
        print(f"    reference raised {type(got).__name__}: {got}")
    elif want is not None:
        print(f"    reference max |difference| from the per-group result: {np.max(np.abs(got - want)):.3g}")
    if ort_result is not None:
        if isinstance(ort_result, str):
            print(f"    onnxruntime: {ort_result}")
        elif want is not None:
            print(f"    onnxruntime max |difference| from the per-group result: {np.max(np.abs(ort_result - want)):.3g}")
    return bad


def main() -> int:
    rng = np.random.default_rng(0)
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__ if ort else 'not installed'}")
    bad = False
    for c, m_out, group in ((2, 2, 2), (4, 4, 2), (4, 8, 2)):
        x = rng.standard_normal((1, c, 4, 4)).astype(np.float32)
        w = rng.standard_normal((c, m_out // group, 3, 3)).astype(np.float32)
        b = rng.standard_normal(m_out).astype(np.float32)
        attrs = dict(strides=[2, 2], kernel_shape=[3, 3])
        m = model(w, b, list(x.shape), group=group, **attrs)
        want = per_group(x, w, b, group, **attrs)
        bad |= show(f"ConvTranspose C={c}, M={m_out}, group={group}, k=3, stride 2", run_reference(m, x), want, run_ort(m, x))
    x = rng.standard_normal((1, 2, 5)).astype(np.float32)
    w = rng.standard_normal((2, 2, 3)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    m = model(w, b, list(x.shape), kernel_shape=[3], strides=[1], dilations=[2], output_padding=[1])
    bad |= show("ConvTranspose k=3, stride 1, dilation 2, output_padding 1", run_reference(m, x), None, run_ort(m, x))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
