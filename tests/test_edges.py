"""Empty tensors and configurations with no valid output (docs/semantics.md#empty-tensors): the case
model accepts them, the oracle gives the empty output and zero gradients, and the checks apply the
rules: a raise is allowed where there is no valid output, a non-empty output there fails
`output_shape`, a raise on an empty batch fails, and the weight and bias gradients of an empty batch
must be zeros. Expected shapes are worked out by hand from the formulas in the comments."""
from __future__ import annotations

import numpy as np
import pytest

import fakefw
from conformance import Case
from conformance.adapters.base import Target
from conformance.check import oracle
from conformance.check.evaluate import evaluate
from conformance.spec.features import case_features
from conformance.spec.inputs import make_inputs


def case(tags=(), **fields):
    return Case.from_dict({"id": "edge", "out_channels": 3, "tags": list(tags), **fields})


# (fields, the output shape by hand)
NO_VALID_OUTPUT = [
    # conv: floor((in + pad - k_eff) / s) + 1, clamped at 0
    (dict(op="conv", input_shape=[1, 2, 4], kernel_size=5), (1, 3, 0)),  # (4 - 5) / 1 + 1 = 0
    (dict(op="conv", input_shape=[1, 2, 3], kernel_size=5), (1, 3, 0)),  # (3 - 5) / 1 + 1 = -1
    (dict(op="conv", input_shape=[1, 2, 5], kernel_size=3, dilation=3), (1, 3, 0)),  # k_eff 7 > 5
    (dict(op="conv", input_shape=[1, 2, 5], kernel_size=3, dilation=3, stride=2), (1, 3, 0)),  # floor(-2/2) + 1 = 0
    (dict(op="conv", input_shape=[1, 2, 3], kernel_size=7, padding=1), (1, 3, 0)),  # 3 + 2 = 5 < 7
    (dict(op="conv", input_shape=[1, 2, 6, 3], kernel_size=[3, 5]), (1, 3, 4, 0)),  # 6 - 3 + 1 = 4; 3 < 5
    (dict(op="conv", input_shape=[1, 2, 4, 4, 4], kernel_size=2, dilation=[1, 1, 4]), (1, 3, 3, 3, 0)),  # k_eff 5 > 4
    # conv_transpose: s * (in - 1) + k_eff + output_padding - begin - end, clamped at 0
    (dict(op="conv_transpose", input_shape=[1, 2, 1], kernel_size=1, padding=[[1, 0]]), (1, 3, 0)),  # 1 - 1
    (dict(op="conv_transpose", input_shape=[1, 2, 3], kernel_size=3, padding=3), (1, 3, 0)),  # 5 - 6 = -1
    (dict(op="conv_transpose", input_shape=[1, 2, 3, 3], kernel_size=3, stride=2, padding=[[3, 4], 1]),
     (1, 3, 0, 5)),  # 2 * 2 + 3 = 7: 7 - 7 = 0 and 7 - 2 = 5
    (dict(op="conv_transpose", input_shape=[1, 2, 2, 2], kernel_size=2, stride=2, output_padding=1,
          padding=[[3, 2], [3, 2]]), (1, 3, 0, 0)),  # 2 + 2 + 1 = 5, 5 - 5 = 0
]


@pytest.mark.parametrize("fields, shape", NO_VALID_OUTPUT)
def test_no_valid_output_is_a_case_with_an_empty_output(fields, shape):
    c = case(**fields)
    assert c.output_shape == shape
    assert c.no_valid_output and not c.empty_batch
    assert "no_valid_output" in case_features(c)


def test_empty_batch_is_a_case():
    c = case(op="conv_transpose", input_shape=[0, 2, 3, 3], kernel_size=3, stride=2, padding=1)
    assert c.output_shape == (0, 3, 5, 5)  # 2 * 2 + 3 - 2 = 5
    assert c.empty_batch and not c.no_valid_output
    assert c.weight_shape == (2, 3, 3, 3) and c.param_count == 2 * 3 * 9 + 3
    assert "empty_batch" in case_features(c) and "no_valid_output" not in case_features(c)
    assert Case.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("fields", [f for f, _ in NO_VALID_OUTPUT] + [
    dict(op="conv", input_shape=[0, 3, 6, 6], kernel_size=3, groups=3),
    dict(op="conv_transpose", input_shape=[0, 2, 4], kernel_size=3, stride=2, bias=False),
])
def test_oracle_gives_empty_output_and_zero_gradients(fields):
    c = case(**fields)
    x, w, b, g = make_inputs(c, "float32")
    y = oracle.forward(c, x, w, b)
    assert y.shape == c.output_shape and y.size == 0
    grads = oracle.gradients(c, x, w, b, g)
    # the input gradient has the input's shape (empty where the batch is), the weight and bias
    # gradients the parameters' shapes, all zero: sum(y * g) is an empty sum
    assert grads.input.shape == tuple(fields["input_shape"]) and not grads.input.any()
    assert grads.weight.shape == c.weight_shape and not grads.weight.any() and grads.weight.size > 0
    if c.bias:
        assert grads.bias.shape == (3,) and not grads.bias.any()
    else:
        assert grads.bias is None


