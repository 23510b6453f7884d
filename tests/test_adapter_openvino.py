"""The openvino kind (openvino.onnx, openvino.torch on OpenVINO's CPU plugin): results worked out by
hand, the precision profiles, bfloat16's bits, forward only, and its reproducer. Skipped, with the
reason, without openvino (the [openvino] extra)."""
from __future__ import annotations

import numpy as np
import pytest

from conformance import Case
from conformance.spec.inputs import Inputs


ov = pytest.importorskip("openvino", reason="the [openvino] extra is not installed")


def apis():
    found = []
    for api, package in (("openvino.onnx", "onnx"), ("openvino.torch", "torch")):
        try:
            __import__(package)
        except ImportError:
            continue
        found.append(api)
    return found


@pytest.fixture(scope="module")
def adapter():
    from conformance.adapters import load_adapter

    return load_adapter("openvino")


def case(**fields) -> Case:
    return Case.from_dict({"id": "openvino-" + ",".join(f"{k}={v}" for k, v in fields.items()), **fields})


def run_1d(adapter, api, c: Case, x, w, dtype="float32", profile="strict"):
    x, w = np.asarray(x, float).reshape(c.input_shape), np.asarray(w, float).reshape(c.weight_shape)
    inputs = Inputs(input=x, weight=w, bias=None, grad_output=np.zeros(c.output_shape))
    with adapter.precision("cpu", profile):
        return adapter.run(api, c, dtype, "cpu", inputs)


@pytest.mark.parametrize("api", apis())
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_valid_conv_by_hand(adapter, api, dtype):
    # y[i] = x[i] + 10 x[i+1]: 1 + 20, 2 + 30, 3 + 40; every value exact in each dtype
    c = case(op="conv", input_shape=[1, 1, 4], out_channels=1, kernel_size=2, bias=False, padding="valid")
    obs = run_1d(adapter, api, c, [1, 2, 3, 4], [1, 10], dtype)
    assert obs.output.tolist() == [[[21.0, 32.0, 43.0]]]


@pytest.mark.parametrize("api", apis())
def test_transposed_conv_by_hand(adapter, api):
    # stride 2, kernel [1, 1]: each input value written twice, [1, 1, 2, 2, 3, 3]
    c = case(op="conv_transpose", input_shape=[1, 1, 3], out_channels=1, kernel_size=2, stride=2, bias=False,
             padding="valid")
    obs = run_1d(adapter, api, c, [1, 2, 3], [1, 1])
    assert obs.output.tolist() == [[[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]]]


@pytest.mark.parametrize("api", apis())
def test_forward_only_and_cpu_only(adapter, api):
    c = case(op="conv", input_shape=[1, 1, 4], out_channels=1, kernel_size=2, bias=True, padding="valid")
    inputs = Inputs(np.ones(c.input_shape), np.ones(c.weight_shape), np.ones(1), np.zeros(c.output_shape))
    obs = adapter.run(api, c, "float32", "cpu", inputs)
    for grad in (obs.grad_input, obs.grad_weight, obs.grad_bias):
        assert isinstance(grad, Exception) and "inference only" in str(grad)
    from conformance.adapters import Unsupported

    with pytest.raises(Unsupported, match="CPU plugin only"):
        adapter.run(api, c, "float32", "gpu", inputs)


@pytest.mark.parametrize("api", apis())
def test_strict_compiles_f32_and_defaults_the_plugins_own(adapter, api):
    plugin_default = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()
    c = case(op="conv", input_shape=[1, 1, 4], out_channels=1, kernel_size=2, bias=False, padding="valid")
    hint = "INFERENCE_PRECISION_HINT): "
    strict = run_1d(adapter, api, c, [1, 2, 3, 4], [1, 10], profile="strict")
    defaults = run_1d(adapter, api, c, [1, 2, 3, 4], [1, 10], profile="defaults")
    assert any(n.endswith(hint + "f32") for n in strict.notes)
    assert any(n.endswith(hint + plugin_default) for n in defaults.notes)
    assert adapter.cpu_profiles() == (("defaults",) if plugin_default == "f32" else ("strict", "defaults"))
    assert adapter.environment()["inference_precision"] == {"defaults": plugin_default, "strict": "f32"}


def test_bfloat16_input_is_its_bits():
    from conformance.adapters.openvino_adapter import native_input

    # 1.0 is 0x3F80 and -2.5 is 0xC020 in bfloat16 (sign, 8 exponent bits, 7 mantissa bits)
    bits = native_input(np.array([1.0, -2.5]), "bfloat16").view(np.uint16)
    assert bits.tolist() == [0x3F80, 0xC020]


@pytest.mark.parametrize("api", apis())
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_reproducer_computes_what_the_adapter_did(adapter, api, dtype):
    c = case(op="conv", input_shape=[1, 2, 5], out_channels=2, kernel_size=3, bias=True, padding=[[1, 1]])
    rng = np.random.default_rng(1)
    x, w, b = (np.round(rng.standard_normal(s) * 4) / 4 for s in (c.input_shape, c.weight_shape, (2,)))
    inputs = Inputs(input=x, weight=w, bias=b, grad_output=np.zeros(c.output_shape))
    with adapter.precision("cpu", "strict"):
        obs = adapter.run(api, c, dtype, "cpu", inputs)
    scope = {"x": x, "w": w, "b": b, "dy": np.zeros(c.output_shape), "out": {}}
    exec(obs.repro(grads=True).body(), scope)  # noqa: S102 - the suite's own generated code
    np.testing.assert_array_equal(scope["out"]["output"], obs.output)
