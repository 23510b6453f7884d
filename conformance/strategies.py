"""Hypothesis strategies for valid cases and their data (used by the suite's own tests).

Simple strategies are module constants; dependent ones use @composite. Sizes are capped so a drawn
case runs in well under a millisecond in the naive reference implementations of the tests.
"""
from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from .case import Case
from .errors import CaseError

MAX_SPATIAL = 7
DTYPES = st.sampled_from(["float16", "bfloat16", "float32", "float64"])
SMALL = st.integers(1, 3)


@st.composite
def padding_forms(draw, ndim: int, op: str):
    kinds = ["valid", "same", "int", "per_dim", "pairs"] + (["causal"] if op == "conv" and ndim == 1 else [])
    kind = draw(st.sampled_from(kinds))
    if kind in ("valid", "same", "causal"):
        return kind
    if kind == "int":
        return draw(st.integers(0, 2))
    if kind == "per_dim":
        return draw(st.lists(st.integers(0, 2), min_size=ndim, max_size=ndim))
    return draw(st.lists(st.lists(st.integers(0, 2), min_size=2, max_size=2), min_size=ndim, max_size=ndim))


@st.composite
def case_dicts(draw, ops=("conv", "conv_transpose"), max_ndim: int = 3, bias=None):
    """A dict that `Case.from_dict` accepts: any op, 1..max_ndim spatial dims, every padding form."""
    op = draw(st.sampled_from(ops))
    ndim = draw(st.integers(1, max_ndim))
    groups = draw(st.integers(1, 3))
    per_dim = lambda lo, hi: st.lists(st.integers(lo, hi), min_size=ndim, max_size=ndim)  # noqa: E731
    d = {
        "id": "drawn",
        "op": op,
        "input_shape": [draw(st.integers(1, 2)), groups * draw(SMALL)] + draw(per_dim(1, MAX_SPATIAL if ndim < 3 else 4)),
        "out_channels": groups * draw(SMALL),
        "kernel_size": draw(per_dim(1, 3)),
        "stride": draw(per_dim(1, 3)),
        "dilation": draw(per_dim(1, 2)),
        "groups": groups,
        "padding": draw(padding_forms(ndim, op)),
        "bias": draw(st.booleans()) if bias is None else bias,
    }
    if op == "conv_transpose":
        d["output_padding"] = [draw(st.integers(0, max(0, s - 1))) for s in d["stride"]]
    try:
        Case.from_dict(d)
    except CaseError:
        assume(False)
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
