"""The TF32 rule, written once (check/tolerance.py) and read by the oracle checks and the relations."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from conformance.check import tolerance

# One sum of one product with |terms| 1: the float32 bound is 2 * 2**-24, the TF32 bound
# 2 * (2**-24 + 2 * 2**-10) (two operands, each truncated to a 10-bit mantissa).
FLOAT32_BOUND = 2 * 2.0 ** -24
TF32_BOUND = 2 * (2.0 ** -24 + 2 * 2.0 ** -10)


@pytest.mark.parametrize("dtype, device, profile", list(itertools.product(
    ("float16", "bfloat16", "float32", "float64"), ("cpu", "gpu"), ("defaults", "strict"))))
def test_tf32_applies_to_float32_on_a_gpu_under_defaults_only(dtype, device, profile):
    expected = (dtype, device, profile) == ("float32", "gpu", "defaults")
    assert tolerance.tf32_applies(dtype, device, profile) is expected
    arithmetic = tolerance.arithmetic_in_use(dtype, device, profile)
    assert arithmetic.name == ("tf32" if expected else dtype)


def test_the_bounds_are_the_hand_worked_ones():
    one = np.ones(1)
    assert tolerance.bound(one, 1, tolerance.arithmetic_for("float32"))[0] == FLOAT32_BOUND
    assert tolerance.bound(one, 1, tolerance.TF32)[0] == pytest.approx(TF32_BOUND, rel=1e-15)


def test_a_failed_float32_comparison_is_made_again_against_the_tf32_bound():
    expected, one = np.zeros(1), np.ones(1)
    within_tf32 = np.array([TF32_BOUND / 2])  # far over the float32 bound, half the TF32 one
    found = tolerance.fits_tf32(expected, within_tf32, one, 1, "float32", "gpu", "defaults")
    assert found is not None and found.ok and found.ratio == pytest.approx(0.5)
    assert tolerance.fits_tf32(expected, within_tf32, one, 1, "float32", "gpu", "strict") is None
    assert tolerance.fits_tf32(expected, within_tf32, one, 1, "float32", "cpu", "defaults") is None
    assert tolerance.fits_tf32(expected, np.array([2 * TF32_BOUND]), one, 1, "float32", "gpu", "defaults") is None
