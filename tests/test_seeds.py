"""The worked examples of cases/seeds.yaml: the oracle and the case model reproduce them exactly.

The expected values in the YAML were derived by hand (see the comments there), not by the oracle.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conformance import Case, load_cases
from conformance.check import oracle
from conformance.spec.inputs import make_inputs

SEEDS = Path(__file__).resolve().parents[1] / "cases" / "seeds.yaml"
CASES = load_cases(SEEDS)
BY_ID = {c.id: c for c in CASES}


def test_every_seed_has_an_expectation():
    assert len(CASES) >= 13
    assert all(c.expect for c in CASES)


@pytest.mark.parametrize("case, dtype", [pytest.param(c, d, id=f"{c.id}-{d}") for c in CASES
                                         if "output" in c.expect for d in c.dtypes])
def test_oracle_reproduces_expected_output_exactly(case, dtype):
    x, w, b, _ = make_inputs(case, dtype)
    # The data are exact in every declared dtype: rounding must not have changed them.
    np.testing.assert_array_equal(x, case.data["input"])
    np.testing.assert_array_equal(oracle.forward(case, x, w, b), case.expect["output"])


@pytest.mark.parametrize("case", [c for c in CASES if {"output_shape", "weight_shape", "param_count"} & set(c.expect)],
                         ids=lambda c: c.id)
def test_case_model_derives_expected_shapes_and_counts(case):
    for key in ("output_shape", "weight_shape", "param_count"):
        if key in case.expect:
            assert getattr(case, key) == case.expect[key], key


def test_keras_stack_total_parameter_count():
    stack = [c for c in CASES if "keras_stack" in c.tags]
    assert [c.param_count for c in stack] == [2400, 4896, 1989, 819]
    assert sum(c.param_count for c in stack) == 10104


def test_second_layer_consumes_first_layers_output():
    first, second = BY_ID["seed_arange18_two_layers_first"], BY_ID["seed_arange18_two_layers_second"]
    np.testing.assert_array_equal(second.data["input"], first.expect["output"])


def test_one_kernel_per_input_channel():
    """56 filters over 5 channels are 280 separate 4x4 kernels, not 56 shared ones."""
    case = BY_ID["seed_9x9x5_k4_56_filters"]
    out_ch, in_ch, kh, kw = case.weight_shape
    assert (out_ch * in_ch, kh * kw) == (280, 16)


def bilinear_upsample_x2(img):
    """Half-pixel bilinear interpolation (align_corners=False), written from its definition."""
    h, w = img.shape
    out = np.zeros((2 * h, 2 * w))
    for i in range(2 * h):
        for j in range(2 * w):
            y, x = (i + 0.5) / 2 - 0.5, (j + 0.5) / 2 - 0.5
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            fy, fx = y - y0, x - x0
            val = 0.0
            for dy, wy in ((0, 1 - fy), (1, fy)):
                for dx, wx in ((0, 1 - fx), (1, fx)):
                    yy, xx = min(max(y0 + dy, 0), h - 1), min(max(x0 + dx, 0), w - 1)
                    val += wy * wx * img[yy, xx]
            out[i, j] = val
    return out


@pytest.mark.parametrize("size", [2, 3, 5])
def test_bilinear_kernel_interior_is_bilinear_interpolation(size):
    seed = BY_ID["seed_fcn_bilinear_upsample_x2"]
    fields = {k: v for k, v in seed.to_dict().items() if k not in ("expect", "data")}
    case = Case.from_dict({**fields, "id": f"bilinear_{size}", "input_shape": [1, 1, size, size]})
    img = np.random.default_rng(size).standard_normal((size, size))
    y = oracle.forward(case, img[None, None], seed.data["weight"])[0, 0]
    np.testing.assert_allclose(y[1:-1, 1:-1], bilinear_upsample_x2(img)[1:-1, 1:-1], rtol=1e-12, atol=1e-12)
    # The kernel is the outer product of [0.25, 0.75, 0.75, 0.25].
    v = np.array([0.25, 0.75, 0.75, 0.25])
    np.testing.assert_array_equal(seed.data["weight"][0, 0], np.outer(v, v))
