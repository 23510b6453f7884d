"""The executorch kind (executorch.xnnpack: torch.export, XNNPACK lowering, the ExecuTorch runtime):
results worked out by hand, what XNNPACK takes, the portable kernel's declared refusal, forward
only, and its reproducer. Skipped, with the reason, without executorch (the [executorch] extra)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("executorch", reason="the [executorch] extra is not installed")

from conformance import Case  # noqa: E402
from conformance.adapters import Unsupported, load_adapter  # noqa: E402
from conformance.spec.inputs import Inputs  # noqa: E402

API = "executorch.xnnpack"
OPS = "ExecuTorch program operators (after XNNPACK partitioning): "


@pytest.fixture(scope="module")
def adapter():
    return load_adapter("executorch")


def case(**fields) -> Case:
    return Case.from_dict({"id": "executorch-" + ",".join(f"{k}={v}" for k, v in fields.items()), **fields})


def run(adapter, c: Case, x, w, dtype="float32"):
    x, w = np.asarray(x, float).reshape(c.input_shape), np.asarray(w, float).reshape(c.weight_shape)
    return adapter.run(API, c, dtype, "cpu", Inputs(input=x, weight=w, bias=None, grad_output=np.zeros(c.output_shape)))


def ops(obs) -> str:
    return next(n for n in obs.notes if n.startswith(OPS))[len(OPS):]


@pytest.mark.parametrize("dtype,delegated", [("float32", True), ("float16", True), ("float64", False)])
def test_valid_conv_by_hand(adapter, dtype, delegated):
    # y[i] = x[i] + 10 x[i+1]: 1 + 20, 2 + 30, 3 + 40; exact in each dtype
    c = case(op="conv", input_shape=[1, 1, 4], out_channels=1, kernel_size=2, bias=False, padding="valid")
    obs = run(adapter, c, [1, 2, 3, 4], [1, 10], dtype)
    assert obs.output.tolist() == [[[21.0, 32.0, 43.0]]]
    # XNNPACK takes float32 and float16 convolutions; float64 stays on ExecuTorch's portable kernels
    assert ("executorch_call_delegate" in ops(obs)) == delegated


def test_transposed_conv_by_hand(adapter):
    # stride 2, kernel [1, 1]: each input value written twice
    c = case(op="conv_transpose", input_shape=[1, 1, 3], out_channels=1, kernel_size=2, stride=2, bias=False,
             padding="valid")
    assert run(adapter, c, [1, 2, 3], [1, 1]).output.tolist() == [[[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]]]


def test_forward_only_and_cpu_only(adapter):
    c = case(op="conv", input_shape=[1, 1, 4], out_channels=1, kernel_size=2, bias=True, padding="valid")
    inputs = Inputs(np.ones(c.input_shape), np.ones(c.weight_shape), np.ones(1), np.zeros(c.output_shape))
    obs = adapter.run(API, c, "float32", "cpu", inputs)
    assert obs.output.tolist() == [[[3.0, 3.0, 3.0]]]
    for grad in (obs.grad_input, obs.grad_weight, obs.grad_bias):
        assert isinstance(grad, Unsupported) and "inference only" in str(grad)
    with pytest.raises(Unsupported, match="CPU only"):
        adapter.run(API, c, "float32", "gpu", inputs)


def test_a_3d_conv_that_xnnpack_leaves_is_the_portable_kernels_refusal(adapter):
    c = case(op="conv", input_shape=[1, 1, 2, 2, 2], out_channels=1, kernel_size=1, bias=False, padding="valid")
    with pytest.raises(Unsupported, match=r"failed with error 0x12"):
        run(adapter, c, np.arange(8), [1])


def test_the_reproducer_computes_what_the_adapter_did(adapter):
    c = case(op="conv", input_shape=[1, 2, 5], out_channels=2, kernel_size=3, bias=True, padding=[[1, 1]])
    rng = np.random.default_rng(1)
    x, w, b = (np.round(rng.standard_normal(s) * 4) / 4 for s in (c.input_shape, c.weight_shape, (2,)))
    obs = adapter.run(API, c, "float32", "cpu", Inputs(input=x, weight=w, bias=b, grad_output=np.zeros(c.output_shape)))
    scope = {"x": x, "w": w, "b": b, "dy": np.zeros(c.output_shape), "out": {}}
    exec(obs.repro(grads=True).body(), scope)  # noqa: S102 - the suite's own generated code
    np.testing.assert_array_equal(scope["out"]["output"], obs.output)
    assert scope["out"]["weight_shape"] == obs.layer_weight_shape == (2, 2, 3)
