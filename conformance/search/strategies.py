"""Hypothesis strategies for valid cases and their data (the suite's own tests and `conformance explore`).

Simple strategies are module constants; dependent ones use @composite. Draws are constructive: the
kernel, stride, dilation and padding come first, then each spatial size is drawn from the range that
makes the case valid, so almost nothing is rejected. Sizes are capped (`MAX_SPATIAL`, `MAX_ELEMENTS`)
so a drawn case runs in milliseconds on every framework and in the naive references of the tests.
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance.spec.case import Case
from conformance.spec.dtypes import DTYPE_NAMES
from conformance.errors import CaseError

MAX_SPATIAL = 7  # per spatial dim of the input (4 in 3-D)
MAX_ELEMENTS = 4096  # the largest input or output tensor, all axes together
DTYPES = st.sampled_from(DTYPE_NAMES)
SMALL = st.integers(1, 3)
PADDING_KINDS = ("valid", "same", "same_lower", "causal", "int", "per_dim", "pairs")


@st.composite
def padding_forms(draw, ndim: int, op: str):
    """Every form a case may give: a keyword, one int, one int per dim, or [begin, end] pairs."""
    kinds = [k for k in PADDING_KINDS if k != "causal" or (op == "conv" and ndim == 1)]
    kind = draw(st.sampled_from(kinds))
    if kind in ("valid", "same", "same_lower", "causal"):
        return kind
    if kind == "int":
        return draw(st.integers(0, 2))
    if kind == "per_dim":
        return draw(st.lists(st.integers(0, 2), min_size=ndim, max_size=ndim))
    return draw(st.lists(st.lists(st.integers(0, 2), min_size=2, max_size=2), min_size=ndim, max_size=ndim))


def _explicit_pairs(padding, ndim):
    if isinstance(padding, str):
        return None
    if isinstance(padding, int):
        return [(padding, padding)] * ndim
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def _min_size(op, padding, pair, k_eff, stride, output_padding) -> int:
    """The smallest input size that leaves a valid case in one spatial dim."""
    if op == "conv":
        if padding == "valid":
            return k_eff
        if pair is None:  # 'same', 'same_lower' and 'causal' pad to at least one full window
            return 1
        return max(1, k_eff - pair[0] - pair[1])
    if pair is None:  # 'valid', 'same' and 'same_lower' transposed outputs are never empty
        return 1
    # stride * (n - 1) + k_eff + output_padding - begin - end >= 1
    short = pair[0] + pair[1] + 1 - k_eff - output_padding
    return 1 + max(0, -(-short // stride))


def case_id(d: dict) -> str:
    """A stable id from the case's content: the same drawn case always gets the same random inputs."""
    body = json.dumps({k: v for k, v in d.items() if k != "id"}, sort_keys=True)
    return "drawn_" + hashlib.blake2b(body.encode(), digest_size=5).hexdigest()


@st.composite
def case_dicts(draw, ops=("conv", "conv_transpose"), max_ndim: int = 3, bias=None, dtypes=None,
               max_elements: int = MAX_ELEMENTS):
    """A dict that `Case.from_dict` accepts: any op, 1..max_ndim spatial dims, stride, dilation, groups
    (depthwise and depth multipliers too), every padding form, output_padding, bias or not.

    `dtypes`: None leaves the field out (the case default, float32); a sequence of dtype names draws
    one of them into the case's `dtypes`.
    """
    op = draw(st.sampled_from(ops))
    ndim = draw(st.integers(1, max_ndim))
    groups = draw(st.integers(1, 3))
    per_dim = lambda lo, hi: st.lists(st.integers(lo, hi), min_size=ndim, max_size=ndim)  # noqa: E731
    kernel, stride, dilation = draw(per_dim(1, 3)), draw(per_dim(1, 3)), draw(per_dim(1, 2))
    padding = draw(padding_forms(ndim, op))
    # output_padding < stride: the rule every framework that has it shares
    output_padding = [draw(st.integers(0, s - 1)) for s in stride] if op == "conv_transpose" else [0] * ndim
    pairs = _explicit_pairs(padding, ndim)
    top = MAX_SPATIAL if ndim < 3 else 4
    spatial = []
    for a in range(ndim):
        k_eff = (kernel[a] - 1) * dilation[a] + 1
        low = _min_size(op, padding, None if pairs is None else pairs[a], k_eff, stride[a], output_padding[a])
        spatial.append(draw(st.integers(low, max(low, top))))
    d = {
        "id": "drawn",
        "op": op,
        "input_shape": [draw(st.integers(1, 2)), groups * draw(SMALL)] + spatial,
        "out_channels": groups * draw(SMALL),
        "kernel_size": kernel,
        "stride": stride,
        "dilation": dilation,
        "groups": groups,
        "padding": padding,
        "bias": draw(st.booleans()) if bias is None else bias,
    }
    if op == "conv_transpose":
        d["output_padding"] = output_padding
    if dtypes is not None:
        d["dtypes"] = [draw(st.sampled_from(list(dtypes)))]
    try:
        case = Case.from_dict(d)
    except CaseError:  # a safety net: the draws above are built to be valid
        assume(False)
    assume(max(math.prod(case.input_shape), math.prod(case.output_shape)) <= max_elements)
    d["id"] = case_id(d)
    return d


@st.composite
def cases(draw, **kwargs) -> Case:
    return Case.from_dict(draw(case_dicts(**kwargs)))


def random_arrays(case: Case, seed: int):
    """Input, weight, bias, grad_output for a case: small integers, so float64 sums are exact."""
    rng = np.random.default_rng(seed)
    ints = lambda shape: rng.integers(-4, 5, size=shape).astype(np.float64)  # noqa: E731
    return (ints(case.input_shape), ints(case.weight_shape),
            ints(case.bias_shape) if case.bias else None, ints(case.output_shape))
