"""Retries, --repeat, the story of a crash, worker output and --targets (issue 14), on the fake
framework of tests/fakefw.py: its `fake_abort_every_other` and `fake_raise_every_other` tags fail the
first call of a unit and work on the second (a counter in the pool's scratch folder), in whichever
worker process runs it."""
from __future__ import annotations

import base64
import gzip
import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fakefw
from conformance.run.attempts import combine
from conformance.results.records import Result, RunResults

TESTS = Path(__file__).resolve().parent
CASE = "{{id: {id}, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2{extra}}}"
LAYER_CHECKS = ("output_shape", "output", "weight_shape", "param_count", "grad_input", "grad_weight", "grad_bias")


def case_line(case_id, *tags, extra=""):
    return "  - " + CASE.format(id=case_id, extra=(f", tags: [{', '.join(tags)}]" if tags else "") + extra) + "\n"


def run_cli(cwd, *args, timeout=180):
    env = {**os.environ, **fakefw.environment_variables(TESTS)}
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run(tmp_path, cases: str, *args, name="r"):
    (tmp_path / "cases.yaml").write_text("cases:\n" + cases)
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "none",
                   "--json", f"{name}.json", "--html", f"{name}.html", "--jobs", "1", *args)
    data = json.loads((tmp_path / f"{name}.json").read_text())
    records = [r.to_dict() for r in RunResults.read(tmp_path / f"{name}.json").results]  # texts restored
    recs = {(r["case"], r["api"], r["dtype"], r["check"]): r for r in records}
    return proc, recs, data


def of(recs, case, api="fakefw.layer"):
    return [r for k, r in recs.items() if k[0] == case and k[1] == api]


# ------------------------------------------------------------------------- retries
@pytest.fixture(scope="module")
def flaky_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flaky")
    cases = (case_line("a_good") + case_line("b_abort", "fake_abort_every_other") + case_line("c_crash", "fake_crash")
             + case_line("d_raise", "fake_raise_every_other"))
    return (tmp,) + run(tmp, cases)


def test_a_crash_then_a_pass_is_flaky_with_its_attempts(flaky_run):
    tmp, proc, recs, data = flaky_run
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for api in ("fakefw.functional", "fakefw.layer"):
        for r in of(recs, "b_abort", api):  # every check of the unit: the crash cost them all
            assert r["status"] == "flaky"
            assert r["attempts"] == [{"status": "crashed", "message": "the fakefw worker process died (signal 6) "
                                                                     "while running this case"}]
            assert r["message"].startswith("flaky: 2 attempts gave crashed, pass; attempt 1: the fakefw worker")
            assert f"fakefw: about to abort in b_abort on {api}" in r["stderr"]  # the crashed attempt's
    assert {r["status"] for r in of(recs, "a_good")} == {"pass"} and "attempts" not in of(recs, "a_good")[0]
    assert data["summary"]["by_status"]["flaky"] == 5 + 7 + 5 + 7  # b_abort and d_raise, both APIs
    assert "FLAKY    b_abort [fakefw.layer@cpu defaults float32 output_shape, output, weight_shape" in proc.stdout
    html = (tmp / "r.html").read_text()
    assert 'class="pill st-flaky"' in html
    packed = html.split('id="report-data" data-encoding="gzip, base64">')[1].split("</script>")[0]
    rows = json.loads(gzip.decompress(base64.b64decode(packed)))["discrepancies"]
    story = next(d["story"] for d in rows if (d["case"], d["target"], d["check"]) == ("b_abort", "fakefw.layer@cpu", "output"))
    assert story["attempts"][0]["status"] == "crashed" and "about to abort in b_abort" in story["stderr"]
    assert story["rerun"].startswith("conformance run --cases cases.yaml --case-id b_abort --targets fakefw.layer@cpu")


def test_an_error_then_a_pass_is_flaky(flaky_run):
    _, _, recs, _ = flaky_run
    for r in of(recs, "d_raise"):
        assert r["status"] == "flaky"
        assert r["attempts"] == [{"status": "error",
                                  "message": "adapter raised RuntimeError: fakefw: a fault on every other call"}]


