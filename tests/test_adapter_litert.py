"""litert.layer: the Keras layer (TensorFlow backend) converted with the TFLite converter and run in the
LiteRT interpreter (conformance/adapters/litert.py), on hand-computed examples."""
from __future__ import annotations

import importlib.metadata
import importlib.util

import numpy as np
import pytest

from conformance.adapters import litert

# The converter's text, as TF 2.21 words a float64 Conv2D (locations shortened): the MLIR locations
# name temporary functions and source files, which no record should carry.
CONVERTER_TEXT = (
    'Could not translate MLIR to FlatBuffer.<unknown>:0: error: loc(callsite(fused["Conv2D:", "f/conv@__inference_9"] '
    'at fused["StatefulPartitionedCall:", "S_1"])): \'tf.Conv2D\' op is neither a custom op nor a flex op\n'
    '<unknown>:0: note: loc(fused["StatefulPartitionedCall:", "S_1"]): called from\n'
    "<unknown>:0: error: failed while converting: 'main': \n"
    "Some ops are not supported by the native TFLite runtime, you can enable TF kernels fallback using TF Select.\n"
    "TF Select ops: Conv2D\nDetails:\n\ttf.Conv2D(tensor<1x4x4x3xf64>, tensor<3x3x3x4xf64>) -> (tensor<1x4x4x4xf64>)\n\n"
    '<unknown>:0: note: see current operation: \n"func.func"() ...\n')


def test_the_converters_reason_keeps_its_summary_without_locations():
    assert litert.converter_reason(CONVERTER_TEXT) == (
        "Some ops are not supported by the native TFLite runtime, you can enable TF kernels fallback using TF Select. "
        "TF Select ops: Conv2D Details: tf.Conv2D(tensor<1x4x4x3xf64>, tensor<3x3x3x4xf64>) -> (tensor<1x4x4x4xf64>)")


def test_without_a_summary_the_converters_error_lines_lose_their_locations():
    text = CONVERTER_TEXT.split("<unknown>:0: error: failed")[0]
    assert litert.converter_reason(text) == (
        "Could not translate MLIR to FlatBuffer. error: 'tf.Conv2D' op is neither a custom op nor a flex op")


for package in ("tensorflow", "keras"):
    if importlib.util.find_spec(package) is None:  # not imported here: the adapter imports TensorFlow
        pytest.skip(f"{package} is not installed", allow_module_level=True)  # with its worker's variables

from conformance import Case  # noqa: E402
from conformance.adapters import Target, Unsupported, load_adapter  # noqa: E402
from conformance.check.evaluate import evaluate  # noqa: E402
from conformance.spec.inputs import make_inputs  # noqa: E402

# docs/semantics.md, worked example: TF's conv2d_transpose 'SAME', 3x3 kernel of ones, stride 2, on
# [[1, 2], [3, 4]]: the full 5x5 scatter cropped [0, 1] in each dim (the odd element at the end).
SAME_K3_S2 = {"id": "litert-test-same", "op": "conv_transpose", "input_shape": [1, 1, 2, 2], "out_channels": 1,
              "kernel_size": 3, "stride": 2, "padding": "same", "bias": False,
              "data": {"input": [[[[1, 2], [3, 4]]]], "weight": {"fill": 1}}}
SAME_K3_S2_OUTPUT = [[[[1, 1, 3, 2], [1, 1, 3, 2], [4, 4, 10, 6], [3, 3, 7, 4]]]]
# A depthwise 1x1 conv with depth multiplier 2 on channels of ones and tens: output channel c * 2 + m
# reads input channel c with weight w[c * 2 + m] = 1, 2, 3, 4, plus bias 0.5: 1.5, 2.5, 30.5, 40.5.
DEPTHWISE = {"id": "litert-test-depthwise", "op": "conv", "input_shape": [1, 2, 2, 3], "out_channels": 4,
             "kernel_size": 1, "groups": 2,
             "data": {"input": [[[[1] * 3] * 2, [[10] * 3] * 2]], "weight": [[[[1]]], [[[2]]], [[[3]]], [[[4]]]],
                      "bias": [0.5, 0.5, 0.5, 0.5]}}


@pytest.fixture(scope="module")
def adapter():
    return load_adapter("tensorflow")


def observe(adapter, fields, dtype="float32"):
    case = Case.from_dict(fields)
    return adapter.run(litert.API, case, dtype, "cpu", make_inputs(case, dtype))


