"""One pipeline: `conformance run`, the pytest plugin and `conformance explore`'s worker give the same
records for the same cases on the fake framework of tests/fakefw.py, known differences applied by
the workers' environment; and a results file names stale entries only for a run that finished."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fakefw
from conformance.results.records import RunResults

TESTS = Path(__file__).resolve().parent
CASES = """cases:
  - {id: plain, op: conv, input_shape: [1, 2, 5], out_channels: 2, kernel_size: 2, dtypes: [float32, float64]}
  - {id: wrong, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_wrong]}
  - {id: refused, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_unsupported]}
  - {id: boom, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_abort_layer]}
"""
# The functional API's wrong output is known where the worker's framework section says so (`when:`);
# the layer's stays a failure. `plain-never` is in scope (plain runs) but explains nothing: stale.
KNOWN = """known_differences:
  - id: fake-functional-wrong
    reason: The fake functional API adds one to the first element.
    link: https://example.org/fakefw/issues/1
    match: {framework: fakefw, api: fakefw.functional, case: wrong, check: output}
    when: {fakefw.version: "0.0-fake"}
  - id: plain-never
    reason: In scope, explains nothing.
    link: https://example.org/fakefw/issues/2
    match: {framework: fakefw, case: plain, check: output}
"""
# Differ between processes: when each ran, and what the worker that crashed wrote (addresses).
VOLATILE = ("timings", "stderr")


def _env() -> dict:
    return {**os.environ, **fakefw.environment_variables(TESTS)}


def _comparable(records) -> dict:
    """key -> record without the fields that differ between processes."""
    out = {}
    for r in records:
        d = {k: v for k, v in r.items() if k not in VOLATILE}
        out[(d["case"], d["api"], d["device"], d["precision"], d["dtype"], d["check"])] = d
    return out


def _cli(folder: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--cases", "cases.yaml", "--frameworks",
                           "fakefw", "--known", "known.yaml", "--retries", "0", "--json", "cli.json", "--html", ""],
                          cwd=folder, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the layer's wrong output and the crash
    return _content(folder / "cli.json")


def _pytest(folder: Path, *args) -> dict:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "cases.yaml",
                           "--conformance-frameworks", "fakefw", "--conformance-known", "known.yaml",
                           "--conformance-retries", "0", "--conformance-json", "pytest.json", *args],
                          cwd=folder, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return _content(folder / "pytest.json")


def _content(path: Path) -> dict:
    """The file's content with each record's texts (call, rerun) restored, as explore's records hold them."""
    return {**json.loads(path.read_text()), "results": [r.to_dict() for r in RunResults.read(path).results]}


EXPLORE = """
import json
from conformance.results.known import load_known
from conformance.search.explore import IsolatedFramework
from conformance.spec.loader import load_cases

known = load_known("known.yaml")
framework = IsolatedFramework("fakefw", known=known)
try:
    records = [r.to_dict() for case in load_cases("cases.yaml") for dtype in case.dtypes
               for r in framework.run_case(case, dtype, known=known, relations=False)]
finally:
    framework.close()
print(json.dumps(records))
"""


def _explore(folder: Path) -> list[dict]:
    """`conformance explore`'s way: each case through `IsolatedFramework.run_case` (in a process of its
    own, whose framework list has the fake one)."""
    proc = subprocess.run([sys.executable, "-c", EXPLORE], cwd=folder, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_run_pytest_and_explore_give_the_same_marked_records(tmp_path):
    (tmp_path / "cases.yaml").write_text(CASES)
    (tmp_path / "known.yaml").write_text(KNOWN)
    cli = _comparable(_cli(tmp_path)["results"])
    assert _comparable(_pytest(tmp_path)["results"]) == cli
    assert _comparable(_explore(tmp_path)) == cli
    # what the three agree on is what the cases ask for
    status = {(k[0], k[1], k[4], k[5]): r["status"] for k, r in cli.items()}
    assert status[("wrong", "fakefw.functional", "float32", "output")] == "known"
    assert cli[("wrong", "fakefw.functional", "cpu", "defaults", "float32", "output")]["known"]["when"] == {
        "fakefw.version": "0.0-fake"}
    assert status[("wrong", "fakefw.layer", "float32", "output")] == "fail"
    assert status[("refused", "fakefw.layer", "float32", "output")] == "unsupported"
    assert status[("boom", "fakefw.functional", "float32", "output")] == "pass"
    crashed = cli[("boom", "fakefw.layer", "cpu", "defaults", "float32", "output")]
    assert crashed["status"] == "crashed" and "case boom: " in crashed["message"]
    assert "--case-id boom" in crashed["rerun"]
    assert {s for (c, _, _, _), s in status.items() if c == "plain"} == {"pass"}
    assert len(cli) == 5 * (5 + 7)  # (case, dtype) pairs x (functional checks + layer checks), bias on


def test_only_a_session_that_finished_names_stale_entries(tmp_path):
    """A stale entry is one that matched nothing where it could have: a session stopped early (-x)
    did not run everything, so it names none, as an interrupted `conformance run` does."""
    (tmp_path / "cases.yaml").write_text(CASES)
    (tmp_path / "known.yaml").write_text(KNOWN)
    assert [s["id"] for s in _pytest(tmp_path)["stale_known"]] == ["plain-never"]
    stopped = _pytest(tmp_path, "-x")  # stops at the layer's wrong output, after plain ran
    assert "stopped early" in stopped["environment"]["partial"]
    assert any(r["case"] == "plain" for r in stopped["results"]) and stopped["stale_known"] == []
