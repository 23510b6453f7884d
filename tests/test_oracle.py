"""The oracle against implementations written independently of it.

- conv: a deliberately naive loop over every output element, straight from the definition;
- conv_transpose: the textbook construction (insert stride-1 zeros between input elements, pad with
  k_eff-1-p, convolve with the flipped, channel-swapped kernel at stride 1), which shares no code
  or formulation with the oracle's scatter;
- gradients: central finite differences (the loss is linear in each argument, so they are exact
  up to rounding);
- the adjoint identity <conv(x), y> == <x, conv_transpose(y)>;
- grouped conv == per-group convs concatenated.
Data are small integers, so float64 sums are exact and equality can be exact too.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import Case
from conformance.check import oracle
from conformance.search.strategies import case_dicts, random_arrays

SETTINGS = settings(max_examples=150, deadline=None)


# ---------------------------------------------------------------- independent references
def naive_conv(x, w, b, stride, dilation, pads, groups):
    """Loops over every output element: y[n,o,i] = b[o] + sum_{c,t} xpad[n, g*Cg+c, i*s+t*d] w[o,c,t]."""
    n_batch, channels = x.shape[:2]
    out_ch, cg = w.shape[:2]
    kernel = w.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads])
    out_sizes = [(xp.shape[2 + a] - ((kernel[a] - 1) * dilation[a] + 1)) // stride[a] + 1 for a in range(len(kernel))]
    y = np.zeros((n_batch, out_ch, *out_sizes))
    og = out_ch // groups
    for n, o in itertools.product(range(n_batch), range(out_ch)):
        g = o // og
        for pos in itertools.product(*map(range, out_sizes)):
            total = 0.0 if b is None else b[o]
            for c in range(cg):
                for tap in itertools.product(*map(range, kernel)):
                    src = tuple(p * s + t * d for p, s, t, d in zip(pos, stride, tap, dilation))
                    total += xp[(n, g * cg + c) + src] * w[(o, c) + tap]
            y[(n, o) + pos] = total
    return y


def textbook_conv_transpose(x, w, b, stride, dilation, pads, output_padding, groups):
    """Zero-insertion + padding + flipped kernel conv at stride 1 (Dumoulin & Visin's arithmetic).

    pads are the crop per side; a negative end crop appends zeros (as 'same' with k_eff < stride).
    """
    n_batch, in_ch = x.shape[:2]
    _, og = w.shape[:2]
    kernel = w.shape[2:]
    nd = len(kernel)
    # 1. insert (stride - 1) zeros between input elements
    dilated_shape = [(x.shape[2 + a] - 1) * stride[a] + 1 for a in range(nd)]
    z = np.zeros((n_batch, in_ch, *dilated_shape))
    z[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = x
    # 2. pad by k_eff - 1 - crop on each side, plus output_padding at the end
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    widths = []
    for a in range(nd):
        begin, end = pads[a]
        widths.append((k_eff[a] - 1 - begin, k_eff[a] - 1 - end + output_padding[a]))
    # negative widths (crops bigger than k_eff - 1) become slicing after a zero pad
    pos = [(max(0, lo), max(0, hi)) for lo, hi in widths]
    zp = np.pad(z, [(0, 0), (0, 0)] + pos)
    zp = zp[(slice(None), slice(None)) + tuple(slice(max(0, -lo), zp.shape[2 + a] - max(0, -hi))
                                               for a, (lo, hi) in enumerate(widths))]
    # 3. flipped kernel with in/out swapped: (C_in, C_out/g, *k) -> (C_out, C_in/g, *k)
    flipped = w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    cg = in_ch // groups
    conv_w = np.zeros((og * groups, cg, *kernel))
    for g in range(groups):
        block = flipped[g * cg:(g + 1) * cg]  # (C_in/g, C_out/g, *k)
        conv_w[g * og:(g + 1) * og] = np.swapaxes(block, 0, 1)
    return naive_conv(zp, conv_w, b, [1] * nd, dilation, [(0, 0)] * nd, groups)


def reference(case: Case, x, w, b):
    if case.op == "conv":
        return naive_conv(x, w, b, case.stride, case.dilation, case.pads, case.groups)
    return textbook_conv_transpose(x, w, b, case.stride, case.dilation, case.pads, case.output_padding, case.groups)


# ---------------------------------------------------------------- tests
@SETTINGS
@given(d=case_dicts(), seed=st.integers(0, 2**32 - 1))
def test_forward_matches_independent_reference(d, seed):
    case = Case.from_dict(d)
    x, w, b, _ = random_arrays(case, seed)
    expected = reference(case, x, w, b)
    got = oracle.forward(case, x, w, b)
    assert got.shape == case.output_shape
    assert expected.shape == case.output_shape, f"reference shape {expected.shape} for {case}"
    np.testing.assert_array_equal(got, expected, err_msg=str(case))


@settings(max_examples=60, deadline=None)
@given(d=case_dicts(), seed=st.integers(0, 2**32 - 1))
def test_gradients_match_central_differences(d, seed):
    case = Case.from_dict(d)
    x, w, b, g = random_arrays(case, seed)
    grads = oracle.gradients(case, x, w, b, g)
    loss = lambda x_, w_, b_: float(np.sum(oracle.forward(case, x_, w_, b_) * g))  # noqa: E731
    rng = np.random.default_rng(seed)
    h = 0.5  # the loss is linear in each argument: central differences are exact for any h
    for name, arr, grad in (("input", x, grads.input), ("weight", w, grads.weight), ("bias", b, grads.bias)):
        if arr is None:
            assert grad is None
            continue
        assert grad.shape == arr.shape
        for flat in rng.choice(arr.size, size=min(arr.size, 6), replace=False):
            idx = np.unravel_index(flat, arr.shape)
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            args_p = {"input": (plus, w, b), "weight": (x, plus, b), "bias": (x, w, plus)}[name]
            args_m = {"input": (minus, w, b), "weight": (x, minus, b), "bias": (x, w, minus)}[name]
            fd = (loss(*args_p) - loss(*args_m)) / (2 * h)
            assert fd == pytest.approx(grad[idx], abs=1e-9), f"d loss / d {name}{idx} for {case}"


def _transposed_twin(conv: Case) -> Case:
    """The conv_transpose with the same parameters whose output has the conv's input shape."""
    op = [(n + b + e - k) % s for n, (b, e), k, s in
          zip(conv.in_spatial, conv.pads, conv.effective_kernel, conv.stride)]
    return Case.from_dict({
        "id": "twin", "op": "conv_transpose", "input_shape": list(conv.output_shape[:1]) + [conv.out_channels] + list(conv.out_spatial),
        "out_channels": conv.in_channels, "kernel_size": list(conv.kernel_size), "stride": list(conv.stride),
        "dilation": list(conv.dilation), "groups": conv.groups, "padding": [list(p) for p in conv.pads],
        "output_padding": op, "bias": False,
    })


@SETTINGS
@given(d=case_dicts(ops=("conv",), bias=False), seed=st.integers(0, 2**32 - 1))
def test_adjoint_identity(d, seed):
    conv = Case.from_dict(d)
    twin = _transposed_twin(conv)
    assert twin.output_shape == conv.input_shape
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, conv.input_shape).astype(float)
    y = rng.integers(-4, 5, conv.output_shape).astype(float)
    w = rng.integers(-4, 5, conv.weight_shape).astype(float)
    # The conv weight (C_out, C_in/g, k) is, read as a transposed weight, (C_in', C_out'/g, k) with
    # C_in' = C_out: the same array serves both.
    lhs = np.sum(oracle.forward(conv, x, w) * y)
    rhs = np.sum(x * oracle.forward(twin, y, w))
    assert lhs == rhs