def test_the_converted_transposed_conv_crops_as_tensorflow_does(adapter):
    obs = observe(adapter, SAME_K3_S2)
    np.testing.assert_array_equal(obs.output, SAME_K3_S2_OUTPUT)
    assert obs.layer_weight_shape == (3, 3, 1, 1) and obs.param_count == 9
    assert "TFLiteConverter.from_keras_model" in obs.call and "interpreter.invoke()" in obs.call


def test_a_depthwise_layer_reads_each_channel_with_its_own_kernels(adapter):
    obs = observe(adapter, DEPTHWISE)
    expected = np.array([1.5, 2.5, 30.5, 40.5]).reshape(1, 4, 1, 1) * np.ones((1, 4, 2, 3))
    np.testing.assert_array_equal(obs.output, expected)
    assert obs.layer_weight_shape == (1, 1, 2, 2)  # DepthwiseConv2D's (*k, C_in, depth_multiplier)


def test_gradients_are_unsupported_with_the_reason_and_the_forward_passes(adapter):
    case = Case.from_dict({"id": "litert-test-plain", "op": "conv", "input_shape": [2, 3, 7, 6], "out_channels": 4,
                           "kernel_size": 3, "stride": 2, "padding": "same"})
    records = {r.check: r for r in evaluate(adapter, Target("tensorflow", litert.API, "cpu"), case, "float32")}
    for check in ("grad_input", "grad_weight", "grad_bias"):
        assert records[check].status == "unsupported" and "no gradients" in records[check].message
    assert {c: records[c].status for c in ("output", "output_shape", "weight_shape", "param_count")} == \
        dict.fromkeys(("output", "output_shape", "weight_shape", "param_count"), "pass")


def test_a_float64_model_is_refused_by_the_converter_and_keeps_the_layers_facts(adapter):
    obs = observe(adapter, dict(SAME_K3_S2, id="litert-test-f64"), "float64")
    assert isinstance(obs.output, Unsupported)
    assert str(obs.output).startswith("TFLiteConverter: ") and "loc(" not in str(obs.output)
    assert obs.layer_weight_shape == (3, 3, 1, 1) and obs.param_count == 9


def test_float16_says_why_the_converters_float16_option_is_no_float16_run(adapter):
    obs = observe(adapter, dict(SAME_K3_S2, id="litert-test-f16"), "float16")
    assert isinstance(obs.output, Unsupported) and "supported_types=[tf.float16]" in str(obs.output)


def test_a_model_the_interpreter_cannot_prepare_is_unsupported_in_its_words(adapter, monkeypatch):
    class Refusing:
        def __init__(self, model_content, num_threads=None):
            pass

        def allocate_tensors(self):
            raise RuntimeError("tflite/kernels/transpose_conv.cc:300 planted\nNode number 0 (TRANSPOSE_CONV) failed to prepare.")
    monkeypatch.setattr(litert, "interpreter_class", lambda tf: Refusing)
    obs = observe(adapter, SAME_K3_S2)
    assert str(obs.output) == ("LiteRT interpreter: tflite/kernels/transpose_conv.cc:300 planted "
                               "Node number 0 (TRANSPOSE_CONV) failed to prepare.")
    assert obs.param_count == 9


def test_gpu_is_refused_with_the_reason(adapter):
    case = Case.from_dict(SAME_K3_S2)
    with pytest.raises(Unsupported, match="runs on the CPU"):
        adapter.run(litert.API, case, "float32", "gpu", make_inputs(case, "float32"))


def test_without_ai_edge_litert_tensorflows_interpreter_runs_and_the_environment_says_so(adapter, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ai_edge_litert" else find_spec(name, *a))
    assert litert.interpreter_class(adapter.tf) is adapter.tf.lite.Interpreter
    assert litert.environment()["interpreter"].startswith("tf.lite.Interpreter")
    adapter.take_warnings()
    np.testing.assert_array_equal(observe(adapter, SAME_K3_S2).output, SAME_K3_S2_OUTPUT)
    assert any("tf.lite.Interpreter is deprecated" in w for w in adapter.take_warnings())  # kept for the records


def test_the_environment_names_the_interpreter_package():
    if importlib.util.find_spec("ai_edge_litert") is None:
        pytest.skip("ai-edge-litert is not installed")
    env = litert.environment()
    assert env["interpreter"] == "ai_edge_litert.interpreter.Interpreter"
    assert env["ai_edge_litert"] == importlib.metadata.version("ai-edge-litert")
