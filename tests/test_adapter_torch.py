"""The PyTorch adapter (torch.functional and torch.layer) through `evaluate`: a quantity autograd does
not produce is reported on its own check, and the rest is still compared."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from conformance import Case  # noqa: E402
from conformance.adapters import Target, load_adapter  # noqa: E402
from conformance.check.evaluate import evaluate  # noqa: E402

APIS = ("torch.functional", "torch.layer")
BIASED = dict(op="conv", input_shape=[2, 2, 6], out_channels=3, kernel_size=3, bias=True)


@pytest.fixture(scope="module")
def adapter():
    return load_adapter("torch")


def records(adapter, api, name, **fields):
    c = Case.from_dict({"id": f"torch-test-{name}", **fields})
    return {r.check: (r.status, r.message) for r in evaluate(adapter, Target("torch", api, "cpu"), c, "float32")}


def test_every_check_passes_with_the_real_conv(adapter):
    for api in APIS:
        got = records(adapter, api, "plain", **BIASED)
        assert {c: s for c, (s, _) in got.items()} == {c: "pass" for c in got}, (api, got)


@pytest.mark.parametrize("api", APIS)
def test_a_bias_the_forward_never_uses_fails_output_and_grad_bias_only(adapter, api, monkeypatch):
    """torch.nn.functional.conv1d (which torch.nn.Conv1d calls too) made to ignore its bias: autograd
    leaves the bias' .grad None. The wrong output is reported, not hidden behind an error."""
    real = torch.nn.functional.conv1d

    def conv1d(x, w, b=None, *args, **kwargs):
        return real(x, w, None, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "conv1d", conv1d)
    got = records(adapter, api, "bias-unused", **BIASED)
    assert got["output"][0] == "fail" and "its bound" in got["output"][1], got["output"]
    assert got["grad_bias"] == ("fail", "the framework returned no gradient for the bias")
    for check in ("output_shape", "grad_input", "grad_weight"):
        assert got[check][0] == "pass", (check, got[check])


@pytest.mark.parametrize("api", APIS)
def test_a_backward_that_raises_keeps_the_output_compared(adapter, api, monkeypatch):
    """An exception in the backward pass that is not a refusal: the gradients are errors with its
    text, and the forward output, computed before it, is still compared."""
    real = torch.nn.functional.conv1d

    class BrokenBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, y):
            return y.clone()

        @staticmethod
        def backward(ctx, grad):
            raise ZeroDivisionError("planted in the backward pass")

    def conv1d(*args, **kwargs):
        return BrokenBackward.apply(real(*args, **kwargs))

    monkeypatch.setattr(torch.nn.functional, "conv1d", conv1d)
    got = records(adapter, api, "backward-raises", **BIASED)
    assert got["output"][0] == got["output_shape"][0] == "pass", got
    for check, what in (("grad_input", "input"), ("grad_weight", "weight"), ("grad_bias", "bias")):
        assert got[check] == ("error", f"computing the gradient for the {what} raised "
                                       "ZeroDivisionError: planted in the backward pass"), check


@pytest.mark.parametrize("api", APIS)
def test_an_internal_assert_on_a_valid_case_is_an_error_not_a_refusal(adapter, api, monkeypatch):
    """PyTorch raises RuntimeError for its refusals and for its own internal failures alike: only a
    declared refusal (torch_adapter.REFUSALS) is `unsupported`; an internal assert is an `error`."""
    def conv1d(*args, **kwargs):
        raise RuntimeError("INTERNAL ASSERT FAILED at \"aten/src/ATen/native/Convolution.cpp\":1492, please "
                           "report a bug to PyTorch.")

    monkeypatch.setattr(torch.nn.functional, "conv1d", conv1d)
    got = records(adapter, api, "internal-assert", **BIASED)
    outcomes = {c: s for c, (s, _) in got.items()}
    computed = {c: s for c, s in outcomes.items() if c not in ("weight_shape", "param_count")}
    assert computed and set(computed.values()) == {"error"}, got
    assert all("INTERNAL ASSERT FAILED" in got[c][1] for c in computed), got


def test_pytorchs_own_refusal_is_still_unsupported(adapter):
    got = records(adapter, "torch.functional", "same-strided", op="conv", input_shape=[1, 2, 6], out_channels=2,
                  kernel_size=3, stride=2, padding="same")
    assert {s for s, _ in got.values()} == {"unsupported"}, got
    assert all("padding='same' is not supported for strided convolutions" in m for _, m in got.values())