@SETTINGS
@given(d=case_dicts(), seed=st.integers(0, 2**32 - 1))
def test_grouped_equals_per_group_concatenation(d, seed):
    case = Case.from_dict(d)
    x, w, b, _ = random_arrays(case, seed)
    g = case.groups
    cin, cout = case.in_channels // g, case.out_channels // g
    parts = []
    for k in range(g):
        sub = Case.from_dict({**case.to_dict(), "groups": 1, "dtypes": ["float64"],
                              "input_shape": [case.batch, cin, *case.in_spatial], "out_channels": cout})
        if case.op == "conv":
            wk = w[k * cout:(k + 1) * cout]
        else:
            wk = w[k * cin:(k + 1) * cin]
        bk = None if b is None else b[k * cout:(k + 1) * cout]
        parts.append(oracle.forward(sub, x[:, k * cin:(k + 1) * cin], wk, bk))
    np.testing.assert_array_equal(oracle.forward(case, x, w, b), np.concatenate(parts, axis=1))


def test_transposed_is_gradient_of_conv_input():
    """A concrete instance of 'deconvolution is the gradient of a convolution w.r.t. its input'."""
    conv = Case.from_dict({"id": "c", "op": "conv", "input_shape": [2, 4, 7, 6], "out_channels": 6,
                           "kernel_size": [3, 2], "stride": [2, 3], "padding": [[1, 0], [0, 1]],
                           "groups": 2, "bias": False})
    twin = _transposed_twin(conv)
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(conv.input_shape), rng.standard_normal(conv.weight_shape)
    g = rng.standard_normal(conv.output_shape)
    np.testing.assert_allclose(oracle.gradients(conv, x, w, None, g).input, oracle.forward(twin, g, w), rtol=1e-12, atol=1e-12)


def test_rejects_arrays_of_the_wrong_shape():
    case = Case.from_dict({"id": "c", "op": "conv", "input_shape": [1, 2, 5], "out_channels": 3, "kernel_size": 3})
    with pytest.raises(ValueError, match="weight has shape"):
        oracle.forward(case, np.zeros((1, 2, 5)), np.zeros((3, 1, 3)), np.zeros(3))


def test_same_transposed_with_kernel_smaller_than_stride_appends_zeros():
    """k_eff < stride under 'same': out = in * stride, the positions no tap reaches are zero."""
    case = Case.from_dict({"id": "c", "op": "conv_transpose", "input_shape": [1, 1, 3], "out_channels": 1,
                           "kernel_size": 2, "stride": 3, "padding": "same", "bias": False})
    assert case.output_shape == (1, 1, 9)
    y = oracle.forward(case, np.array([[[1.0, 2.0, 3.0]]]), np.array([[[10.0, 1.0]]]))
    np.testing.assert_array_equal(y[0, 0], [10, 1, 0, 20, 2, 0, 30, 3, 0])