def test_a_crash_on_every_attempt_stays_crashed_and_counts_them(flaky_run):
    _, _, recs, data = flaky_run
    for r in of(recs, "c_crash"):
        assert r["status"] == "crashed"
        assert r["message"].startswith("crashed in all 3 attempts, each in a new worker: the fakefw worker process "
                                       "died (signal 11)")
        assert [a["status"] for a in r["attempts"]] == ["crashed", "crashed"]
    # a crashed worker is replaced: 1 to start, then b_abort crashed twice (once per API), c_crash 6 times
    assert data["environment"]["workers_started"]["fakefw"] >= 1 + 2 + 6
    assert data["environment"]["attempts"] == {"retries": 2, "repeat": 1}


def test_retries_0_reports_the_first_attempt_as_it_was(tmp_path):
    proc, recs, _ = run(tmp_path, case_line("b_abort", "fake_abort_every_other"), "--retries", "0")
    assert proc.returncode == 1
    for r in of(recs, "b_abort"):
        assert r["status"] == "crashed" and "attempts" not in r
        assert r["message"].startswith("the fakefw worker process died (signal 6) while running this case; case b_abort")


def test_a_known_difference_may_explain_a_flaky_result(tmp_path):
    (tmp_path / "known.yaml").write_text(textwrap.dedent("""\
        known_differences:
          - id: fake-flaky
            reason: The fake framework aborts on every other call.
            link: https://example.org/fakefw/issues/3
            match: {framework: fakefw, case: b_abort, status: flaky}
        """))
    (tmp_path / "cases.yaml").write_text("cases:\n" + case_line("b_abort", "fake_abort_every_other"))
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "known.yaml",
                   "--json", "r.json", "--html", "")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    statuses = {r["status"] for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert statuses == {"known"}


def test_combine_flags_every_check_whose_status_changed():
    def rec(check, status, message=""):
        return Result(case="c", framework="f", api="a", device="cpu", dtype="float32", check=check, status=status,
                      message=message)

    crashed = [rec(c, "crashed", "died") for c in ("output", "grad_input")]
    failed = [rec("output", "fail", "off by one"), rec("grad_input", "pass")]
    final = combine([crashed, failed])
    assert [(r.check, r.status) for r in final] == [("output", "flaky"), ("grad_input", "flaky")]
    assert final[0].message == "flaky: 2 attempts gave crashed, fail; attempt 1: died"
    errors = combine([[rec("output", "error", "raised")], [rec("output", "error", "raised")]])
    assert (errors[0].status, errors[0].message) == ("error", "error in all 2 attempts, each in a new worker: raised")
    same = combine([[rec("output", "pass")], [rec("output", "pass")]])
    assert same[0].status == "pass" and same[0].varies is None and same[0].attempts == [{"status": "pass", "message": ""}]


def test_diff_counts_a_flaky_result_that_was_fine_as_a_regression():
    from conformance.results.diff import diff
    from conformance.results.records import RunResults

    def run_of(status):
        return RunResults([Result(case="c", framework="f", api="a", device="cpu", dtype="float32", check="output",
                                  status=status)])

    d = diff(run_of("pass"), run_of("flaky"))
    assert [(e.old_status, e.new_status) for e in d.regressions] == [("pass", "flaky")] and d.has_regressions
    d = diff(run_of("flaky"), run_of("pass"))
    assert [(e.old_status, e.new_status) for e in d.fixes] == [("flaky", "pass")] and not d.has_regressions


# ------------------------------------------------------------------------- --repeat
def test_repeat_flags_values_that_vary_and_statuses_that_flip(tmp_path):
    cases = case_line("a_good") + case_line("b_varies", "fake_varies_by_process") + case_line("c_flips", "fake_wrong_every_other")
    proc, recs, data = run(tmp_path, cases, "--repeat", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # c_flips is flaky
    varied = recs[("b_varies", "fakefw.layer", "float32", "output")]
    assert varied["status"] == "pass" and len(set(varied["varies"]["digest"])) == 2
    assert [a["status"] for a in varied["attempts"]] == ["pass"]
    # only the output varies (the fake perturbs it alone), and only b_varies'
    assert {k for k, r in recs.items() if r.get("varies")} == {
        ("b_varies", api, "float32", "output") for api in ("fakefw.functional", "fakefw.layer")}
    flips = {r["check"]: r["status"] for r in of(recs, "c_flips")}
    assert flips == {**{c: "pass" for c in LAYER_CHECKS}, "output": "flaky"}  # only the check that changed
    assert [a["status"] for a in recs[("c_flips", "fakefw.layer", "float32", "output")]["attempts"]] == ["fail"]
    assert "values varied between repeats: 2 checks" in proc.stdout  # b_varies' output on both APIs
    assert "VARIES   b_varies [fakefw.layer@cpu defaults float32 output] pass: digest " in proc.stdout
    html = (tmp_path / "r.html").read_text()
    assert 'id="varied"' in html and "b_varies [fakefw.layer@cpu float32 output]" in html
    assert data["environment"]["attempts"] == {"retries": 2, "repeat": 2}


def test_without_repeat_nothing_varies_and_no_attempts_are_recorded(tmp_path):
    proc, recs, _ = run(tmp_path, case_line("b_varies", "fake_varies_by_process"))
    assert proc.returncode == 0
    assert not any("varies" in r or "attempts" in r for r in recs.values())
    assert all(len(r["digest"]) == 16 for k, r in recs.items() if k[3] in ("output", "grad_input"))


# ------------------------------------------------------------------------- the story of a crash
def test_a_crash_keeps_the_workers_stderr_the_case_and_a_rerun_that_reruns_just_it(tmp_path):
    both = ", dtypes: [float32, float64]"
    cases = (case_line("a0_noisy", "fake_noisy") + case_line("a_abort_layer", "fake_abort_layer", "fake_noisy", extra=both)
             + case_line("b_good", extra=both))
    proc, recs, _ = run(tmp_path, cases, "--retries", "0")  # --jobs 1: a0_noisy ran in the same worker before
    assert proc.returncode == 1
    first = recs[("a_abort_layer", "fakefw.layer", "float32", "output")]["stderr"]
    assert "running a_abort_layer on fakefw.layer" in first and "a0_noisy" not in first  # this request's output only
    r = recs[("a_abort_layer", "fakefw.layer", "float64", "output")]
    assert r["status"] == "crashed"
    assert "fakefw log: running a_abort_layer on fakefw.layer" in r["stderr"]  # what it wrote before dying
    assert "Fatal Python error: Aborted" in r["stderr"] and "fakefw.py" in r["stderr"]  # and where it died
    assert ("case a_abort_layer: conv 1-D, input [1, 1, 4], out_channels 1, kernel [2], stride [1], padding valid, "
            "dilation [1], groups 1, bias") in r["message"]
    assert "stderr: fakefw log: running a_abort_layer on fakefw.layer" in proc.stdout
    assert f"rerun:  {r['rerun']}" in proc.stdout
    assert "fakefw log" not in proc.stderr  # the worker's output went into the record, not to the terminal
    args = shlex.split(r["rerun"])
    assert args[:2] == ["conformance", "run"] and "--retries" not in args
    args[args.index("--json") + 1] = "rerun.json"
    rerun = run_cli(tmp_path, *args[1:])
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr
    again = json.loads((tmp_path / "rerun.json").read_text())["results"]
    assert sorted((x["case"], x["api"], x["dtype"], x["check"]) for x in again) == sorted(
        ("a_abort_layer", "fakefw.layer", "float64", c) for c in LAYER_CHECKS)
    assert {x["status"] for x in again} == {"crashed"}


def test_a_hang_keeps_the_stack_where_it_hung(tmp_path):
    proc, recs, _ = run(tmp_path, case_line("a_hang", "fake_hang"), "--retries", "0", "--timeout", "2")
    r = recs[("a_hang", "fakefw.functional", "float32", "output")]
    assert r["status"] == "error" and "no result within the timeout of 2 s" in r["message"]
    assert "in run" in r["stderr"] and "fakefw.py" in r["stderr"]  # faulthandler's dump, asked for before the kill
    assert r["rerun"].count("--timeout 2 ") == 1


def test_worker_output_reaches_the_terminal_only_with_verbose(tmp_path):
    cases = case_line("a_noisy", "fake_noisy")
    quiet, _, _ = run(tmp_path, cases)
    assert quiet.returncode == 0 and "fakefw log" not in quiet.stderr + quiet.stdout
    loud, _, _ = run(tmp_path, cases, "-v")
    assert loud.returncode == 0 and "fakefw log: running a_noisy on fakefw.layer" in loud.stderr


# ------------------------------------------------------------------------- the pool
def test_a_request_for_a_newer_worker_never_runs_in_an_older_one(monkeypatch):
    from conformance.spec.case import Case
    from conformance.run.pool import WorkerPool
    from conformance.run.messages import Request
    from conformance.run.suite import units_for

    fakefw.enable(monkeypatch)
    case = Case.from_dict({"id": "c", "op": "conv", "input_shape": [1, 1, 4], "out_channels": 1, "kernel_size": 2})
    units = tuple(units_for("fakefw", [("fakefw.functional", "cpu", "defaults")], ["float32"]))
    with WorkerPool(["fakefw"], timeout=60, stream=True, jobs=1) as pool:
        pool.start()
        ran = []
        for request, newer_than in (("first", 0), ("second", 0), ("retry", 1), ("after", 0)):
            pool.submit("fakefw", Request(request, case.to_dict(), units, seed=0, newer_than=newer_than))
            while pool.pending:
                pool.collect(block=0.5)
            ran += [(rid, piece.worker) for rid, piece in pool.take_arrivals()]
        assert ran == [("first", 1), ("second", 1), ("retry", 2), ("after", 2)]
        assert pool.spawned["fakefw"] == 2 and len(pool.workers) == 1  # worker 1 gave its place to worker 2


def test_an_internal_error_in_a_worker_is_a_one_line_message_with_the_traceback_in_stderr(monkeypatch):
    from conformance.spec.case import Case
    from conformance.run.pool import WorkerPool
    from conformance.run.messages import Request
    from conformance.run.suite import units_for

    fakefw.enable(monkeypatch)
    case = Case.from_dict({"id": "c", "op": "conv", "input_shape": [1, 1, 4], "out_channels": 1, "kernel_size": 2})
    broken = {**case.to_dict(), "kernel_size": "not a size"}  # the worker's Case.from_dict raises: a bug of ours
    units = tuple(units_for("fakefw", [("fakefw.functional", "cpu", "defaults")], ["float32"]))
    with WorkerPool(["fakefw"], timeout=60, stream=True, jobs=1) as pool:
        pool.start()
        pool.submit("fakefw", Request("r", broken, units, seed=0))
        while pool.pending:
            pool.collect(block=0.5)
        failures = [f for _, piece in pool.take_arrivals() for f in piece.failures]
    assert [f.status for f in failures] == ["error"]
    message, stderr = failures[0].message, failures[0].stderr
    assert message.startswith("internal error in the fakefw worker: ") and "\n" not in message
    assert stderr.startswith("Traceback (most recent call last):") and message.split(": ", 1)[1] in stderr


# ------------------------------------------------------------------------- --targets and list
def test_targets_select_by_name_and_a_glob_that_matches_nothing_is_a_usage_error(tmp_path):
    proc, recs, _ = run(tmp_path, case_line("a_good"), "--targets", "fakefw.l*")
    assert proc.returncode == 0 and {k[1] for k in recs} == {"fakefw.layer"}
    proc, recs, _ = run(tmp_path, case_line("a_good"), "--targets", "*@cpu")
    assert {k[1] for k in recs} == {"fakefw.layer", "fakefw.functional"}
    for glob, expected in (("fakefw.nope", "--targets 'fakefw.nope' matches no target; targets are named api@device"),
                           ("fakefw.layer@gpu", "--targets 'fakefw.layer@gpu' matches no available target; available "
                                                "here: fakefw.functional@cpu, fakefw.layer@cpu")):
        bad = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--targets", glob)
        assert bad.returncode == 2 and expected in bad.stderr and "Traceback" not in bad.stderr


def test_list_names_every_target_and_says_whether_it_is_available(tmp_path):
    (tmp_path / "cases.yaml").write_text("cases:\n" + case_line("a_good"))
    proc = run_cli(tmp_path, "list", "--cases", "cases.yaml", "--frameworks", "fakefw")
    assert proc.returncode == 0, proc.stderr
    lines = [line.split(None, 2) for line in proc.stdout.splitlines() if line.startswith("  ") and "@" in line]
    assert lines == [["fakefw.functional@cpu", "fakefw", "available"],
                     ["fakefw.functional@gpu", "fakefw", "no gpu visible to fakefw"],
                     ["fakefw.layer@cpu", "fakefw", "available"],
                     ["fakefw.layer@gpu", "fakefw", "no gpu visible to fakefw"]]


# ------------------------------------------------------------------------- pytest
PYTEST_CASES = case_line("a_good", "fake_noisy") + case_line("b_abort", "fake_abort_every_other") + case_line(
    "c_varies", "fake_varies_by_process")


@pytest.fixture
def suite(pytester, monkeypatch):
    fakefw.enable(monkeypatch)
    pytester.makefile(".yaml", cases="cases:\n" + PYTEST_CASES)
    return pytester


def pytest_run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--conformance-frameworks", "fakefw",
                                         "--conformance-known", "none.yaml", "cases.yaml", *args)


pytest_plugins = ["pytester"]


def test_pytest_fails_a_flaky_item_and_shows_its_attempts(suite):
    suite.makefile(".yaml", none="known_differences: []\n")
    result = pytest_run(suite, "--conformance-json", "out.json", "-rf")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 5 + 7 and result.ret == 1  # every check of b_abort, both APIs
    out = result.stdout.str()
    assert "FLAKY: output of b_abort on fakefw.layer@cpu (defaults), float32" in out
    assert "  attempt 1: crashed: the fakefw worker process died (signal 6) while running this case" in out
    assert "fakefw: about to abort in b_abort on fakefw.layer" in out  # the worker's stderr, in the failure
    assert "  rerun:    conformance run --cases " in out
    assert "fakefw log" not in out  # a_good's worker output stays off the terminal
    statuses = {r["status"] for r in json.loads((suite.path / "out.json").read_text())["results"]}
    assert statuses == {"pass", "flaky"}


def test_pytest_repeat_retries_and_targets_options(suite):
    suite.makefile(".yaml", none="known_differences: []\n")
    result = pytest_run(suite, "--conformance-repeat", "2", "--conformance-retries", "0",
                        "--conformance-targets", "fakefw.layer@cpu", "-k", "not b_abort")
    outcomes = result.parseoutcomes()
    assert outcomes == {"passed": 2 * 7, "deselected": 7}, result.stdout.str()
    result.stdout.fnmatch_lines(["conformance values varied between repeats: 1 check*",
                                 "*VARIES   c_varies [[]fakefw.layer@cpu defaults float32 output[]] pass: digest *"])
    bad = pytest_run(suite, "--conformance-targets", "fakefw.layer@gpu")
    assert bad.ret == 4 and "--conformance-targets 'fakefw.layer@gpu' matches no available target" in bad.stderr.str() + bad.stdout.str()
    bad = pytest_run(suite, "--conformance-retries", "-1")
    assert bad.ret == 4 and "--conformance-retries must be a whole number of at least 0, got -1" in bad.stderr.str()
