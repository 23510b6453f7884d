"""The suite must catch planted faults: each adapter, wrapped with one fault (conformance/faults.py),
must produce a `fail` or `error` on some case of the default library, and the unwrapped adapter none
on that same case. The walk stops at the first catching case, cheapest cases first.

`python -m conformance.faults` prints the full table (fault x framework -> catching checks, relations
included).
"""
from __future__ import annotations

import functools

import pytest

from conformance.faults import FAULTS, default_library, find_catch
from conformance.known import load_known

FRAMEWORKS = ("torch", "tensorflow", "jax")


@functools.cache
def _adapter(name):
    from conformance.adapters import load_adapter

    return load_adapter(name)


@functools.cache
def _library():
    return default_library(), load_known("cases/known_differences.yaml")


@pytest.fixture(params=FRAMEWORKS)
def adapter(request):
    pytest.importorskip(request.param)
    return _adapter(request.param)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_planted_fault_is_caught(adapter, fault):
    cases, known = _library()
    catch = find_catch(adapter, fault, cases, known=known)
    assert catch.case is not None, f"{fault.description}: not caught by {catch.tried} cases on {adapter.name}"
    assert catch.clean_failures == [], (
        f"the unwrapped {adapter.name} already fails {catch.clean_failures} on {catch.case}: the catch proves nothing")


def test_faulty_wrapper_without_fault_effect_is_transparent(adapter):
    """The wrapper itself changes nothing: a fault that cannot show (no bias) leaves results equal."""
    from conformance.adapters.base import Target
    from conformance.case import Case
    from conformance.execute import evaluate
    from conformance.faults import FAULTS_BY_NAME, FaultyAdapter

    case = Case.from_dict({"id": "plain", "op": "conv", "input_shape": [1, 2, 5], "out_channels": 2,
                           "kernel_size": 3, "padding": "valid"})
    wrapped = FaultyAdapter(adapter, FAULTS_BY_NAME["grad_weight_times_batch"])  # batch 1: no effect
    target = Target(adapter.name, adapter.apis[0], "cpu")
    plain, faulty = evaluate(adapter, target, case, "float32"), evaluate(wrapped, target, case, "float32")
    assert [r.status for r in faulty] == [r.status for r in plain] == ["pass"] * len(plain)
