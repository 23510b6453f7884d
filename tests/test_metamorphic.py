"""The metamorphic relations (conformance/check/relations.py).

- the derived adjoint case is right: on the oracle, its forward is the case's input gradient, exactly
  (small-integer data);
- on a correct framework (the fake one, which computes with the oracle) every relation holds;
- each relation can fail: planted faults (conformance/search/faults.py) break the relation named;
- a failing relation whose derived case a known difference covers is `known`;
- on the real frameworks, a few cases hold every relation.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fakefw

pytest_plugins = ["pytester"]
from conformance import Case
from conformance.check import oracle
from conformance.adapters.base import Target, Unsupported
from conformance.search.faults import FAULTS_BY_NAME, FaultyAdapter
from conformance.results.known import KnownDifference
from conformance.check.relations import RELATIONS, adjoint_case, evaluate_relations, relations_for
from conformance.results.records import CHECKS
from conformance.search.strategies import case_dicts, random_arrays

FAKE = Target("fakefw", "fakefw.functional", "cpu")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_relations_are_checks():
    assert set(RELATIONS) <= set(CHECKS)


@SETTINGS
@given(d=case_dicts(), seed=st.integers(0, 2**32 - 1))
def test_adjoint_case_forward_is_the_input_gradient(d, seed):
    case = Case.from_dict(d)
    try:
        adj = adjoint_case(case)
    except Unsupported:
        # only a 'same' transposed conv that extends its output has no adjoint conv (negative padding)
        assert case.op == "conv_transpose" and any(e < 0 for _, e in case.pads)
        return
    x, w, b, g = random_arrays(case, seed)
    assert adj.input_shape == case.output_shape and adj.output_shape == case.input_shape
    assert not adj.bias and adj.weight_shape == case.weight_shape
    np.testing.assert_array_equal(oracle.forward(adj, g, w), oracle.gradients(case, x, w, b, g).input)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=case_dicts(dtypes=("float32", "float64")))
def test_every_relation_holds_on_a_correct_framework(d):
    case = Case.from_dict(d)
    records = evaluate_relations(fakefw.FakeAdapter(), FAKE, case, case.dtypes[0])
    assert [r.check for r in records] == list(relations_for(case))
    no_adjoint = case.op == "conv_transpose" and any(e < 0 for _, e in case.pads)  # see the test above
    for r in records:
        if no_adjoint and r.check in ("relation_vjp", "relation_adjoint"):
            assert r.status == "unsupported" and "negative padding" in r.message
        else:
            assert r.status == "pass", (r.check, r.message)
            assert r.error_ratio is not None and r.error_ratio <= 1


GROUPED_CONV = {"id": "g", "op": "conv", "input_shape": [2, 4, 6], "out_channels": 4, "kernel_size": 3,
                "groups": 2, "padding": 1}
TRANSPOSED = {"id": "t", "op": "conv_transpose", "input_shape": [2, 2, 5], "out_channels": 4, "kernel_size": 3,
              "stride": 2, "padding": [[1, 0]], "output_padding": 1}


@pytest.mark.parametrize("relation, fault, case", [
    ("relation_vjp", "one_element_perturbed", TRANSPOSED),  # forward perturbed, autodiff gradient not
    ("relation_adjoint", "one_element_perturbed", GROUPED_CONV),
    ("relation_groups", "groups_ignored", GROUPED_CONV),
    ("relation_linear_input", "bias_twice", TRANSPOSED),
    ("relation_linear_weight", "bias_twice", GROUPED_CONV),
    ("relation_permute_out", "weight_io_swapped", TRANSPOSED),
])
def test_each_relation_catches_a_planted_fault(relation, fault, case):
    case = Case.from_dict(case)
    clean = {r.check: r for r in evaluate_relations(fakefw.FakeAdapter(), FAKE, case, "float32")}
    faulty = {r.check: r for r in evaluate_relations(FaultyAdapter(fakefw.FakeAdapter(), FAULTS_BY_NAME[fault]),
                                                     FAKE, case, "float32")}
    assert clean[relation].status == "pass"
    assert faulty[relation].status == "fail", faulty[relation].message
    assert faulty[relation].error_ratio is None or faulty[relation].error_ratio > 1


def test_a_relation_broken_by_a_known_difference_of_its_derived_case_is_known():
    case = Case.from_dict(GROUPED_CONV | {"groups": 1})
    entry = KnownDifference("fake-transposed-output", "the fake's transposed output is off", "https://example.org",
                            {"framework": "fakefw", "features": ["conv_transpose"], "check": "output"})
    faulty = FaultyAdapter(fakefw.FakeAdapter(), FAULTS_BY_NAME["one_element_perturbed"])
    records = {r.check: r for r in evaluate_relations(faulty, FAKE, case, "float32", known=[entry])}
    # the vjp relation relies on the adjoint (transposed) case's output: covered by the entry
    assert records["relation_vjp"].status == "known"
    assert records["relation_vjp"].known["id"] == "fake-transposed-output"
    # the linear relation relies on the conv case only: a real failure (the perturbation of the
    # largest element does not commute with the split, and the bias makes it differ even at one index)
    assert records["relation_linear_input"].status == "fail"


def test_an_unsupported_case_makes_every_relation_unsupported():
    case = Case.from_dict(GROUPED_CONV | {"tags": ["fake_unsupported"]})
    records = evaluate_relations(fakefw.FakeAdapter(), FAKE, case, "float32")
    assert records and {r.status for r in records} == {"unsupported"}


@functools.cache
def _adapter(name):
    from conformance.adapters import load_adapter

    return load_adapter(name)


REAL_CASES = [
    {"id": "rel_conv2d", "op": "conv", "input_shape": [2, 4, 5, 6], "out_channels": 4, "kernel_size": [3, 2],
     "stride": [2, 1], "padding": "valid", "groups": 2},
    {"id": "rel_convT1d", "op": "conv_transpose", "input_shape": [1, 2, 5], "out_channels": 3, "kernel_size": 3,
     "stride": 2, "padding": 1, "output_padding": 1},
]


@pytest.mark.parametrize("framework", ["torch", "tensorflow", "jax"])
def test_real_frameworks_hold_the_relations(framework):
    pytest.importorskip(framework)
    adapter = _adapter(framework)
    statuses = {}
    for d in REAL_CASES:
        case = Case.from_dict(d)
        for api in adapter.apis:
            for r in evaluate_relations(adapter, Target(framework, api, "cpu"), case, "float32"):
                statuses[(case.id, api, r.check)] = (r.status, r.message)
                assert r.status in ("pass", "unsupported"), (case.id, api, r.check, r.message)
    assert any(s == "pass" for s, _ in statuses.values())


def test_run_with_relations_adds_relation_records_and_run_without_does_not(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "cases.yaml").write_text(
        "cases:\n  - {id: g, op: conv, input_shape: [1, 4, 6], out_channels: 4, kernel_size: 3, groups: 2}\n")
    env = {**os.environ, **fakefw.environment_variables(Path(__file__).resolve().parent)}

    def run(*extra):
        proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--cases", "cases.yaml", "--frameworks",
                               "fakefw", "--json", "r.json", "--html", "", *extra], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return {(r["api"], r["check"]): r["status"] for r in json.loads((tmp_path / "r.json").read_text())["results"]}

    plain, with_relations = run(), run("--relations")
    assert not any(check.startswith("relation_") for _, check in plain)
    relations = {k: v for k, v in with_relations.items() if k[1].startswith("relation_")}
    assert {check for _, check in relations} == set(relations_for(Case.from_dict(
        {"id": "g", "op": "conv", "input_shape": [1, 4, 6], "out_channels": 4, "kernel_size": 3, "groups": 2})))
    assert set(relations.values()) == {"pass"}


def test_relations_run_in_the_workers_so_a_crash_costs_only_its_unit(tmp_path):
    """--relations runs in the framework workers: os.abort() in one API gives `crashed` records for that
    API's checks and relations (filled in by the parent), and the other API's relations still pass."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "cases.yaml").write_text(
        "cases:\n  - {id: a, op: conv, input_shape: [1, 2, 6], out_channels: 2, kernel_size: 3, "
        "tags: [fake_abort_layer]}\n")
    env = {**os.environ, **fakefw.environment_variables(Path(__file__).resolve().parent)}
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--cases", "cases.yaml", "--frameworks",
                           "fakefw", "--json", "r.json", "--html", "", "--relations"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    records = {(r["api"], r["check"]): r["status"] for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    expected_relations = set(relations_for(Case.from_dict(
        {"id": "a", "op": "conv", "input_shape": [1, 2, 6], "out_channels": 2, "kernel_size": 3})))
    for api, status in (("fakefw.layer", "crashed"), ("fakefw.functional", "pass")):
        relations = {check: s for (a, check), s in records.items() if a == api and check.startswith("relation_")}
        assert set(relations) == expected_relations and set(relations.values()) == {status}, (api, relations)


def test_pytest_option_adds_relation_items(pytester, monkeypatch):
    from pathlib import Path

    for key, value in fakefw.environment_variables(Path(__file__).resolve().parent).items():
        monkeypatch.setenv(key, value)
    pytester.makefile(".yaml", c="cases:\n  - {id: g, op: conv, input_shape: [1, 4, 6], out_channels: 4, "
                                 "kernel_size: 3, groups: 2}\n")
    args = ("-p", "no:cacheprovider", "--conformance-frameworks", "fakefw", "c.yaml", "-v")
    plain = pytester.runpytest_subprocess(*args)
    with_relations = pytester.runpytest_subprocess(*args, "--conformance-relations")
    assert "-relation_" not in plain.stdout.str()  # no relation item ids ('...-float32-relation_vjp]')
    assert plain.ret == 0
    case = Case.from_dict({"id": "g", "op": "conv", "input_shape": [1, 4, 6], "out_channels": 4, "kernel_size": 3,
                           "groups": 2})
    for api in ("fakefw.functional", "fakefw.layer"):
        with_relations.stdout.fnmatch_lines([f"*g[[]{api}-cpu-float32-{check}[]] PASSED*"
                                             for check in relations_for(case)], consecutive=False)
    assert with_relations.ret == 0
