"""Comparison of a framework's array with the oracle's, through the error bound.

Vectorised on the whole array; the worst element, the values around it and a coarse heatmap of the
error are extracted only where a report needs them.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

HEATMAP_MAX = 32  # cells per side of the error heatmap kept for the report
WINDOW = 2  # elements each side of the worst one kept for the report


class Comparison(NamedTuple):
    ok: bool
    max_abs_error: float
    ratio: float  # worst error / bound (inf for NaN or an error where the bound is 0)
    worst_index: list[int]
    expected: float
    got: float


def compare(expected: np.ndarray, got: np.ndarray, bound: np.ndarray) -> Comparison:
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    err = np.abs(got - expected)
    ratios = error_ratios(expected, got, bound, err)
    if ratios.size == 0:
        return Comparison(True, 0.0, 0.0, [], 0.0, 0.0)
    flat = int(np.argmax(ratios))
    max_err = float(err.max())
    if math.isnan(max_err):  # NaN where the oracle is finite: the worst possible error
        max_err = math.inf
    ratio = float(ratios.flat[flat])
    worst = np.unravel_index(flat, ratios.shape)
    return Comparison(ratio <= 1.0, max_err, ratio, [int(i) for i in worst],
                      float(expected.flat[flat]), float(got.flat[flat]))


def error_ratios(expected, got, bound, err=None) -> np.ndarray:
    """|got - expected| / bound per element: 0 where they are equal (even with a bound of 0), inf
    where the error is not zero but the bound is, and inf where `got` is NaN or infinite (the
    oracle is always finite, so that is always the worst possible error). In place on one array:
    this runs for every check of every unit, mostly on small arrays, where each numpy call counts."""
    if err is None:
        err = np.abs(got - expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = err / bound
    ratios[err == 0] = 0.0
    finite = np.isfinite(got)
    if not finite.all():
        ratios[~finite] = np.inf
    return ratios


def detail(expected, got, bound, worst_index) -> dict:
    """Values around the worst element (last two axes) and a max-pooled map of error ratios."""
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    ratios = error_ratios(expected, got, bound)
    idx = list(worst_index)
    lead = tuple(idx[:-2]) if expected.ndim > 2 else ()
    window_axes = idx[-2:] if expected.ndim >= 2 else idx
    sl = tuple(slice(max(0, i - WINDOW), i + WINDOW + 1) for i in window_axes)
    origin = [s.start for s in sl]
    heat = ratios.reshape((-1,) + ratios.shape[-2:]).max(axis=0) if ratios.ndim >= 2 else ratios[None, :]
    return {
        "window_origin": origin,
        "window_expected": _finite(expected[lead + sl]),
        "window_got": _finite(got[lead + sl]),
        "heatmap": _finite(_pool(heat)),
        "heatmap_shape": list(heat.shape),
        "heatmap_axes": "max over all leading axes; rows and columns are the last two axes",
    }


def _pool(a: np.ndarray) -> np.ndarray:
    """Max-pool a 2-D array down to at most HEATMAP_MAX cells per side."""
    out = a
    for axis in (0, 1):
        n = out.shape[axis]
        if n > HEATMAP_MAX:
            step = -(-n // HEATMAP_MAX)
            pad = step * -(-n // step) - n
            widths = [(0, 0), (0, 0)]
            widths[axis] = (0, pad)
            out = np.pad(out, widths, constant_values=0)
            shape = list(out.shape)
            shape[axis:axis + 1] = [shape[axis] // step, step]
            out = out.reshape(shape).max(axis=axis + 1)
    return out


def _finite(a: np.ndarray):
    """Nested lists, with NaN and infinity as strings (JSON has no NaN)."""
    a = np.asarray(a, dtype=np.float64)
    if np.isfinite(a).all():
        return a.tolist()
    return [_finite(x) if x.ndim else (float(x) if np.isfinite(x) else str(float(x))) for x in a]