def test_one_element_output_is_not_an_edge():
    c = case(op="conv", input_shape=[1, 2, 3, 3], kernel_size=3)
    assert c.output_shape == (1, 3, 1, 1) and not c.no_valid_output and not c.empty_batch


# ---------------------------------------------------------------- the checks, on the fake framework
FAKE = fakefw.FakeAdapter()
TARGET = Target("fakefw", "fakefw.layer", "cpu")
KERNEL_WIDER = dict(op="conv", input_shape=[1, 2, 3, 3], kernel_size=5)
BATCH0 = dict(op="conv", input_shape=[0, 2, 5, 5], kernel_size=3)


def statuses(records):
    return {r.check: r.status for r in records}


def test_returning_the_empty_tensor_passes_every_check():
    for fields in (KERNEL_WIDER, BATCH0):
        records = evaluate(FAKE, TARGET, case(**fields), "float32")
        assert set(statuses(records).values()) == {"pass"}, [(r.check, r.message) for r in records]


def test_a_raise_where_there_is_no_valid_output_passes_with_the_framework_text():
    records = evaluate(FAKE, TARGET, case(["fake_raise_on_empty"], **KERNEL_WIDER), "float32")
    assert set(statuses(records).values()) == {"pass"}
    assert all("no valid output" in r.message and "fakefw: output size is too small" in r.message for r in records)


def test_a_non_empty_output_where_there_is_no_valid_output_fails_output_shape():
    records = evaluate(FAKE, TARGET, case(["fake_nonempty_output"], **KERNEL_WIDER), "float32")
    got = {r.check: r for r in records}
    assert got["output_shape"].status == "fail"
    assert got["output_shape"].got == [1, 3, 1, 1] and got["output_shape"].expected == [1, 3, 0, 0]


def test_a_raise_on_an_empty_batch_fails():
    records = evaluate(FAKE, TARGET, case(["fake_raise_on_empty"], **BATCH0), "float32")
    assert set(statuses(records).values()) == {"fail"}
    assert all("empty batch" in r.message and "fakefw: output size is too small" in r.message for r in records)


def test_a_declared_refusal_on_an_empty_batch_is_unsupported():
    records = evaluate(FAKE, TARGET, case(["fake_framework_refuses"], **BATCH0), "float32")
    assert set(statuses(records).values()) == {"unsupported"}


def test_non_zero_weight_gradient_of_an_empty_batch_fails_grad_weight_alone():
    records = evaluate(FAKE, TARGET, case(["fake_weight_grad_garbage"], **BATCH0), "float32")
    s = statuses(records)
    assert s.pop("grad_weight") == "fail"
    assert set(s.values()) == {"pass"}
    assert np.isinf(next(r.error_ratio for r in records if r.check == "grad_weight"))  # its bound is 0


def test_an_error_elsewhere_stays_an_error():
    records = evaluate(FAKE, TARGET, case(["fake_internal_assert"], op="conv", input_shape=[1, 2, 5, 5],
                                          kernel_size=3), "float32")
    assert set(statuses(records).values()) == {"error"}


# ---------------------------------------------------------------- repro and port say what happened
def test_repro_and_port_say_that_an_allowed_raise_was_allowed(capsys):
    from types import SimpleNamespace

    from conformance.port.command import standing
    from conformance.repro.command import _no_script
    from conformance.check.unit import Unit

    c = case(["fake_raise_on_empty"], **KERNEL_WIDER)
    records = evaluate(FAKE, TARGET, c, "float32")
    assert standing(records, bad=False) == "raises (no valid output: allowed)"
    run = SimpleNamespace(records=records, case=c, unit=Unit(TARGET, "float32"), material={"body": None})
    assert _no_script(run) == 2
    err = capsys.readouterr().err
    assert "as a target may where the case has no valid output" in err and "no script was written" in err
    assert standing(evaluate(FAKE, TARGET, case(**KERNEL_WIDER), "float32"), bad=False) == "exact"


def test_an_empty_output_has_no_relations():
    from conformance.check.relations import relations_for

    assert relations_for(case(**KERNEL_WIDER)) == () and relations_for(case(**BATCH0)) == ()
    assert "relation_vjp" in relations_for(case(op="conv", input_shape=[1, 2, 5, 5], kernel_size=3))
