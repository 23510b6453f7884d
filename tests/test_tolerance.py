"""The TF32 rule, written once (check/tolerance.py) and read by the oracle checks and the relations."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from conformance.check import tolerance

# One sum of one product with |terms| 1: the float32 bound is 2 * (2**-24 + 2 * 2**-150), the TF32
# bound 2 * (2**-24 + 2 * 2**-10 + 2 * 2**-150) (two operands, each truncated to a 10-bit mantissa);
# the 2 * 2**-150: K + 1 = 2 roundings that may underflow, each by half float32's smallest subnormal.
FLOAT32_BOUND = 2 * (2.0 ** -24 + 2 * 2.0 ** -150)
TF32_BOUND = 2 * (2.0 ** -24 + 2 * 2.0 ** -10 + 2 * 2.0 ** -150)


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


def _half_smallest_subnormal(exponent_bits: int, mantissa_bits: int) -> float:
    """From the format alone: emin = 2 - 2**(e - 1), smallest subnormal 2**(emin - mantissa_bits)."""
    emin = 2 - 2 ** (exponent_bits - 1)
    return 2.0 ** (emin - mantissa_bits) / 2


@pytest.mark.parametrize("dtype, exponent_bits, mantissa_bits", [
    ("float16", 5, 10), ("bfloat16", 8, 7), ("float32", 8, 23)])
def test_the_underflow_term_is_half_the_smallest_subnormal(dtype, exponent_bits, mantissa_bits):
    eta = _half_smallest_subnormal(exponent_bits, mantissa_bits)
    assert tolerance.arithmetic_for(dtype).eta == eta
    if dtype != "bfloat16":  # NumPy knows these formats: the same number from its own tables
        assert eta == float(np.finfo(dtype).smallest_subnormal) / 2


def test_a_correctly_rounded_product_that_underflows_is_within_the_bound():
    """The float16 grad_input element of cases/layers.yaml's layers_mobilenetv2_dw3x3_c96_s2 (K = 9):
    one product, below float16's smallest normal number, rounded to the subnormal grid."""
    g, w = float(np.float16(2.580881118774414e-05)), float(np.float16(-0.03108215))
    exact = g * w  # exact in float64: two 11-bit significands
    rounded = float(np.float16(exact))  # what a correctly rounding float16 path returns
    assert abs(rounded - exact) > 2 * 9 * 2.0 ** -11 * abs(exact)  # over the relative term alone
    assert abs(rounded - exact) <= 2.0 ** -25  # half a subnormal step
    magnitude = np.array([abs(exact)])
    fp16 = tolerance.arithmetic_for("float16")
    assert tolerance.compare(np.array([exact]), np.array([rounded]), tolerance.bound(magnitude, 9, fp16)).ok
    # one subnormal step more than a rounding is still an error the bound catches at K = 0 (no sum)
    off = np.array([exact + 3 * 2.0 ** -24])
    assert not tolerance.compare(np.array([exact]), off, tolerance.bound(magnitude, 0, fp16)).ok


def test_where_every_term_is_zero_the_bound_is_zero():
    bound = tolerance.bound(np.zeros(3), 1000, tolerance.arithmetic_for("float16"))
    assert (bound == 0).all()
