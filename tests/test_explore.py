"""`conformance explore`: the hypothesis search, its shrinking, the YAML it writes, known differences,
and the command. The searches on the real frameworks are marked `explore` (run with `-m explore`;
examples per the hypothesis profile, e.g. `--hypothesis-profile ci`)."""
from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.database import InMemoryExampleDatabase

import fakefw
from conformance.adapters.base import Unsupported
from conformance.search.explore import case_yaml, explore_framework, write_case
from conformance.search.faults import FAULTS_BY_NAME, FaultyAdapter
from conformance.results.known import KnownDifference
from conformance.spec.loader import load_cases

TESTS = Path(__file__).resolve().parent


def _search(adapter, examples=40, known=()):
    return explore_framework(adapter, examples=examples, seed=0, known=known, database=InMemoryExampleDatabase(),
                             devices=["cpu"], progress=None)


class _NoTransposed(fakefw.FakeAdapter):
    """Refuses transposed convs: `unsupported` is not a discrepancy."""

    def run(self, api, case, dtype, device, inputs):
        if case.op == "conv_transpose":
            raise Unsupported("this fake has no transposed conv")
        return super().run(api, case, dtype, device, inputs)


def test_a_correct_framework_gives_no_discrepancy_and_unsupported_is_fine():
    ex = _search(_NoTransposed(), examples=30)
    assert ex.found is None
    statuses = {r.status for r in ex.results}
    assert statuses == {"pass", "unsupported"}
    assert len(ex.cases) >= 10


@functools.cache
def _planted():
    return _search(FaultyAdapter(fakefw.FakeAdapter(), FAULTS_BY_NAME["bias_twice"]))


def test_a_planted_fault_is_found_and_shrunk_to_a_minimal_case():
    ex = _planted()
    assert ex.found is not None
    case = ex.found.case
    assert case.bias  # the fault needs a bias to show
    # hypothesis shrinks towards the smallest draw: one batch item, one spatial dim, no extras
    assert case.batch == 1 and case.ndim == 1 and case.groups == 1, case.describe()
    assert {r.check for r in ex.found.bad} >= {"output", "grad_bias"}


def test_the_minimal_case_is_written_as_a_loadable_case_file(tmp_path):
    ex = _planted()
    path = write_case(ex.found.case, ex.found, tmp_path)
    text = path.read_text()
    assert text.startswith("# A discrepancy found by `conformance explore`")
    (loaded,) = load_cases(path)
    original = ex.found.case.to_dict()
    assert {k: v for k, v in loaded.to_dict().items() if k != "source"} == original
    assert case_yaml(loaded).count("cases:") == 1


def test_known_differences_apply_to_explored_cases():
    entry = KnownDifference("fake-bias", "the fake adds its bias twice", "https://example.org",
                            {"framework": "fakefw", "features": ["bias"]})
    ex = _search(FaultyAdapter(fakefw.FakeAdapter(), FAULTS_BY_NAME["bias_twice"]), examples=20, known=[entry])
    assert ex.found is None
    assert "known" in {r.status for r in ex.results}


def _cli(tmp_path, *args):
    env = {**__import__("os").environ, **fakefw.environment_variables(TESTS)}
    return subprocess.run([sys.executable, "-m", "conformance", "explore", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_explore_command_writes_results_and_report(tmp_path):
    proc = _cli(tmp_path, "--frameworks", "fakefw", "--examples", "5", "--seed", "3", "--database", "none")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "reports/explore.json").read_text())
    assert data["results"] and {r["status"] for r in data["results"]} <= {"pass"}
    assert any(r["check"].startswith("relation_") for r in data["results"])
    assert (tmp_path / "reports/explore.html").exists()
    assert "fakefw: 5 cases" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--examples", "0"], "--examples must be at least 1"),
    (["--frameworks", "fakefw", "--dtypes", "float33"], "--dtypes: unknown value 'float33'"),
    (["--frameworks", "torchh"], "--frameworks: unknown value 'torchh'"),
])
def test_explore_command_bad_options_exit_2_with_one_line(tmp_path, args, message):
    proc = _cli(tmp_path, *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------------- the real frameworks
@functools.cache
def _known():
    from conformance.results.known import load_known

    return load_known(TESTS.parent / "cases" / "known_differences.yaml")


@pytest.mark.explore
@pytest.mark.parametrize("framework", ["torch", "tensorflow", "jax"])
def test_explore_real_framework(framework):
    """Random valid cases (float32, float64) on every API: no unexplained failure. Examples: the profile's."""
    pytest.importorskip(framework)
    from conformance.adapters import load_adapter

    profile = settings()
    ex = explore_framework(load_adapter(framework), examples=profile.max_examples, known=_known(),
                           settings=profile, devices=["cpu"], progress=None)
    if ex.found is not None:
        pytest.fail(f"{framework}: discrepancy, shrunk to this case:\n{case_yaml(ex.found.case, ex.found)}")


def test_the_running_case_is_on_disk_while_it_runs_and_removed_after(tmp_path):
    """If the framework crashes the process, the case that was running is the reproducer left behind."""
    running = tmp_path / "explore-fakefw-running.yaml"
    seen = []

    class Watching(fakefw.FakeAdapter):
        def run(self, api, case, dtype, device, inputs):
            if not case.id.endswith(("~adjoint",)) and "~group" not in case.id:
                (on_disk,) = load_cases(running)
                seen.append(on_disk.id == case.id)
            return super().run(api, case, dtype, device, inputs)

    ex = explore_framework(Watching(), examples=5, seed=0, database=InMemoryExampleDatabase(), devices=["cpu"],
                           progress=None, running_file=running)
    assert ex.found is None and seen and all(seen)
    assert not running.exists()


ISOLATED = """
import json, sys
from hypothesis.database import InMemoryExampleDatabase
from conformance import Case
from conformance.search.explore import IsolatedFramework, explore_framework

framework = IsolatedFramework("fakefw")
try:
    crash = Case.from_dict({"id": "boom", "op": "conv", "input_shape": [1, 1, 4], "out_channels": 1,
                            "kernel_size": 2, "tags": ["fake_abort_layer"]})
    statuses = {(r.api, r.check): r.status for r in framework.run_case(crash, "float32", relations=False)}
    ex = explore_framework(framework, examples=8, seed=0, database=InMemoryExampleDatabase(), devices=["cpu"],
                           progress=None)
finally:
    framework.close()
print(json.dumps({"crash": sorted(set((api, s) for (api, _), s in statuses.items())),
                  "explored": len(ex.cases), "found": ex.found is not None,
                  "workers": framework.pool.spawned["fakefw"]}))
"""


def test_explore_runs_the_framework_in_a_worker_that_survives_a_crash(tmp_path):
    """A framework that aborts its process costs `crashed` records; the search goes on (fresh worker)."""
    env = {**__import__("os").environ, **fakefw.environment_variables(TESTS)}
    proc = subprocess.run([sys.executable, "-c", ISOLATED], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["crash"] == [["fakefw.functional", "pass"], ["fakefw.layer", "crashed"]]
    assert out["explored"] == 8 and not out["found"]  # the random cases after the crash all ran, and pass
    assert out["workers"] == 2  # the first, and the one that replaced it after the abort
