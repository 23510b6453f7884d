"""The ONNX adapter (onnxruntime and onnx.reference): the attributes it builds, results worked out by
hand, the refusals it reports, and its reproducer. Skipped, with the reason, without onnx."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the [onnx] extra (onnx, onnxruntime) is not installed")

from conformance import Case  # noqa: E402
from conformance.adapters import Target, Unsupported, load_adapter  # noqa: E402
from conformance.check.evaluate import evaluate  # noqa: E402
from conformance.spec.inputs import Inputs  # noqa: E402


def apis():
    """The ONNX targets this installation has: onnx.reference always, onnxruntime when installed."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return ["onnx.reference"]
    return ["onnxruntime", "onnx.reference"]


@pytest.fixture(scope="module")
def adapter():
    return load_adapter("onnx")


def case(**fields) -> Case:
    return Case.from_dict({"id": "onnx-" + ",".join(f"{k}={v}" for k, v in fields.items()), **fields})


def run_1d(adapter, api, c: Case, x, w, dtype="float32"):
    """The adapter on hand-made data: one batch item, one channel in and out, no bias."""
    x, w = np.asarray(x, float).reshape(c.input_shape), np.asarray(w, float).reshape(c.weight_shape)
    inputs = Inputs(input=x, weight=w, bias=None, grad_output=np.zeros(c.output_shape))
    return adapter.run(api, c, dtype, "cpu", inputs)


# ---------------------------------------------------------------- the node's attributes
def test_explicit_pairs_are_pads_in_onnx_order(adapter):
    c = case(op="conv", input_shape=[1, 1, 6, 7], out_channels=2, kernel_size=[2, 3], stride=[1, 2],
             padding=[[0, 1], [2, 3]], dilation=[2, 1])
    assert adapter.node_attributes(c) == {"kernel_shape": [2, 3], "strides": [1, 2], "dilations": [2, 1],
                                          "group": 1, "pads": [0, 2, 1, 3]}


def test_causal_is_its_explicit_pads(adapter):
    c = case(op="conv", input_shape=[1, 2, 8], out_channels=2, kernel_size=3, dilation=2, padding="causal")
    assert adapter.node_attributes(c)["pads"] == [4, 0]  # [k_eff - 1 at the beginning, 0 at the end]


@pytest.mark.parametrize("padding,auto_pad", [("valid", "VALID"), ("same", "SAME_UPPER"), ("same_lower", "SAME_LOWER")])
def test_keywords_are_onnx_auto_pad(adapter, padding, auto_pad):
    c = case(op="conv_transpose", input_shape=[1, 4, 5], out_channels=4, kernel_size=4, stride=2,
             padding=padding, output_padding=1, groups=2)
    attrs = adapter.node_attributes(c)
    assert attrs["auto_pad"] == auto_pad and "pads" not in attrs and "output_shape" not in attrs
    assert attrs["output_padding"] == [1] and attrs["group"] == 2


def test_no_output_padding_attribute_without_one(adapter):
    c = case(op="conv_transpose", input_shape=[1, 1, 5], out_channels=1, kernel_size=3, stride=2)
    assert "output_padding" not in adapter.node_attributes(c)


# ---------------------------------------------------------------- results worked out by hand
# Conv, x = [1, 2, 3, 4, 5, 6], w = [1, 1, 1], stride 2, 'same': out = ceil(6 / 2) = 3, total
# padding (3 - 1) * 2 + 3 - 6 = 1. SAME_UPPER pads [0, 1]: windows [1,2,3], [3,4,5], [5,6,0].
# SAME_LOWER pads [1, 0]: windows [0,1,2], [2,3,4], [4,5,6].
CONV_BY_HAND = {"same": [6, 12, 11], "same_lower": [3, 9, 15], "valid": [6, 12]}
# ConvTranspose, x = [1, 2], w = [1, 1, 1], stride 2: the full output is [1, 1, 1+2, 2, 2] =
# [1, 1, 3, 2, 2]; 'same' (out = 2 * 2 = 4) crops its odd element at the end, 'same_lower' at the
# beginning; 'valid' crops nothing.
CONV_TRANSPOSE_BY_HAND = {"same": [1, 1, 3, 2], "same_lower": [1, 3, 2, 2], "valid": [1, 1, 3, 2, 2]}


@pytest.mark.parametrize("api", apis())
@pytest.mark.parametrize("padding", ["same", "same_lower", "valid"])
def test_conv_by_hand(adapter, api, padding):
    c = case(op="conv", input_shape=[1, 1, 6], out_channels=1, kernel_size=3, stride=2, padding=padding, bias=False)
    obs = run_1d(adapter, api, c, [1, 2, 3, 4, 5, 6], [1, 1, 1])
    assert obs.output.ravel().tolist() == CONV_BY_HAND[padding]


@pytest.mark.parametrize("api", apis())
@pytest.mark.parametrize("padding", ["same", "same_lower", "valid"])
def test_conv_transpose_by_hand(adapter, api, padding):
    c = case(op="conv_transpose", input_shape=[1, 1, 2], out_channels=1, kernel_size=3, stride=2,
             padding=padding, bias=False)
    obs = run_1d(adapter, api, c, [1, 2], [1, 1, 1])
    assert obs.output.ravel().tolist() == CONV_TRANSPOSE_BY_HAND[padding]


