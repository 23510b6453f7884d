"""'same_lower' padding (ONNX's SAME_LOWER): the case model and the oracle against values worked out by
hand and against the ONNX operator pages' own equations, and how each framework's adapter treats it.

ONNX's definitions, restated here independently of conformance/spec/case.py:
- Conv (https://onnx.ai/onnx/operators/onnx__Conv.html, auto_pad): output ceil(in / stride); the
  padding is split equally or almost equally, "the extra padding is added at the end for SAME_UPPER
  and at the beginning for SAME_LOWER".
- ConvTranspose (https://onnx.ai/onnx/operators/onnx__ConvTranspose.html): output in * stride;
  total_padding = stride * (in - 1) + output_padding + ((k - 1) * dilation + 1) - output_shape;
  SAME_UPPER: pads[start] = total/2, pads[end] = total - total/2; else (SAME_LOWER):
  pads[start] = total - total/2, pads[end] = total/2. A transposed conv's pads are cropped from
  its full output.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from conformance import Case
from conformance.check import oracle
from conformance.errors import CaseError
from conformance.spec.features import case_features


def case(**fields) -> Case:
    return Case.from_dict({"id": "same-lower-" + ",".join(f"{k}={v}" for k, v in fields.items()), **fields})


def forward(c: Case, x, w) -> list:
    x = np.asarray(x, float).reshape(c.input_shape)
    return oracle.forward(c, x, np.asarray(w, float).reshape(c.weight_shape)).ravel().tolist()


# ---------------------------------------------------------------- the case model
@pytest.mark.parametrize("n,k,s,d", [(n, k, s, d) for n, k, s, d in itertools.product(range(1, 9), range(1, 6), range(1, 4), (1, 2))
                                     if (k - 1) * d + 1 <= n + 8])
def test_conv_pads_follow_the_onnx_conv_text(n, k, s, d):
    k_eff = (k - 1) * d + 1
    out = -(-n // s)
    total = max(0, (out - 1) * s + k_eff - n)
    lower = case(op="conv", input_shape=[1, 1, n], out_channels=1, kernel_size=k, stride=s, dilation=d, padding="same_lower")
    upper = case(op="conv", input_shape=[1, 1, n], out_channels=1, kernel_size=k, stride=s, dilation=d, padding="same")
    assert sum(lower.pads[0]) == total and lower.out_spatial == upper.out_spatial == (out,)
    assert lower.pads[0][0] - lower.pads[0][1] in (0, 1)  # the extra element at the beginning
    assert lower.pads[0] == upper.pads[0][::-1]


@pytest.mark.parametrize("n,k,s,op", [(n, k, s, op) for n, k, s, op in itertools.product(range(1, 6), range(1, 6), range(1, 4), range(3))
                                      if op < s and k + op >= s])
def test_conv_transpose_pads_follow_the_onnx_equations(n, k, s, op):
    total = s * (n - 1) + op + k - n * s  # output_shape = in * stride
    want = (total - total // 2, total // 2)  # the operator's "Else" branch; total >= 0 here
    c = case(op="conv_transpose", input_shape=[1, 1, n], out_channels=1, kernel_size=k, stride=s,
             output_padding=op, padding="same_lower")
    assert c.pads == (want,) and c.out_spatial == (n * s,)


def test_keyword_is_validated_and_named_in_errors():
    assert case(op="conv", input_shape=[1, 1, 5], out_channels=1, kernel_size=2, padding="SAME_LOWER").padding == "same_lower"
    with pytest.raises(CaseError, match="'same_lower'"):
        case(op="conv", input_shape=[1, 1, 5], out_channels=1, kernel_size=2, padding="lower")


def test_features():
    odd = case(op="conv", input_shape=[1, 1, 6], out_channels=1, kernel_size=2, padding="same_lower")
    assert {"same_lower", "same_odd_total"} <= set(case_features(odd)) and "same" not in case_features(odd)
    extends = case(op="conv_transpose", input_shape=[1, 1, 3], out_channels=1, kernel_size=1, stride=2, padding="same_lower")
    assert "same_extends_output" in case_features(extends)


# ---------------------------------------------------------------- the oracle, by hand
def test_conv_1d_by_hand():
    """x = [1..6], w = [1, 1, 1], stride 2: total 1, pads [1, 0]: windows [0,1,2], [2,3,4], [4,5,6]."""
    c = case(op="conv", input_shape=[1, 1, 6], out_channels=1, kernel_size=3, stride=2, padding="same_lower", bias=False)
    assert forward(c, [1, 2, 3, 4, 5, 6], [1, 1, 1]) == [3, 9, 15]


def test_conv_2d_by_hand():
    """3x3 arange(1, 10), a 2x2 kernel of ones, stride 1: pads [1, 0] in both dims, so each output
    sums the window whose bottom-right corner is at its own position."""
    c = case(op="conv", input_shape=[1, 1, 3, 3], out_channels=1, kernel_size=2, padding="same_lower", bias=False)
    assert forward(c, np.arange(1, 10), np.ones(4)) == [1, 3, 5, 5, 12, 16, 11, 24, 28]


def test_conv_transpose_by_hand():
    """x = [1, 2], w = [1, 1, 1], stride 2: the full output [1, 1, 3, 2, 2], 4 long after the crop of
    1, which SAME_LOWER takes from the beginning."""
    c = case(op="conv_transpose", input_shape=[1, 1, 2], out_channels=1, kernel_size=3, stride=2,
             padding="same_lower", bias=False)
    assert forward(c, [1, 2], [1, 1, 1]) == [1, 3, 2, 2]


def test_conv_transpose_with_output_padding_by_hand():
    """x = [1, 2], w = [1, 1, 1, 1], stride 2, output_padding 1: full [1, 1, 3, 3, 2, 2, 0]
    (7 long, the last position only output_padding); out 4, total 3, SAME_LOWER crops [2, 1]."""
    c = case(op="conv_transpose", input_shape=[1, 1, 2], out_channels=1, kernel_size=4, stride=2,
             output_padding=1, padding="same_lower", bias=False)
    assert c.pads == ((2, 1),)
    assert forward(c, [1, 2], [1, 1, 1, 1]) == [3, 3, 2, 2]


def test_conv_transpose_kernel_shorter_than_stride_extends_at_the_end():
    """x = [1, 2, 3], w = [1], stride 2: the full output [1, 0, 2, 0, 3] is shorter than 6; as for
    'same', nothing is cropped and a zero follows (the adjoint of the conv, whose total is 0)."""
    c = case(op="conv_transpose", input_shape=[1, 1, 3], out_channels=1, kernel_size=1, stride=2,
             padding="same_lower", bias=False)
    assert forward(c, [1, 2, 3], [1]) == [1, 0, 2, 0, 3, 0]


# ---------------------------------------------------------------- the adapters
# Each framework runs in its worker process, as in `conformance run` (a framework's import-time
# settings differ between kinds, so they cannot share this process).
ODD_CONV = dict(op="conv", input_shape=[1, 2, 6], out_channels=2, kernel_size=3, stride=2, padding="same_lower")
ODD_CONV_T = dict(op="conv_transpose", input_shape=[1, 2, 4], out_channels=2, kernel_size=3, stride=2, padding="same_lower")
# total 2 (k=3, stride 1): pads [1, 1], which symmetric explicit padding could express too
EVEN_CONV = dict(op="conv", input_shape=[1, 2, 6], out_channels=2, kernel_size=3, padding="same_lower")
SHAPES = {"conv": ODD_CONV, "conv_transpose": ODD_CONV_T, "conv_even_total": EVEN_CONV}


@pytest.fixture(scope="module")
def records():
    """framework -> shape name -> api -> check -> (status, message), and "call" -> the reproducer,
    from one worker per framework."""
    from conformance.adapters import installed
    from conformance.search.explore import IsolatedFramework

    out = {}
    for name in ("torch", "tensorflow", "jax"):
        if not installed(name):
            continue
        framework = IsolatedFramework(name)
        try:
            out[name] = {shape: _by_api(framework.run_case(case(**fields), "float32", relations=False, devices=["cpu"]))
                         for shape, fields in SHAPES.items()}
        finally:
            framework.close()
    return out


def _by_api(results) -> dict:
    table: dict = {}
    for r in results:
        table.setdefault(r.api, {})[r.check] = (r.status, r.message)
        table[r.api]["call"] = r.call or table[r.api].get("call")
    return table


def _framework(records, name):
    if name not in records:
        pytest.skip(f"{name} is not installed")
    return records[name]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("framework,apis", [("torch", ("torch.functional", "torch.layer")), ("tensorflow", ("tf.nn",))])
def test_torch_and_tf_nn_refuse_with_a_plain_reason(records, framework, apis, shape):
    got = _framework(records, framework)[shape]
    for api in apis:
        status, message = got[api]["output"]
        assert status == "unsupported" and "no SAME_LOWER" in message, (api, message)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("framework", ["torch", "tensorflow", "jax"])
def test_every_target_computes_it_right_or_refuses(records, framework, shape):
    """No target may compute something else: each record passes or is unsupported (Keras layers,
    on any backend, refuse 'same_lower' with their own ValueError)."""
    for api, checks in _framework(records, framework)[shape].items():
        wrong = {c: v[0] for c, v in checks.items() if c != "call" and v[0] not in ("pass", "unsupported")}
        assert not wrong, (api, wrong)


@pytest.mark.parametrize("api", ["jax.lax", "flax.layer"])
def test_jax_computes_the_conv_with_its_own_same_lower(records, api):
    got = _framework(records, "jax")["conv"]
    if api not in got:
        pytest.skip(f"{api} is not installed")
    assert {c: got[api][c][0] for c in ("output", "grad_input")} == {"output": "pass", "grad_input": "pass"}
    assert "'SAME_LOWER'" in got[api]["call"]  # JAX's own keyword, not explicit pairs


@pytest.mark.parametrize("api", ["jax.lax", "flax.layer"])
def test_jax_conv_transpose_refuses(records, api):
    got = _framework(records, "jax")["conv_transpose"]
    if api not in got:
        pytest.skip(f"{api} is not installed")
    status, message = got[api]["output"]
    assert status == "unsupported" and "no 'SAME_LOWER'" in message, message
