"""The case model: derived attributes from the formulas, and clear rejections of invalid cases."""
from __future__ import annotations

import pytest

from conformance import Case, CaseError

BASE = {"id": "c", "op": "conv", "input_shape": [2, 4, 8, 8], "out_channels": 6, "kernel_size": 3}


def make(**changes):
    return Case.from_dict({**BASE, **changes})


# ---------------------------------------------------------------- derived attributes
@pytest.mark.parametrize("size, k, s, d, expected_pads, expected_out", [
    (8, 3, 1, 1, (1, 1), 8),    # odd kernel, stride 1: symmetric
    (8, 4, 1, 1, (1, 2), 8),    # even kernel: the odd element at the end (SAME_UPPER)
    (8, 3, 2, 1, (0, 1), 4),    # out = ceil(8/2) = 4, total = 3*2 + 3 - 8 = 1
    (7, 3, 2, 1, (1, 1), 4),    # total = 3*2 + 3 - 7 = 2
    (8, 1, 3, 1, (0, 0), 3),    # kernel < stride: total = max(0, 2*3 + 1 - 8) = 0
    (8, 3, 1, 2, (2, 2), 8),    # dilation: k_eff = 5
], ids=["k3s1", "k4s1-even", "k3s2", "k3s2-odd-in", "k1s3", "k3d2"])
def test_same_padding_for_conv(size, k, s, d, expected_pads, expected_out):
    case = make(input_shape=[1, 1, size], kernel_size=k, stride=s, dilation=d, padding="same")
    assert case.pads == (expected_pads,)
    assert case.out_spatial == (expected_out,)


@pytest.mark.parametrize("size, k, s, op_pad, expected_pads, expected_out", [
    (2, 3, 2, 0, (0, 1), 4),    # full 2*1+3 = 5, crop 1: the odd one at the end
    (4, 4, 2, 0, (1, 1), 8),    # full 10, crop 2
    (3, 2, 3, 0, (0, -1), 9),   # full 8 < 9: extended by one zero
    (3, 5, 2, 1, (2, 2), 6),    # full 2*2+5+1 = 10, crop 4
], ids=["k3s2", "k4s2", "k2s3-extends", "k5s2-op1"])
def test_same_cropping_for_conv_transpose(size, k, s, op_pad, expected_pads, expected_out):
    case = make(op="conv_transpose", input_shape=[1, 1, size], kernel_size=k, stride=s, padding="same",
                output_padding=op_pad)
    assert case.pads == (expected_pads,)
    assert case.out_spatial == (expected_out,)


def test_causal_pads_the_start_only():
    case = make(input_shape=[1, 2, 10], kernel_size=3, dilation=2, padding="causal")
    assert case.pads == ((4, 0),)
    assert case.out_spatial == (10,)


@pytest.mark.parametrize("padding, pads", [
    ("valid", ((0, 0), (0, 0))),
    (2, ((2, 2), (2, 2))),
    ([1, 0], ((1, 1), (0, 0))),
    ([[0, 1], [2, 0]], ((0, 1), (2, 0))),
], ids=["valid", "int", "per-dim", "pairs"])
def test_explicit_padding_forms(padding, pads):
    assert make(padding=padding).pads == pads


def test_conv_transpose_output_shape_weight_shape_and_param_count():
    case = make(op="conv_transpose", input_shape=[3, 4, 5, 6], out_channels=8, kernel_size=[3, 2],
                stride=[2, 3], padding=[1, 0], output_padding=[1, 2], groups=2, bias=True)
    # out = s*(in-1) + k_eff + output_padding - crop_begin - crop_end
    assert case.output_shape == (3, 8, 2 * 4 + 3 + 1 - 2, 3 * 5 + 2 + 2 - 0)
    assert case.weight_shape == (4, 4, 3, 2)  # (C_in, C_out/g, *k)
    assert case.param_count == 4 * 4 * 3 * 2 + 8


def test_grouped_conv_weight_shape_and_param_count():
    case = make(groups=2, bias=False)
    assert case.weight_shape == (6, 2, 3, 3)
    assert case.param_count == 6 * 2 * 9


def test_depthwise_with_multiplier():
    case = make(groups=4, out_channels=8)
    assert case.is_depthwise and case.weight_shape == (8, 1, 3, 3)