@pytest.mark.parametrize("api", apis())
def test_explicit_crop_by_hand(adapter, api):
    """pads [2, 1] crop two elements from the beginning and one from the end of [1, 1, 3, 2, 2]."""
    c = case(op="conv_transpose", input_shape=[1, 1, 2], out_channels=1, kernel_size=3, stride=2,
             padding=[[2, 1]], bias=False)
    assert run_1d(adapter, api, c, [1, 2], [1, 1, 1]).output.ravel().tolist() == [3, 2]


@pytest.mark.parametrize("api", apis())
def test_weight_layouts_are_the_canonical_ones(adapter, api):
    """Conv W (M, C/group, k), ConvTranspose W (C, M/group, k): output channel 1 of a conv reads
    only weight row 1; a transposed conv's output channel 1 only W[:, 1]."""
    conv = case(op="conv", input_shape=[1, 2, 1], out_channels=2, kernel_size=1, bias=False)
    # y[o] = sum_c x[c] w[o, c]: x = [1, 10], w = [[1, 2], [3, 4]] -> [21, 43]
    x, w = np.array([1.0, 10.0]).reshape(1, 2, 1), np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1)
    obs = adapter.run(api, conv, "float32", "cpu", Inputs(x, w, None, np.zeros((1, 2, 1))))
    assert obs.output.ravel().tolist() == [21, 43]
    transposed = case(op="conv_transpose", input_shape=[1, 2, 1], out_channels=2, kernel_size=1, bias=False)
    # y[m] = sum_c x[c] w[c, m] -> [1 + 30, 2 + 40]
    obs = adapter.run(api, transposed, "float32", "cpu", Inputs(x, w, None, np.zeros((1, 2, 1))))
    assert obs.output.ravel().tolist() == [31, 42]
    assert adapter.native_weight_shape(api, transposed) == transposed.weight_shape


# ---------------------------------------------------------------- through evaluate
@pytest.mark.parametrize("api", apis())
def test_inference_only_output_compared_gradients_unsupported(adapter, api):
    c = case(op="conv", input_shape=[2, 4, 7, 6], out_channels=4, kernel_size=3, stride=2, padding="same_lower",
             groups=2)
    got = {r.check: r for r in evaluate(adapter, Target("onnx", api, "cpu"), c, "float32")}
    assert {k: got[k].status for k in ("output_shape", "output")} == {"output_shape": "pass", "output": "pass"}
    for check in ("grad_input", "grad_weight", "grad_bias"):
        assert got[check].status == "unsupported" and "inference only" in got[check].message
    assert "weight_shape" not in got and "param_count" not in got  # not a layer API


def test_onnxruntime_refusal_keeps_its_text(adapter):
    pytest.importorskip("onnxruntime")
    c = case(op="conv", input_shape=[1, 2, 5], out_channels=2, kernel_size=3, dilation=2, padding="same")
    got = {r.check: r for r in evaluate(adapter, Target("onnx", "onnxruntime", "cpu"), c, "float32")}
    if got["output"].status == "pass":
        pytest.skip("this onnxruntime computes dilated auto_pad SAME convs")
    assert got["output"].status == "unsupported"
    assert got["output"].message.startswith("InvalidArgument: [ONNXRuntimeError]"), got["output"].message


def test_reference_runs_on_the_cpu_only(adapter):
    c = case(op="conv", input_shape=[1, 1, 3], out_channels=1, kernel_size=1)
    with pytest.raises(Unsupported, match="CPU only"):
        adapter.run("onnx.reference", c, "float32", "gpu", None)


# ---------------------------------------------------------------- environment and reproducer
def test_opset_is_one_both_packages_know(adapter):
    env = adapter.environment()
    assert env["opset"] <= env["opset_onnx_helper_newest"] <= onnx.defs.onnx_opset_version() == env["opset_onnx_newest"]
    onnx.helper.make_model_gen_version(onnx.helper.make_graph([], "g", [], []),  # the helper builds it
                                       opset_imports=[onnx.helper.make_opsetid("", env["opset_onnx_helper_newest"])])
    if env["onnxruntime"] is not None:
        assert env["opset"] == env["opset_onnxruntime_newest"]
    assert env["onnx"] == onnx.__version__


@pytest.mark.parametrize("api", apis())
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_reproducer_runs_and_builds_the_same_node(adapter, api, dtype):
    c = case(op="conv_transpose", input_shape=[1, 2, 3, 4], out_channels=4, kernel_size=3, stride=2,
             padding="same", output_padding=1)
    x = np.arange(24.0).reshape(c.input_shape) / 8
    try:
        obs = adapter.run(api, c, dtype, "cpu", Inputs(x, np.ones(c.weight_shape), np.zeros(4), None))
    except Unsupported as exc:  # onnxruntime has no bfloat16 ConvTranspose on the CPU
        pytest.skip(f"{api} refuses {dtype}: {exc}")
    scope: dict = {}
    exec(compile(obs.call, "<reproducer>", "exec"), scope)  # noqa: S102 - the snippet is ours
    assert tuple(scope["y"].shape) == c.output_shape == obs.output.shape
    assert scope["node"].op_type == "ConvTranspose"
    assert {a.name: onnx.helper.get_attribute_value(a) for a in scope["node"].attribute}["auto_pad"] == b"SAME_UPPER"
