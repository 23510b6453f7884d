"""The TensorFlow adapter (tf.nn and keras.layer) against the oracle, end to end through `evaluate`."""
from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")

from conformance import Case  # noqa: E402
from conformance.adapters import Target, load_adapter  # noqa: E402
from conformance.check.evaluate import evaluate  # noqa: E402

APIS = ("tf.nn", "keras.layer")


@pytest.fixture(scope="module")
def adapter():
    return load_adapter("tensorflow")


def case(name: str, **fields) -> Case:
    return Case.from_dict({"id": f"tf-test-{name}", **fields})


def run(adapter, api, c: Case, dtype: str = "float32"):
    return evaluate(adapter, Target("tensorflow", api, "cpu"), c, dtype)


def statuses(results) -> dict[str, str]:
    return {r.check: r.status for r in results}


# TensorFlow's oneDNN switch is read at import, so the two kernel families run in two worker kinds:
# `tensorflow` (oneDNN off: Eigen) and `tensorflow-onednn` (on). This process runs the first one
# (tests/conftest.py turns oneDNN off before anything imports TensorFlow); the tests of what
# differs between them run both kinds in their workers.
GROUPED = dict(op="conv", input_shape=[1, 4, 6, 6], out_channels=4, kernel_size=3, groups=4)
CONV3D_SAME_K1_S3 = dict(op="conv", input_shape=[1, 2, 6, 3, 3], out_channels=2, kernel_size=1, stride=3,
                         padding="same")


@pytest.fixture(scope="module")
def both_kernel_families():
    """(target, case id, dtype, check) -> record, for two cases on the nn targets of both kinds, run in
    workers; skipped where this TensorFlow has no oneDNN to turn on (its worker records enabled=false)."""
    from conformance.run.selection import Selection
    from conformance.run.suite import run_suite

    cases = [case("grouped", **GROUPED, dtypes=["float32", "float64"]),
             case("conv3d-same-k1s3", **CONV3D_SAME_K1_S3, dtypes=["float32", "float64"])]
    run = run_suite(cases, Selection(targets=["tf.nn@cpu", "tf.onednn.nn@cpu"], jobs=2, cache_dir="none"))
    sections = run.environment["frameworks"]
    assert sections["tensorflow"]["onednn"]["enabled"] is False, sections["tensorflow"]["onednn"]
    if not sections["tensorflow-onednn"]["onednn"]["enabled"]:
        pytest.skip("this TensorFlow runs no oneDNN kernels even with TF_ENABLE_ONEDNN_OPTS=1")
    return {(f"{r.api}@{r.device}", r.case, r.dtype, r.check): r for r in run.results}


