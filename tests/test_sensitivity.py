"""The suite must catch planted faults: each target, wrapped with one fault (conformance/search/faults.py),
must produce a `fail` or `error` on some case of the default library, and the unwrapped target none on
that same case. The walk stops at the first catching case, cheapest cases first.

Every target is searched, each framework kind in a fresh interpreter (`python -m conformance.search.faults
--frameworks KIND --json PATH`): a kind's settings are read once per process, at import
(tensorflow-onednn's oneDNN switch, the Keras backend of keras.torch.layer and keras.jax.layer). A
fault that cannot show on a target (a gradient fault on an inference-only target, a fault in a step the
target does not take) is skipped with the reason.
"""
from __future__ import annotations

import fcntl
import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conformance.adapters import missing_packages
from conformance.spec import frameworks
from conformance.search.faults import FAULTS

ROOT = Path(__file__).resolve().parents[1]
IN_PROCESS = ("torch", "tensorflow", "jax")  # the kinds the tests below load in this process


@functools.cache
def _adapter(name):
    from conformance.adapters import load_adapter

    return load_adapter(name)


@pytest.fixture(params=IN_PROCESS)
def adapter(request):
    pytest.importorskip(request.param)
    return _adapter(request.param)


@functools.cache
def _catches(kind: str) -> dict:
    """api -> fault -> catch, searched in a fresh interpreter running only `kind`, once per test run:
    under pytest-xdist the first worker to need a kind searches it, under a lock, and the others read
    its file (a kind's search takes from seconds to minutes)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # the same in every worker of one run
    if run is None:
        return _search(kind, Path(tempfile.mkdtemp(prefix="conformance-faults-")) / f"{kind}.json")
    shared = Path(tempfile.gettempdir()) / f"conformance-faults-{run}"
    shared.mkdir(exist_ok=True)
    out = shared / f"{kind}.json"
    with open(shared / f"{kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return json.loads(out.read_text())[kind] if out.exists() else _search(kind, out)


def _search(kind: str, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    backend = next((d.keras_backend for d in frameworks.kind_declarations(kind) if d.keras_backend), None)
    if backend:
        env["KERAS_BACKEND"] = backend
    done = subprocess.run([sys.executable, "-m", "conformance.search.faults", "--frameworks", kind, "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())[kind]


TARGETS = [(kind, api) for kind in frameworks.kinds() for api in frameworks.kind_apis(kind)]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
@pytest.mark.parametrize("kind,api", TARGETS, ids=[f"{api}@{kind}" for kind, api in TARGETS])
def test_planted_fault_is_caught_on_every_target(kind, api, fault):
    missing = missing_packages(kind, api)
    if missing:
        pytest.skip(f"{api} needs {', '.join(missing)}")
    catch = _catches(kind)[api][fault.name]
    if "not_applicable" in catch:
        pytest.skip(f"{fault.name} cannot show on {api}: {catch['not_applicable']}")
    assert catch["case"] is not None, f"{fault.description}: not caught by {catch['tried']} cases on {api}"
    assert catch["clean_failures"] == [], (
        f"the unwrapped {api} already fails {catch['clean_failures']} on {catch['case']}: the catch proves nothing")


def test_faulty_wrapper_without_fault_effect_is_transparent(adapter):
    """The wrapper itself changes nothing: a fault that cannot show (no bias) leaves results equal."""
    from conformance.adapters.base import Target
    from conformance.spec.case import Case
    from conformance.check.evaluate import evaluate
    from conformance.search.faults import FAULTS_BY_NAME, FaultyAdapter

    case = Case.from_dict({"id": "plain", "op": "conv", "input_shape": [1, 2, 5], "out_channels": 2,
                           "kernel_size": 3, "padding": "valid"})
    wrapped = FaultyAdapter(adapter, FAULTS_BY_NAME["grad_weight_times_batch"])  # batch 1: no effect
    target = Target(adapter.name, adapter.apis[0], "cpu")
    plain, faulty = evaluate(adapter, target, case, "float32"), evaluate(wrapped, target, case, "float32")
    assert [r.status for r in faulty] == [r.status for r in plain] == ["pass"] * len(plain)


# One missing piece does not hide the others: a quantity the adapter could not produce is reported on
# its own check, and everything that was computed is still compared.
# 2-D, so that the channels_last targets compute it too
BIASED = {"id": "biased", "op": "conv", "input_shape": [2, 2, 6, 5], "out_channels": 3, "kernel_size": 3,
          "padding": "valid", "bias": True}


def _faulty_records(adapter, *fault_names):
    """check -> (status, message) per API, with the faults planted (the first one innermost)."""
    from conformance.adapters.base import Target
    from conformance.spec.case import Case
    from conformance.check.evaluate import evaluate
    from conformance.search.faults import FAULTS_BY_NAME, FaultyAdapter

    wrapped = adapter
    for name in fault_names:
        wrapped = FaultyAdapter(wrapped, FAULTS_BY_NAME[name])
    case = Case.from_dict(BIASED)
    return {api: {r.check: (r.status, r.message) for r in evaluate(wrapped, Target(adapter.name, api, "cpu"),
                                                                    case, "float32")}
            for api in adapter.apis if not frameworks.forward_only(api) and not api.startswith(KERAS_ELSEWHERE)}


# Keras on the torch and JAX backends runs in a process of its own (KERAS_BACKEND): tests/keras_probe.py
KERAS_ELSEWHERE = ("keras.torch.", "keras.jax.")


def test_a_missing_bias_gradient_fails_that_check_alone(adapter):
    for api, got in _faulty_records(adapter, "bias_gradient_missing").items():
        assert got.pop("grad_bias") == ("fail", "the framework returned no gradient for the bias"), api
        assert {c: s for c, (s, _) in got.items()} == {c: "pass" for c in got}, (api, got)


def test_a_bias_left_out_of_the_graph_fails_the_output(adapter):
    for api, got in _faulty_records(adapter, "bias_dropped_no_gradient").items():
        assert got["output"][0] == "fail" and "its bound" in got["output"][1], (api, got["output"])
        assert got["grad_bias"] == ("fail", "the framework returned no gradient for the bias"), api
        passing = ["output_shape", "grad_input", "grad_weight"] + (["weight_shape"] if api.endswith(".layer") else [])
        assert {c: got[c][0] for c in passing} == {c: "pass" for c in passing}, (api, got)
        if api.endswith(".layer"):  # the layer has no bias parameter either
            assert got["param_count"][0] == "fail", (api, got["param_count"])


@pytest.mark.parametrize("forward_fault", [None, "one_element_perturbed"])
def test_a_raising_backward_keeps_the_forward_compared(adapter, forward_fault):
    faults = ([forward_fault] if forward_fault else []) + ["backward_raises"]
    for api, got in _faulty_records(adapter, *faults).items():
        assert got["output"][0] == ("fail" if forward_fault else "pass"), (api, got["output"])
        assert got["output_shape"][0] == "pass", api
        for check in ("grad_input", "grad_weight", "grad_bias"):
            assert got[check] == ("error", f"computing the {check.replace('grad_', 'gradient for the ')} raised "
                                           "conformance.search.faults.PlantedBackwardError: the backward pass raised"), api
