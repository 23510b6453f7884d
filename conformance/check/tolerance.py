"""The tolerance policy: a per-element error bound from the dot-product error analysis.

Every computed element is a sum of at most K products (plus a bias). With unit roundoff u of the
arithmetic used, a sum of K products computed in any order is off by at most about K * u times the
sum of the absolute values of its terms, A = (|x| (*) |w|) + |b|: the same convolution applied to
absolute values. A fixed rtol/atol cannot do this: it gives false alarms where terms cancel and
misses where they do not.

    bound = SAFETY * ((K * u_acc + 2 * u_operand) * A + (K + 1) * eta)     (where A > 0; 0 where A == 0)

- u_acc: unit roundoff of the accumulation (the dtype's own: the conservative assumption);
- u_operand: rounding of each operand before the products (0, except TF32, which keeps 10 mantissa
  bits of a float32 operand and may truncate, so one ulp 2**-10 per operand);
- eta: half the smallest subnormal of the arithmetic. A product that underflows is rounded on the
  subnormal grid, an absolute error of up to eta that the relative term misses for tiny terms
  (float16's subnormals start below 6.1e-5); sums that underflow are exact, so each of the K
  products, and the final rounding to the output dtype, add at most eta each. Where A == 0 every
  product is an exact zero and no rounding happens, so the bound stays 0 there;
- SAFETY = 2: room for the oracle's own float64 rounding and for algorithms (Winograd, FFT) whose
  error constant is somewhat above that of a plain sum.

Each error is reported as a ratio to its bound: 1.0 is the edge.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from conformance.check import oracle
from conformance.check.compare import Comparison, compare
from conformance.spec.case import Case
from conformance.spec.dtypes import UNDERFLOW, UNIT_ROUNDOFF

SAFETY = 2.0


class Arithmetic(NamedTuple):
    name: str
    u_acc: float
    u_operand: float
    eta: float  # half the smallest subnormal: the absolute error of a rounding that underflows


def arithmetic_for(dtype: str) -> Arithmetic:
    return Arithmetic(dtype, UNIT_ROUNDOFF[dtype], 0.0, UNDERFLOW[dtype])


TF32 = Arithmetic("tf32", UNIT_ROUNDOFF["float32"], UNIT_ROUNDOFF["tf32"], UNDERFLOW["tf32"])


def tf32_applies(dtype: str, device: str, profile: str) -> bool:
    """Whether float32 may run as TF32: on a GPU under the 'defaults' precision profile, where the
    frameworks may turn it on by themselves (docs/semantics.md)."""
    return dtype == "float32" and device == "gpu" and profile == "defaults"


def arithmetic_in_use(dtype: str, device: str, profile: str) -> Arithmetic:
    """The arithmetic a computation of `dtype` may use on `device` under `profile`: TF32 where it
    applies, else the dtype's own."""
    return TF32 if tf32_applies(dtype, device, profile) else arithmetic_for(dtype)


def fits_tf32(expected: np.ndarray, got: np.ndarray, magnitude: np.ndarray, terms: int, dtype: str, device: str,
              profile: str) -> Comparison | None:
    """A comparison that failed its dtype's bound, made again against the TF32 bound: the new
    comparison where TF32 applies and the values fit it, else None."""
    if not tf32_applies(dtype, device, profile):
        return None
    tf32 = compare(expected, got, bound(magnitude, terms, TF32))
    return tf32 if tf32.ok else None


def magnitudes(case: Case, inputs) -> dict[str, np.ndarray | None]:
    """A per check: the sums of absolute values of the terms of every computed element."""
    ax, aw = np.abs(inputs.input), np.abs(inputs.weight)
    ab = None if inputs.bias is None else np.abs(inputs.bias)
    grads = oracle.gradients(case, ax, aw, ab, np.abs(inputs.grad_output))
    return {"output": oracle.forward(case, ax, aw, ab), "grad_input": grads.input,
            "grad_weight": grads.weight, "grad_bias": grads.bias}


def bound(magnitude: np.ndarray, terms: int, arithmetic: Arithmetic) -> np.ndarray:
    relative = (terms * arithmetic.u_acc + 2 * arithmetic.u_operand) * magnitude
    return SAFETY * np.where(magnitude > 0, relative + (terms + 1) * arithmetic.eta, 0.0)