def test_round_trip_through_dict():
    case = make(op="conv_transpose", padding=[[0, 1], [1, 0]], output_padding=1, stride=2, tags=["x"])
    assert Case.from_dict(case.to_dict()) == case


# ---------------------------------------------------------------- rejections
@pytest.mark.parametrize("changes, field, text", [
    ({"groups": 3}, "groups", "input channels (4) are not divisible by groups (3)"),
    ({"groups": 4, "out_channels": 6}, "groups", "out_channels (6) is not divisible"),
    ({"out_channels": 0}, "out_channels", "must be >= 1"),
    ({"kernel_size": 0}, "kernel_size", "must be >= 1"),
    ({"stride": [1, 0]}, "stride", "must be >= 1"),
    ({"input_shape": [2, 4, 8, -1]}, "input_shape", "must be >= 1"),
    ({"input_shape": [2, 4, 0, 8]}, "input_shape", "must be >= 1, got 0"),  # only the batch may be empty
    ({"input_shape": [2, 0, 8, 8]}, "input_shape", "must be >= 1, got 0"),
    ({"input_shape": [-1, 4, 8, 8]}, "input_shape", "must be >= 0, got -1"),
    ({"padding": -1}, "padding", "negative padding"),
    ({"padding": [[0, -1], [0, 0]]}, "padding", "negative padding"),
    ({"output_padding": 1}, "output_padding", "only a conv_transpose"),
    ({"padding": "causal"}, "padding", "1-D conv only"),
    ({"op": "conv_transpose", "input_shape": [1, 1, 8], "padding": "causal"}, "padding", "1-D conv only"),
    ({"stride": [1, 2, 3]}, "stride", "one value per spatial dim (2)"),
    ({"padding": [1, 2, 3]}, "padding", "one entry per spatial dim"),
    ({"kernal_size": 3}, "kernal_size", "did you mean 'kernel_size'"),
    ({"padding": "SAMEE"}, "padding", "did you mean 'same'"),
    ({"op": "convolution"}, "op", "allowed: conv, conv_transpose"),
    ({"bias": "yes"}, "bias", "expected true or false"),
    ({"kernel_size": 2.5}, "kernel_size", "expected an integer"),
    ({"stride": True}, "stride", "expected an integer"),
    ({"dtypes": ["float8"]}, "dtypes", "unknown dtype"),
    ({"dtypes": "float32", "input_shape": [1, 2]}, "input_shape", "1 to 3 spatial dims"),
    ({"input_shape": [1, 1, 2, 2, 2, 2]}, "input_shape", "1 to 3 spatial dims"),
    ({"tags": "x"}, "tags", "list of strings"),
    ({"data": {"input": [[1, 2]]}}, "data.input", "does not match"),
    ({"data": {"inputs": {"fill": 1}}}, "data.inputs", "did you mean 'input'"),
    ({"bias": False, "data": {"bias": [1] * 6}}, "data.bias", "bias: false"),
    ({"expect": {"output_shape": "8x8"}}, "expect.output_shape", "list of integers"),
    ({"expect": {"outputs": 1}}, "expect.outputs", "did you mean 'output'"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_invalid_cases_are_rejected_with_case_id_and_field(changes, field, text):
    with pytest.raises(CaseError) as info:
        make(**changes)
    err = info.value
    assert err.case_id == "c"
    assert err.field == field
    assert text in str(err)
    assert f"case 'c', field '{field}'" in str(err)


def test_configurations_without_a_valid_output_are_cases():
    """Not rejected: a target may raise or return the empty tensor (docs/semantics.md#no-valid-output);
    tests/test_edges.py has the shapes."""
    assert make(kernel_size=9).output_shape == (2, 6, 0, 0)
    assert make(kernel_size=5, dilation=2).output_shape == (2, 6, 0, 0)  # k_eff 9 > 8
    assert make(op="conv_transpose", input_shape=[1, 1, 1], kernel_size=1, padding=[[1, 0]]).output_shape == (1, 6, 0)


def test_missing_required_field():
    with pytest.raises(CaseError, match="field 'kernel_size': required field is missing"):
        Case.from_dict({k: v for k, v in BASE.items() if k != "kernel_size"})


def test_non_mapping_and_bad_id():
    with pytest.raises(CaseError, match="must be a mapping"):
        Case.from_dict(["not", "a", "mapping"])
    with pytest.raises(CaseError, match="field 'id'"):
        Case.from_dict({**BASE, "id": ""})
