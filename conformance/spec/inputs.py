"""Inputs for a (case, dtype): random normal data from a seed derived from the case id.

The same seed and case id give the same arrays on every machine and in every process (the seed is a
hash of the text, not Python's salted `hash`). Values are rounded to the dtype and kept as float64:
every framework receives exactly these values, so the oracle and the framework see the same inputs.
"""
from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from conformance.spec.case import Case
from conformance.spec.dtypes import round_to

DEFAULT_SEED = 0


class Inputs(NamedTuple):
    input: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    grad_output: np.ndarray


def case_seed(case_id: str, seed: int = DEFAULT_SEED) -> int:
    digest = hashlib.blake2b(f"{seed}:{case_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def make_inputs(case: Case, dtype: str, seed: int = DEFAULT_SEED) -> Inputs:
    """Input, weight, bias and upstream gradient for the case, exactly representable in `dtype`.

    Explicit `data:` in the case wins over random data, array by array. The random draw does not
    depend on the dtype, so float16 and float64 runs see the same values up to rounding.
    """
    rng = np.random.default_rng(case_seed(case.id, seed))
    arrays = {
        "input": rng.standard_normal(case.input_shape),
        "weight": rng.standard_normal(case.weight_shape),
        "bias": rng.standard_normal(case.bias_shape) if case.bias else None,
        "grad_output": rng.standard_normal(case.output_shape),
    }
    for name, given in (case.data or {}).items():
        arrays[name] = given
    return Inputs(**{name: None if a is None else round_to(a, dtype) for name, a in arrays.items()})