PLAIN = {
    "conv2d-same-stride2": dict(op="conv", input_shape=[2, 3, 7, 6], out_channels=4, kernel_size=3, stride=2,
                                padding="same"),
    "conv1d-valid-dilated": dict(op="conv", input_shape=[2, 3, 11], out_channels=4, kernel_size=3, dilation=2,
                                 bias=False),
    "conv3d-valid": dict(op="conv", input_shape=[1, 2, 5, 4, 5], out_channels=3, kernel_size=2),
    "convT2d-valid-stride2-outpad1": dict(op="conv_transpose", input_shape=[2, 3, 4, 5], out_channels=4,
                                          kernel_size=3, stride=2, output_padding=1),
    "convT1d-same-stride2": dict(op="conv_transpose", input_shape=[2, 3, 5], out_channels=2, kernel_size=4,
                                 stride=2, padding="same"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("name", list(PLAIN))
def test_plain_cases_pass_every_check(adapter, name, api, dtype):
    results = run(adapter, api, case(name, **PLAIN[name]), dtype)
    bad = {r.check: f"{r.status}: {r.message}" for r in results if r.status != "pass"}
    assert not bad, bad
    checks = {r.check for r in results}
    assert {"output", "grad_input", "grad_weight"} <= checks
    assert ({"weight_shape", "param_count"} <= checks) == (api == "keras.layer")
    assert results[0].call.startswith("import")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("api", APIS)
def test_low_precision_runs_on_cpu(adapter, api, dtype):
    results = run(adapter, api, case("lowp", **PLAIN["conv2d-same-stride2"]), dtype)
    assert set(statuses(results).values()) == {"pass"}, [(r.check, r.message) for r in results]


def test_reproducer_snippet_runs_and_gives_the_output_shape(adapter):
    c = case("snippet", **PLAIN["convT2d-valid-stride2-outpad1"])
    call = run(adapter, "tf.nn", c)[0].call
    namespace: dict = {}
    exec(call, namespace)  # noqa: S102 - our own generated snippet
    assert tuple(namespace["y"].shape) == (2, 10, 12, 4)  # channels-last form of the case's output shape


# ----------------------------------------------------------------------------- expressibility
def test_explicit_asymmetric_pads_are_unsupported_on_keras(adapter):
    c = case("asym", op="conv", input_shape=[1, 2, 7, 7], out_channels=3, kernel_size=3, padding=[[1, 2], [0, 1]])
    results = run(adapter, "keras.layer", c)
    assert set(statuses(results).values()) == {"unsupported"}
    assert "explicit" in results[0].message


@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_explicit_asymmetric_pads_in_2d_pass_on_tf_nn(adapter, op):
    # tf.nn.conv2d and tf.nn.conv2d_transpose take explicit [begin, end] pairs per dim.
    c = case(f"asym-{op}", op=op, input_shape=[1, 2, 7, 7], out_channels=3, kernel_size=3, stride=2,
             padding=[[1, 2], [0, 1]])
    assert set(statuses(run(adapter, "tf.nn", c)).values()) == {"pass"}


def test_explicit_pads_in_1d_are_refused_by_tf_with_its_own_text(adapter):
    c = case("pad1d", op="conv", input_shape=[1, 2, 9], out_channels=3, kernel_size=3, padding=[[2, 0]])
    results = run(adapter, "tf.nn", c)
    assert set(statuses(results).values()) == {"unsupported"}
    assert results[0].message.startswith("TypeError:") and "padding" in results[0].message
    # under tf.function the refusal is the same words, without the traced frames (our file paths)
    compiled = run(adapter, "tf.xla.nn", c)
    assert set(statuses(compiled).values()) == {"unsupported"}
    assert compiled[0].message == results[0].message, compiled[0].message


@pytest.mark.parametrize("api, expected", [("tf.nn", "unsupported"), ("keras.layer", "pass")])
def test_causal_is_a_keras_keyword_only(adapter, api, expected):
    c = case("causal", op="conv", input_shape=[2, 2, 9], out_channels=3, kernel_size=3, dilation=2,
             padding="causal")
    assert set(statuses(run(adapter, api, c)).values()) == {expected}


@pytest.mark.parametrize("api", APIS)
def test_groups_on_conv_transpose_are_unsupported(adapter, api):
    c = case("groupsT", op="conv_transpose", input_shape=[1, 4, 5, 5], out_channels=4, kernel_size=3, groups=2)
    results = run(adapter, api, c)
    assert set(statuses(results).values()) == {"unsupported"}
    assert "groups" in results[0].message


def test_stride_with_dilation_is_refused_by_keras(adapter):
    c = case("sd", op="conv", input_shape=[1, 2, 9, 9], out_channels=3, kernel_size=3, stride=2, dilation=2)
    results = run(adapter, "keras.layer", c)
    assert set(statuses(results).values()) == {"unsupported"}
    assert results[0].message.startswith("ValueError:")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_conv_gradients_on_cpu_are_refused_by_eigen_computed_by_onednn(both_kernel_families, dtype):
    # TF's Eigen CPU kernels run grouped convs forward but not backward (tensorflow/tensorflow#53631);
    # its oneDNN kernels compute the gradients too, in float32 (TF never gives oneDNN float64).
    got = lambda target, check: both_kernel_families[(target, "tf-test-grouped", dtype, check)]  # noqa: E731
    for target in ("tf.nn@cpu", "tf.onednn.nn@cpu"):
        assert got(target, "output").status == "pass", got(target, "output").message
    refused = ["tf.nn@cpu"] + (["tf.onednn.nn@cpu"] if dtype == "float64" else [])
    for target in refused:
        assert got(target, "grad_input").status == "unsupported"
        assert "grouped convolutions are not supported on CPU" in got(target, "grad_input").message
    if dtype == "float32":
        for check in ("grad_input", "grad_weight", "grad_bias"):
            assert got("tf.onednn.nn@cpu", check).status == "pass", got("tf.onednn.nn@cpu", check).message


@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_keras_layer_passes(adapter, multiplier):
    c = case(f"dw{multiplier}", op="conv", input_shape=[2, 3, 7, 6], out_channels=3 * multiplier, kernel_size=3,
             groups=3, stride=2, padding="same")
    assert set(statuses(run(adapter, "keras.layer", c)).values()) == {"pass"}


# ----------------------------------------------------------------------------- weight layouts
CONV = dict(op="conv", input_shape=[1, 4, 9, 9], out_channels=8, kernel_size=3)
WEIGHT_SHAPES = [
    ("conv-tf.nn", "tf.nn", CONV, (3, 3, 4, 8)),
    ("conv-keras", "keras.layer", CONV, (3, 3, 4, 8)),
    ("grouped-keras", "keras.layer", {**CONV, "groups": 2}, (3, 3, 2, 8)),
    ("depthwise-tf.nn", "tf.nn", {**CONV, "groups": 4}, (3, 3, 1, 8)),
    ("depthwise-keras", "keras.layer", {**CONV, "groups": 4}, (3, 3, 4, 2)),  # (*k, C_in, multiplier)
    ("depthwise3d-keras", "keras.layer", {**CONV, "input_shape": [1, 4, 5, 5, 5], "groups": 4},
     (3, 3, 3, 1, 8)),  # no DepthwiseConv3D: Conv3D(groups=C_in)
    ("transposed-tf.nn", "tf.nn", {**CONV, "op": "conv_transpose", "kernel_size": [2, 3]}, (2, 3, 8, 4)),
    ("transposed-keras", "keras.layer", {**CONV, "op": "conv_transpose"}, (3, 3, 8, 4)),  # (*k, O, I)
]


@pytest.mark.parametrize("api, fields, expected", [w[1:] for w in WEIGHT_SHAPES], ids=[w[0] for w in WEIGHT_SHAPES])
def test_native_weight_shape(adapter, api, fields, expected):
    assert adapter.native_weight_shape(api, case("w", **fields)) == expected


# ----------------------------------------------------------------------------- real framework differences
def test_keras_inferred_output_padding_when_kernel_is_smaller_than_stride(adapter):
    # Keras' default output_padding=None infers max(k_eff, stride) - k_eff for 'valid', so the output is
    # in * stride, not (in - 1) * stride + k_eff
    # (keras/src/backend/common/backend_utils.py _get_output_shape_given_tf_padding;
    # https://github.com/tensorflow/tensorflow/issues/50168).
    c = case("kT-lt-s", op="conv_transpose", input_shape=[1, 2, 5], out_channels=3, kernel_size=1, stride=2)
    results = {r.check: r for r in run(adapter, "keras.layer", c)}
    assert results["output_shape"].status == "fail"
    assert results["output_shape"].got == [1, 3, 10] and results["output_shape"].expected == [1, 3, 9]
    assert results["weight_shape"].status == "pass"
    assert results["grad_input"].status == "unsupported"  # the case's upstream gradient no longer fits


def test_keras_same_with_output_padding_has_keras_own_size(adapter):
    # With output_padding given, Keras sizes a 'same' transposed conv as (in - 1) * stride + k_eff % 2 + op
    # (a symmetric k//2 crop), not in * stride (https://github.com/keras-team/keras/issues/15666).
    c = case("same-op", op="conv_transpose", input_shape=[1, 2, 5], out_channels=3, kernel_size=4, stride=2,
             padding="same", output_padding=1)
    results = {r.check: r for r in run(adapter, "keras.layer", c)}
    assert results["output_shape"].status == "fail"
    assert results["output_shape"].got == [1, 3, 9] and results["output_shape"].expected == [1, 3, 10]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tf_cpu_conv3d_same_with_kernel_smaller_than_stride(both_kernel_families, dtype):
    # TF's Eigen CPU Conv3D does not clamp the SAME padding at 0 when (out - 1) * stride + k_eff - in <= -2:
    # it shifts the window start (here by 1), unlike Conv2D and the documented rule
    # (https://www.tensorflow.org/api_docs/python/tf/nn#notes_on_padding_2; the 2-D fixes were
    # https://github.com/tensorflow/tensorflow/pull/1991 and, in Eigen's image patches, #16705). Shape is
    # right, values are not. oneDNN's Conv3D (float32 with oneDNN on) computes it right.
    got = lambda target, check: both_kernel_families[(target, "tf-test-conv3d-same-k1s3", dtype, check)]  # noqa: E731
    eigen = {"tf.nn@cpu": True, "tf.onednn.nn@cpu": dtype == "float64"}
    for target, on_eigen in eigen.items():
        assert got(target, "output_shape").status == "pass"
        assert got(target, "output").status == ("fail" if on_eigen else "pass"), (target, got(target, "output").message)


# ----------------------------------------------------------------------------- one missing piece hides no other
# 2-D: keras Conv2D runs BaseConv.call (Conv1D has its own, for causal padding)
BIASED = dict(op="conv", input_shape=[2, 2, 5, 6], out_channels=3, kernel_size=3, bias=True)


def _unused_bias(monkeypatch, api):
    """The bias left out of the forward, as a buggy call would: tape.gradient then returns None for it."""
    if api == "tf.nn":
        monkeypatch.setattr(tf.nn, "bias_add", lambda y, b, **kwargs: y)
    else:
        from keras.src.layers.convolutional.base_conv import BaseConv

        monkeypatch.setattr(BaseConv, "call", lambda self, inputs: self.convolution_op(inputs, self.kernel))


@pytest.mark.parametrize("api", APIS)
def test_a_bias_the_forward_never_uses_fails_output_and_grad_bias_only(adapter, api, monkeypatch):
    _unused_bias(monkeypatch, api)
    got = {r.check: r for r in run(adapter, api, case("bias-unused", **BIASED))}
    assert got["output"].status == "fail" and "its bound" in got["output"].message
    assert (got["grad_bias"].status, got["grad_bias"].message) == (
        "fail", "the framework returned no gradient for the bias")
    for check in ("output_shape", "grad_input", "grad_weight"):
        assert got[check].status == "pass", (check, got[check].message)


@pytest.mark.parametrize("api", APIS)
def test_a_backward_that_raises_keeps_the_output_compared(adapter, api, monkeypatch):
    """tf.nn.convolution (which Keras' Conv2D calls too) with a gradient function that raises, not a
    refusal: the gradients are errors with its text, the output computed before it is compared."""
    real = tf.nn.convolution

    @tf.custom_gradient
    def broken_backward(y):
        def grad(dy):
            raise ZeroDivisionError("planted in the backward pass")
        return tf.identity(y), grad

    monkeypatch.setattr(tf.nn, "convolution", lambda *args, **kwargs: broken_backward(real(*args, **kwargs)))
    got = {r.check: r for r in run(adapter, api, case("backward-raises", **BIASED))}
    assert got["output"].status == got["output_shape"].status == "pass", got["output"].message
    for check, what in (("grad_input", "input"), ("grad_weight", "weight"), ("grad_bias", "bias")):
        assert (got[check].status, got[check].message) == (
            "error", f"computing the gradient for the {what} raised ZeroDivisionError: planted in the backward pass")


@pytest.mark.parametrize("api", ["keras.layer", "litert.layer"])
def test_a_layer_built_with_a_misspelt_keyword_is_an_error(adapter, api, monkeypatch):
    """Our own mistake in building the layer (a keyword Keras renamed or we misspelt) raises inside the
    framework's constructor; it is no refusal of the case, so its records are `error`, not `unsupported`."""
    from conformance.adapters import keras_layers

    real = keras_layers.layer_spec

    def misspelt(c, dtype):
        cls, kwargs = real(c, dtype)
        kwargs["dilaton_rate"] = kwargs.pop("dilation_rate")
        return cls, kwargs

    monkeypatch.setattr(keras_layers, "layer_spec", misspelt)
    got = run(adapter, api, case("misspelt", op="conv", input_shape=[1, 2, 6, 6], out_channels=2, kernel_size=3))
    assert {r.status for r in got} == {"error"}, [(r.check, r.status, r.message) for r in got]
    assert all("dilaton_rate" in r.message for r in got)


def test_keras_own_refusal_is_still_unsupported(adapter):
    got = run(adapter, "keras.layer", case("strided-dilated", op="conv", input_shape=[1, 2, 9, 9], out_channels=2,
                                            kernel_size=3, stride=2, dilation=2))
    assert {r.status for r in got} == {"unsupported"}
    assert all("`strides > 1` not supported in conjunction with `dilation_rate > 1`" in r.message for r in got)
