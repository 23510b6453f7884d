"""The comparison through the error bound, on values whose answers are worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conformance.check.compare import compare

EXPECTED = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, 4.0]])
BOUND = np.full(EXPECTED.shape, 1e-3)


def test_within_the_bound_passes_with_the_worst_ratio():
    got = EXPECTED + np.array([[0.0, 5e-4, 0.0], [0.0, 0.0, -2.5e-4]])
    c = compare(EXPECTED, got, BOUND)
    assert c.ok and c.ratio == pytest.approx(0.5) and c.worst_index == [0, 1]
    assert c.max_abs_error == pytest.approx(5e-4) and c.expected == -2.0


def test_the_worst_ratio_not_the_largest_error_is_reported():
    bound = BOUND.copy()
    bound[1, 2] = 1.0  # the largest error (0.1) is well inside its own bound there
    got = EXPECTED.copy()
    got[1, 2] += 0.1
    got[0, 0] += 2e-3  # twice its bound
    c = compare(EXPECTED, got, bound)
    assert not c.ok and c.ratio == pytest.approx(2.0) and c.worst_index == [0, 0]
    assert c.max_abs_error == pytest.approx(0.1) and c.got == pytest.approx(1.002)


def test_a_zero_bound_allows_only_exact_values():
    bound = np.zeros(EXPECTED.shape)
    assert compare(EXPECTED, EXPECTED.copy(), bound) == (True, 0.0, 0.0, [0, 0], 1.0, 1.0)
    got = EXPECTED.copy()
    got[1, 1] = 1e-300
    c = compare(EXPECTED, got, bound)
    assert not c.ok and c.ratio == math.inf and c.worst_index == [1, 1]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_or_infinity_is_the_worst_error_whatever_the_bound(bad):
    got = EXPECTED.copy()
    got[0, 2] = bad
    got[1, 0] += 0.5  # a finite error elsewhere: not the worst, nor the largest
    c = compare(EXPECTED, got, np.full(EXPECTED.shape, 1e300))
    assert not c.ok and c.ratio == math.inf and c.worst_index == [0, 2]
    assert c.max_abs_error == math.inf and c.expected == 3.0


def test_empty_arrays_agree():
    empty = np.zeros((2, 0, 3))
    assert compare(empty, empty, empty).ok
