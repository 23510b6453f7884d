"""torch.onnx.layer and torch.onnx.torchscript.layer: the torch.nn layer exported with torch.onnx.export
and run on ONNX Runtime (conformance/adapters/torch_onnx.py), on hand-computed examples."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from conformance import Case  # noqa: E402
from conformance.adapters import Target, Unsupported, load_adapter  # noqa: E402
from conformance.adapters import torch_onnx  # noqa: E402
from conformance.check.evaluate import evaluate  # noqa: E402
from conformance.spec.inputs import make_inputs  # noqa: E402

# The dynamo exporter (the default) needs onnxscript; the TorchScript one does not.
NEEDS_ONNXSCRIPT = pytest.mark.skipif(importlib.util.find_spec("onnxscript") is None,
                                      reason="the default (dynamo) exporter needs onnxscript")
APIS = [pytest.param("torch.onnx.layer", marks=NEEDS_ONNXSCRIPT), "torch.onnx.torchscript.layer"]

# docs/semantics.md, worked example: input [1, 2], kernel [1, 1, 1], stride 2 scatter to the full
# output [1, 1, 1+2, 2, 2]; output_padding 1 appends a 0: [1, 1, 3, 2, 2, 0]; padding 1 crops one
# element at each end: [1, 3, 2, 2] (PyTorch's ConvTranspose1d(padding=1, output_padding=1)).
TRANSPOSED = {"id": "onnx-test-transposed", "op": "conv_transpose", "input_shape": [1, 1, 2], "out_channels": 1,
              "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1, "bias": False,
              "data": {"input": [[[1, 2]]], "weight": {"fill": 1}}}
# One 2x2 filter of ones over channels filled with 1, 100 and 10000, bias 0.5: each output sums four
# pixels of each channel, 4 + 400 + 40000 + 0.5 = 40404.5 (exact in float32).
RGB = {"id": "onnx-test-rgb", "op": "conv", "input_shape": [1, 3, 3, 3], "out_channels": 1, "kernel_size": 2,
       "data": {"input": [[[[1] * 3] * 3, [[100] * 3] * 3, [[10000] * 3] * 3]], "weight": {"fill": 1}, "bias": [0.5]}}


@pytest.fixture(scope="module")
def adapter():
    return load_adapter("torch")


def observe(adapter, api, fields, dtype="float32"):
    case = Case.from_dict(fields)
    return adapter.run(api, case, dtype, "cpu", make_inputs(case, dtype))


@pytest.mark.parametrize("api", APIS)
def test_the_exported_transposed_conv_crops_as_pytorch_does(adapter, api):
    obs = observe(adapter, api, TRANSPOSED)
    np.testing.assert_array_equal(obs.output, [[[1, 3, 2, 2]]])
    assert obs.layer_weight_shape == (1, 1, 3) and obs.param_count == 3
    assert "torch.onnx.export" in obs.call and "InferenceSession" in obs.call


@pytest.mark.parametrize("api", APIS)
def test_the_exported_conv_sums_over_channels_and_adds_the_bias(adapter, api):
    obs = observe(adapter, api, RGB)
    np.testing.assert_array_equal(obs.output, np.full((1, 1, 2, 2), 40404.5))
    assert obs.param_count == 13


@pytest.mark.parametrize("api", APIS)
def test_gradients_are_unsupported_with_the_reason_and_the_forward_passes(adapter, api):
    case = Case.from_dict({"id": "onnx-test-grouped", "op": "conv", "input_shape": [2, 4, 7], "out_channels": 6,
                           "kernel_size": 3, "groups": 2, "dilation": 2, "padding": 2})
    records = {r.check: r for r in evaluate(adapter, Target("torch", api, "cpu"), case, "float32")}
    for check in ("grad_input", "grad_weight", "grad_bias"):
        assert records[check].status == "unsupported" and "no gradients" in records[check].message
    assert {c: records[c].status for c in ("output", "output_shape", "weight_shape", "param_count")} == \
        dict.fromkeys(("output", "output_shape", "weight_shape", "param_count"), "pass")


@pytest.mark.parametrize("dynamo", [pytest.param(True, marks=NEEDS_ONNXSCRIPT), False], ids=["dynamo", "torchscript"])
def test_the_model_is_the_exporters_one_node_with_the_layers_attributes(adapter, dynamo):
    """What ONNX Runtime runs is the exporter's translation: a ConvTranspose node carrying PyTorch's
    padding and output_padding as ONNX pads and output_padding, the weights as initializers."""
    t = adapter.torch
    layer = t.nn.ConvTranspose1d(1, 1, 3, stride=2, padding=1, output_padding=1, bias=False).eval()
    model = onnx.load_from_string(torch_onnx.export(adapter, layer, t.ones(1, 1, 2), dynamo=dynamo))
    (node,) = [n for n in model.graph.node if n.op_type == "ConvTranspose"]
    attributes = {a.name: list(a.ints) for a in node.attribute if a.ints}
    assert attributes["pads"] == [1, 1] and attributes["output_padding"] == [1] and attributes["strides"] == [2]
    assert [tuple(i.dims) for i in model.graph.initializer] == [(1, 1, 3)]


def test_what_pytorch_refuses_is_unsupported_in_its_words(adapter):
    case = dict(TRANSPOSED, padding="same")
    with pytest.raises(Unsupported, match="no padding='same'"):
        observe(adapter, "torch.onnx.torchscript.layer", case)


def test_onnx_runtimes_refusal_of_a_model_is_unsupported_in_its_words():
    with pytest.raises(Unsupported, match="onnxruntime refused the exported model: InvalidGraph: .*bfloat16"):
        torch_onnx.open_session(_model_with_an_unknown_type(), "cpu", 1)


def test_a_refused_model_keeps_the_layers_own_facts(adapter, monkeypatch):
    """The layer was built before the export or ONNX Runtime refused: its weight shape and parameter
    count are still observed, and the output says why it is missing."""
    def refuse(*args):
        raise Unsupported("onnxruntime refused the exported model: planted")
    monkeypatch.setattr(torch_onnx, "open_session", refuse)
    obs = observe(adapter, "torch.onnx.torchscript.layer", RGB)
    assert isinstance(obs.output, Unsupported) and "planted" in str(obs.output)
    assert obs.layer_weight_shape == (1, 3, 2, 2) and obs.param_count == 13


def _model_with_an_unknown_type() -> bytes:
    """A Conv on bfloat16, a type no opset before 22 allows for Conv: ONNX Runtime refuses the graph."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [1, 1, 3])
    w = helper.make_tensor_value_info("w", TensorProto.BFLOAT16, [1, 1, 1])
    y = helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [1, 1, 3])
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g", [x, w], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]).SerializeToString()


def test_the_environment_names_the_exporter_and_versions_without_importing_onnx():
    """The torch section says which exporter and opset the targets use and the onnx packages'
    versions, read from package metadata: the worker imports none of them unless the target runs."""
    script = ("import json, sys; from conformance.adapters import load_adapter; "
              "env = load_adapter('torch').environment()['onnx']; "
              "onnx = sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'onnxscript')); "
              "print(json.dumps([env, onnx]))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    env, imported = json.loads(out.strip().splitlines()[-1])
    assert imported == []
    assert env["onnxruntime"] == importlib.metadata.version("onnxruntime")
    assert isinstance(env["opset"], int) and env["opset"] >= 17
    assert "dynamo=True" in env["exporters"]["torch.onnx.layer"]
