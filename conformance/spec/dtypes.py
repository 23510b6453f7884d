"""Dtype names, their unit roundoff, and exact rounding of float64 data to each dtype (NumPy only).

bfloat16 is not a NumPy dtype; rounding to it is done on the float32 bit pattern (round to nearest,
ties to even), so the core needs no ml_dtypes.
"""
from __future__ import annotations

import numpy as np

DTYPE_NAMES = ("float16", "bfloat16", "float32", "float64")

# Unit roundoff u = 2**-p for a p-bit significand (round to nearest).
UNIT_ROUNDOFF = {
    "float16": 2.0 ** -11,
    "bfloat16": 2.0 ** -8,
    "float32": 2.0 ** -24,
    "float64": 2.0 ** -53,
    # TF32: a float32 range with a 10-bit stored mantissa; operands may be truncated rather than
    # rounded on some paths, so its bound uses 2**-10 (one ulp) per operand.
    "tf32": 2.0 ** -10,
}

# Underflow: a product (or a result rounded to the dtype) that falls below the smallest normal number
# lands on the subnormal grid, whose spacing is the smallest subnormal 2**(emin - p + 1); rounding to
# nearest is then off by up to half of it, an absolute error that no relative bound covers (IEEE 754
# gradual underflow; Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. (2.8)).
UNDERFLOW = {
    "float16": 2.0 ** -25,   # emin -14, p 11: smallest subnormal 2**-24
    "bfloat16": 2.0 ** -134,  # emin -126, p 8: smallest subnormal 2**-133
    "float32": 2.0 ** -150,  # emin -126, p 24: smallest subnormal 2**-149
    "float64": 2.0 ** -1074,  # the smallest subnormal itself: half of it is not a float64 (it is 0)
    "tf32": 2.0 ** -150,  # float32's range
}


def round_to(values: np.ndarray, dtype: str) -> np.ndarray:
    """float64 values rounded to the nearest value representable in `dtype`, returned as float64."""
    values = np.asarray(values, dtype=np.float64)
    if dtype == "float64":
        return values.copy()
    if dtype in ("float32", "float16"):
        return values.astype(dtype).astype(np.float64)
    if dtype == "bfloat16":
        bits = values.astype(np.float32).view(np.uint32)
        # Round to nearest even on the 16 bits that bfloat16 drops.
        rounding = np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
        rounded = ((bits + rounding) & np.uint32(0xFFFF0000)).view(np.float32)
        return rounded.astype(np.float64)
    raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPE_NAMES)}")
