"""The `conformance` command end to end, on the fake framework of tests/fakefw.py (no real framework
needed): statuses, crash and hang isolation, known differences, exit codes, diff, merge, report."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import fakefw
from conformance.results.records import RunResults

TESTS = Path(__file__).resolve().parent

CASES = """
cases:
  - {id: good_conv, op: conv, input_shape: [2, 2, 5, 5], out_channels: 2, kernel_size: 3, padding: same}
  - {id: good_transposed, op: conv_transpose, input_shape: [1, 2, 3, 3], out_channels: 2, kernel_size: 3,
     stride: 2, padding: 1, output_padding: 1, dtypes: [float32, float64]}
  - {id: wrong_output, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_wrong]}
  - {id: refused, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_unsupported]}
  - {id: adapter_bug, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_raise]}
"""


def run_cli(tmp_path, *args, extra_env=None, timeout=120):
    env = {**os.environ, **fakefw.environment_variables(TESTS), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def results(path):
    """{(case, api, dtype, check): record as a dict, texts restored}, and the file's content."""
    data = json.loads(Path(path).read_text())
    records = [r.to_dict() for r in RunResults.read(path).results]
    return {(r["case"], r["api"], r["dtype"], r["check"]): r for r in records}, data


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    write(tmp, "cases.yaml", CASES)
    proc = run_cli(tmp, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--json", "out/results.json",
                   "--html", "out/report.html")
    return tmp, proc


def test_every_status_and_exit_code_1(fake_run):
    tmp, proc = fake_run
    assert proc.returncode == 1, proc.stderr
    recs, data = results(tmp / "out" / "results.json")
    assert data["schema_version"] == 2
    assert recs[("good_conv", "fakefw.layer", "float32", "output")]["status"] == "pass"
    assert recs[("good_transposed", "fakefw.functional", "float64", "grad_weight")]["status"] == "pass"
    wrong = recs[("wrong_output", "fakefw.functional", "float32", "output")]
    assert wrong["status"] == "fail" and wrong["worst_index"] == [0, 0, 0]
    assert wrong["detail"]["heatmap"] and wrong["call"].startswith("fakefw.conv")
    assert recs[("wrong_output", "fakefw.functional", "float32", "grad_input")]["status"] == "pass"
    assert recs[("refused", "fakefw.layer", "float32", "output")]["status"] == "unsupported"
    assert "KeyError" in recs[("adapter_bug", "fakefw.layer", "float32", "output")]["message"]
    assert recs[("adapter_bug", "fakefw.layer", "float32", "output")]["status"] == "error"
    # layer-only checks exist for layers only
    assert ("good_conv", "fakefw.functional", "float32", "param_count") not in recs
    assert recs[("good_conv", "fakefw.layer", "float32", "param_count")]["status"] == "pass"
    assert "FAIL" in proc.stdout and "wrong_output" in proc.stdout
    assert (tmp / "out" / "report.html").exists()


def test_a_framework_exception_is_a_refusal_only_where_declared(tmp_path):
    """The framework raises the same class for its declared refusal and for an internal assert on a
    valid case: the first is `unsupported` (exit 0), the second an `error` that fails the run."""
    write(tmp_path, "cases.yaml", """
        cases:
          - {id: refused_by_rule, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2,
             tags: [fake_framework_refuses]}
        """)
    write(tmp_path, "assert.yaml", """
        cases:
          - {id: internal_assert, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2,
             tags: [fake_internal_assert]}
        """)
    refused = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--json", "r.json")
    assert refused.returncode == 0, refused.stdout + refused.stderr
    recs, _ = results(tmp_path / "r.json")
    assert {r["status"] for r in recs.values()} == {"unsupported"}
    assert all(r["message"].startswith("RuntimeError: fakefw refuses") for r in recs.values())
    failed = run_cli(tmp_path, "run", "--cases", "assert.yaml", "--frameworks", "fakefw", "--json", "a.json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    recs, _ = results(tmp_path / "a.json")
    assert {r["status"] for r in recs.values()} == {"error"}
    assert all("INTERNAL ASSERT FAILED" in r["message"] for r in recs.values())


def test_same_command_gives_same_records_apart_from_timings(fake_run, tmp_path):
    tmp, _ = fake_run
    write(tmp_path, "cases.yaml", CASES)
    run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--json", "r.json", "--html", "")
    strip = lambda recs: {k: {f: v for f, v in r.items() if f != "timings"} for k, r in recs.items()}  # noqa: E731
    assert strip(results(tmp / "out" / "results.json")[0]) == strip(results(tmp_path / "r.json")[0])


def test_crash_and_hang_cost_only_their_case(tmp_path):
    write(tmp_path, "cases.yaml", """
        cases:
          - {id: a_before, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}
          - {id: b_crash, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_crash]}
          - {id: c_hang, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_hang]}
          - {id: d_after, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}
          - {id: e_abort_layer, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2,
             dtypes: [float32, float64], tags: [fake_abort_layer]}
        """)
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--json", "r.json",
                   "--html", "r.html", "--timeout", "5")
    assert proc.returncode == 1, proc.stderr
    recs, _ = results(tmp_path / "r.json")
    statuses = {case: {r["status"] for k, r in recs.items() if k[0] == case} for case in
                ("a_before", "b_crash", "c_hang", "d_after")}
    # A crash costs the (case, target, dtype) in flight (`crashed`); a hang becomes `error` with the
    # time it was given; everything else, before and after, is kept.
    assert statuses == {"a_before": {"pass"}, "b_crash": {"crashed"}, "c_hang": {"error"}, "d_after": {"pass"}}
    assert "signal 11" in recs[("b_crash", "fakefw.layer", "float32", "output")]["message"]
    assert "no result within the timeout of 5 s" in recs[("c_hang", "fakefw.layer", "float32", "output")]["message"]
    # os.abort() in one API of the adapter: only that API's units crash, for each dtype; the other
    # API of the same case, run by the same worker before and after the restarts, passes.
    abort = {(k[1], k[2]): r["status"] for k, r in recs.items() if k[0] == "e_abort_layer"}
    assert set(abort.items()) == {(("fakefw.functional", d), "pass") for d in ("float32", "float64")} | \
        {(("fakefw.layer", d), "crashed") for d in ("float32", "float64")}
    assert "signal 6" in recs[("e_abort_layer", "fakefw.layer", "float64", "output")]["message"]
    assert (tmp_path / "r.html").stat().st_size > 0  # the report completes too


def test_known_differences_turn_failures_known_and_stale_entries_are_reported(tmp_path):
    write(tmp_path, "cases.yaml", CASES.split("  - {id: adapter_bug")[0])  # every case but the adapter bug
    write(tmp_path, "known.yaml", fakefw.known_differences("good_*"))
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "known.yaml",
                   "--json", "r.json", "--html", "")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recs, data = results(tmp_path / "r.json")
    known = recs[("wrong_output", "fakefw.layer", "float32", "output")]
    assert known["status"] == "known" and known["known"]["link"] == "https://example.org/fakefw/issues/1"
    assert [s["id"] for s in data["stale_known"]] == ["fake-never"]
    assert "stale known difference fake-never" in proc.stdout


@pytest.mark.parametrize("content, expected", [
    ("cases:\n  - {id: x, op: conv, input_shape: [1, 3, 4, 4], out_channels: 2, kernel_size: 2, groups: 2}\n",
     "bad.yaml:2: case 'x', field 'groups': input channels (3) are not divisible by groups (2)"),
    ("cases:\n  - {id: x, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, paddng: 1}\n",
     "bad.yaml:2: case 'x', field 'paddng': unknown field (did you mean 'padding'?)"),
    ("cases: [\n", "bad.yaml:2: not valid YAML"),
], ids=["groups", "typo", "yaml"])
def test_bad_case_file_exits_2_with_one_clear_line(tmp_path, content, expected):
    (tmp_path / "bad.yaml").write_text(content)
    proc = run_cli(tmp_path, "run", "--cases", "bad.yaml", "--frameworks", "fakefw", "--html", "")
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, expected", [
    (["run", "--frameworks", "pytorch"], "unknown framework 'pytorch' (did you mean 'torch'?)"),
    (["run", "--dtypes", "float8"], "unknown dtype 'float8'"),
    (["diff", "missing.json", "missing2.json"], "cannot read results"),
    (["run", "--cases", "nowhere"], "no such file or folder: nowhere"),
    (["frobnicate"], "invalid choice"),
    (["run", "--known", "missing.yaml"], "--known: no such file: missing.yaml (name a known-differences file, or "
                                         "pass '--known none' to run without known differences)"),
    (["explore", "--known", "missing.yaml"], "--known: no such file: missing.yaml"),
    (["report", "r.json", "--allow", "known"], "--allow known lets a regression through the comparison with a "
                                                "baseline; give one with --baseline"),
    (["diff", "a.json", "b.json", "--allow", "all"], "--allow 'all': unknown category; allowed: refusals"),
], ids=["framework", "dtype", "diff-missing", "cases-missing", "command", "known-missing", "explore-known-missing",
        "report-allow-without-baseline", "diff-allow-unknown"])
def test_usage_errors_exit_2(tmp_path, args, expected):
    proc = run_cli(tmp_path, *args)
    assert proc.returncode == 2
    assert expected in proc.stderr and "Traceback" not in proc.stderr


def test_requested_framework_not_installed_is_an_error(tmp_path):
    missing = fakefw.write_plugin(tmp_path / "plugin", "ghost", "from conformance.spec.frameworks import Declaration\n"
                                  "DECLARATIONS = [Declaration('ghost.f', 'ghost', 'ghost:G', ('no_such_package_xyz',))]\n")
    write(tmp_path, "c.yaml", "cases:\n  - {id: a, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}\n")
    proc = run_cli(tmp_path, "run", "--cases", "c.yaml", "--frameworks", "ghost", extra_env=missing)
    assert proc.returncode == 2 and "'ghost' was requested but is not installed" in proc.stderr
    # not requested: a visible skip, not an error
    proc = run_cli(tmp_path, "list", "--cases", "c.yaml", "--frameworks", "ghost", extra_env=missing)
    assert "ghost.f@cpu" in proc.stdout and "not installed (missing: no_such_package_xyz)" in proc.stdout


MATRIX_CASES = """
cases:
  - {id: m, op: conv, input_shape: [1, 1, 6], out_channels: 1, kernel_size: 2,
     matrix: {stride: [1, 2], padding: [valid, same]}}
  - {id: ms, op: conv, input_shape: [1, 1, 6], out_channels: 1, kernel_size: 2}
"""


@pytest.mark.parametrize("values, expected", [
    # an id as printed: itself only ('ms' matches it as a glob: [...] is one character of the set)
    (["m[stride=2,padding=same]"], {"m[stride=2,padding=same]"}),
    (["m[stride=2,padding=same]", "m[stride=1,padding=valid]"], {"m[stride=2,padding=same]", "m[stride=1,padding=valid]"}),
    (["m?stride=2,*"], {"m[stride=2,padding=valid]", "m[stride=2,padding=same]"}),  # equals no id: a glob
    (["m[[]*"], {"m[stride=1,padding=valid]", "m[stride=1,padding=same]", "m[stride=2,padding=valid]",
                 "m[stride=2,padding=same]"}),
    (["m[sp]"], {"ms"}),  # no id equals it: glob semantics, brackets a character class
    (["ms", "m[x]"], {"ms"}),
], ids=["literal", "two-literals", "glob", "escaped-bracket", "class", "none-for-one"])
def test_case_id_selects_the_id_as_printed_else_a_glob(tmp_path, values, expected):
    from conformance.spec.select import load_selected_cases

    path = write(tmp_path, "m.yaml", MATRIX_CASES)
    assert {c.id for c in load_selected_cases([path], values)} == expected


def test_run_case_id_takes_an_id_as_printed(tmp_path):
    write(tmp_path, "m.yaml", MATRIX_CASES)
    proc = run_cli(tmp_path, "run", "--cases", "m.yaml", "--frameworks", "fakefw", "--known", "none",
                   "--case-id", "m[stride=2,padding=same]", "--json", "r.json", "--html", "")
    assert proc.returncode == 0, proc.stderr
    recs, _ = results(tmp_path / "r.json")
    assert {case for case, *_ in recs} == {"m[stride=2,padding=same]"}
    proc = run_cli(tmp_path, "run", "--cases", "m.yaml", "--frameworks", "fakefw", "--case-id", "m[x]", "--html", "")
    assert proc.returncode == 2 and "no case id matches m[x]" in proc.stderr


def test_diff_merge_and_report_on_a_planted_regression(fake_run, tmp_path):
    tmp, _ = fake_run
    base = tmp / "out" / "results.json"
    data = json.loads(base.read_text())
    for r in data["results"]:
        if r["case"] == "good_conv" and r["check"] == "output" and r["api"] == "fakefw.layer":
            r["status"], r["message"] = "fail", "planted regression"
    planted = tmp_path / "new.json"
    planted.write_text(json.dumps(data))
    proc = run_cli(tmp_path, "diff", str(base), str(planted))
    assert proc.returncode == 1 and "good_conv" in proc.stdout
    assert run_cli(tmp_path, "diff", str(base), str(base)).returncode == 0
    # merge refuses the same record twice, and merges disjoint runs
    assert run_cli(tmp_path, "merge", str(base), str(planted), "-o", "m.json").returncode == 2
    half = dict(data, results=[r for r in data["results"] if r["api"] == "fakefw.layer"])
    other = dict(data, results=[r for r in data["results"] if r["api"] != "fakefw.layer"])
    (tmp_path / "a.json").write_text(json.dumps(half))
    (tmp_path / "b.json").write_text(json.dumps(other))
    proc = run_cli(tmp_path, "merge", "a.json", "b.json", "-o", "m.json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads((tmp_path / "m.json").read_text())["results"]) == len(data["results"])
    proc = run_cli(tmp_path, "report", "m.json", "-o", "r.html", "--baseline", str(base))
    assert proc.returncode == 0 and (tmp_path / "r.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_baseline_regression_fails_the_run(fake_run, tmp_path):
    tmp, _ = fake_run
    data = json.loads((tmp / "out" / "results.json").read_text())
    for r in data["results"]:
        if r["case"] == "adapter_bug":
            r["status"] = "pass"  # pretend it used to pass: now it errors
    (tmp_path / "base.json").write_text(json.dumps(data))
    write(tmp_path, "cases.yaml", CASES)
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "none",
                   "--baseline", "base.json", "--json", "r.json", "--html", "")
    assert proc.returncode == 1
    assert "adapter_bug" in proc.stdout


REASON = "ModuleNotFoundError: No module named 'jaxlib.xla_extension'"


@pytest.mark.parametrize("allow_removed", [[], ["--allow-removed"]], ids=["plain", "allow-removed"])
def test_framework_that_fails_to_start_against_a_baseline_fails_first_line(fake_run, tmp_path, allow_removed):
    tmp, _ = fake_run
    write(tmp_path, "cases.yaml", CASES)
    baseline = tmp / "out" / "results.json"
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "none",
                   "--baseline", str(baseline), "--json", "r.json", "--html", "r.html", *allow_removed,
                   extra_env=fakefw.broken_framework(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    n = len(json.loads(baseline.read_text())["results"])
    assert proc.stdout.splitlines()[0] == (f"conformance: regression: fakefw ran in the baseline ({n} records) "
                                           f"but failed to start here: {REASON}")
    assert "new:      fakefw (failed to start) on " in proc.stdout
    html = (tmp_path / "r.html").read_text()
    assert "Coverage lost:" in html and "jaxlib.xla_extension" in html
    # diff says the same of the two files, --allow-removed or not
    proc = run_cli(tmp_path, "diff", str(baseline), "r.json", *allow_removed)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0].startswith("conformance: regression: fakefw ran in the baseline")


def test_requested_framework_that_fails_to_start_fails_the_run(tmp_path):
    write(tmp_path, "cases.yaml", CASES)
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "none",
                   "--json", "r.json", "--html", "", extra_env=fakefw.broken_framework(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == (f"conformance: error: fakefw failed to start: {REASON} "
                                           "(it was requested with --frameworks)")


def test_detected_framework_that_fails_to_start_fails_and_none_installed_is_exit_2(tmp_path, capsys):
    from conformance.cli import _finish
    from conformance.results.records import RunResults

    run = RunResults([], environment={"frameworks": {"jax": {"error": REASON}}},
                     skipped=[{"framework": "torch", "reason": "not installed (missing: torch)"},
                              {"framework": "jax", "reason": f"failed to start: {REASON}"}])
    assert _finish(run, None, "r.json", None) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"conformance: error: jax failed to start: {REASON} (it is installed, so it was selected")
    none = RunResults([], environment={"frameworks": {}},
                      skipped=[{"framework": f, "reason": f"not installed (missing: {f})"} for f in ("torch", "jax")])
    assert _finish(none, None, "r.json", None) == 2
    out, err = capsys.readouterr()
    assert "skipped: torch: not installed (missing: torch)" in out
    assert "nothing was checked: no framework is installed" in err


def test_diff_removed_records_fail_unless_allowed_and_environment_differences_come_first(fake_run, tmp_path):
    tmp, _ = fake_run
    data = json.loads((tmp / "out" / "results.json").read_text())
    base = dict(data, environment={**data["environment"], "host": {
        **data["environment"]["host"], "cpu": {"model": "Old CPU", "isa": {"avx2": True, "avx512f": True}}}})
    (tmp_path / "base.json").write_text(json.dumps(base))
    kept = [r for r in data["results"] if r["case"] != "good_conv"]
    new = dict(data, results=kept, environment={**data["environment"], "host": {
        **data["environment"]["host"], "cpu": {"model": "New CPU", "isa": {"avx2": True, "avx512f": False}}}})
    (tmp_path / "new.json").write_text(json.dumps(new))
    removed = len(data["results"]) - len(kept)
    proc = run_cli(tmp_path, "diff", "base.json", "new.json")
    assert proc.returncode == 1, proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0] == (f"conformance: regression: {removed} records of the baseline are not in this run (removed); "
                        "pass --allow removed if cases or targets were removed on purpose")
    assert lines[1].startswith("baseline: fakefw 0.0-fake on Old CPU [avx2 avx512f]")
    assert lines[2].startswith("new:      fakefw 0.0-fake on New CPU [avx2]")
    assert lines[3:6] == ["Environment differences (2):", "  cpu       host.cpu.isa.avx512f: true -> false",
                          "  cpu       host.cpu.model: Old CPU -> New CPU"]
    for allow in (["--allow-removed"], ["--allow", "removed"]):  # the old switch is the same as --allow removed
        proc = run_cli(tmp_path, "diff", "base.json", "new.json", *allow)
        assert proc.returncode == 0, proc.stdout
        assert (f"Removed ({removed} records of the baseline; {removed} not run on purpose, as --allow removed says):"
                in proc.stdout)


# ------------------------------------------------------------------------- the gate: worse fails, --allow
def planted(data: dict, changes: dict) -> dict:
    """A copy of results `data` whose records at (case, api, dtype, check) got new statuses."""
    out = json.loads(json.dumps(data))
    for r in out["results"]:
        status = changes.get((r["case"], r["api"], r["dtype"], r["check"]))
        if status:
            r["status"], r["message"] = status, f"planted {status}: the new release says so"
    return out


def test_diff_fails_on_every_worse_status_and_allow_lets_a_category_through(fake_run, tmp_path):
    tmp, _ = fake_run
    data = json.loads((tmp / "out" / "results.json").read_text())
    new = planted(data, {("good_conv", "fakefw.layer", "float32", "output"): "unsupported",
                         ("good_conv", "fakefw.layer", "float32", "grad_input"): "unsupported",
                         ("good_transposed", "fakefw.functional", "float64", "output"): "known"})
    (tmp_path / "new.json").write_text(json.dumps(new))
    base = str(tmp / "out" / "results.json")
    codes = {}
    for allow in ((), ("refusals",), ("known",), ("refusals", "known")):
        proc = run_cli(tmp_path, "diff", base, "new.json", *[a for word in allow for a in ("--allow", word)])
        codes[allow] = proc.returncode
        if allow == ("refusals",):
            out = proc.stdout
    assert codes == {(): 1, ("refusals",): 1, ("known",): 1, ("refusals", "known"): 0}
    assert ("3 regressions (2 newly refused allowed by --allow refusals), 0 fixes, 0 other changes, 0 added, "
            "0 removed, ") in out
    assert ("    good_conv  fakefw.layer@cpu  float32: checks grad_input, output: pass -> unsupported "
            "(newly refused, allowed): planted unsupported: the new release says so") in out.splitlines()
    assert out.splitlines()[0] == ("conformance: regression: 1 record newly known (pass in the baseline, a known "
                                   "difference here); pass --allow known to accept them")
    bad = run_cli(tmp_path, "diff", base, "new.json", "--allow", "refusal")
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert bad.stderr == ("conformance: error: --allow 'refusal': unknown category (did you mean 'refusals'?); "
                          "allowed: refusals (newly refused does not fail), known (newly known does not fail), "
                          "removed (removed does not fail)\n")


GATE_CASES = """
cases:
  - {id: good_conv, op: conv, input_shape: [1, 2, 5], out_channels: 2, kernel_size: 3}
  - {id: refused, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_unsupported]}
"""


def test_run_against_a_baseline_fails_on_newly_refused_unless_allowed(tmp_path):
    write(tmp_path, "cases.yaml", GATE_CASES)
    common = ("--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "none", "--html", "")
    assert run_cli(tmp_path, "run", *common, "--json", "first.json").returncode == 0
    data = json.loads((tmp_path / "first.json").read_text())
    for r in data["results"]:
        if r["case"] == "refused":
            r["status"], r["message"] = "pass", ""  # the old release computed it
    (tmp_path / "base.json").write_text(json.dumps(data))
    refused = sum(r["case"] == "refused" for r in data["results"])
    proc = run_cli(tmp_path, "run", *common, "--json", "r.json", "--baseline", "base.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == (f"conformance: regression: {refused} records newly refused (pass or known "
                                           "in the baseline, unsupported here); pass --allow refusals if the new "
                                           "version refuses them on purpose")
    proc = run_cli(tmp_path, "run", *common, "--json", "r.json", "--baseline", "base.json", "--allow", "refusals")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{refused} regressions ({refused} newly refused allowed by --allow refusals)" in proc.stdout
    assert "conformance: regression" not in proc.stdout
    for args, says in ((("--allow", "refusals"), "--allow refusals lets a regression through the comparison with a "
                                                 "baseline; give one with --baseline"),
                       (("--baseline", "base.json", "--allow", "fixes"), "--allow 'fixes': unknown category")):
        proc = run_cli(tmp_path, "run", *common, "--json", "x.json", *args)
        assert proc.returncode == 2 and says in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
        assert not (tmp_path / "x.json").exists()  # refused before anything ran


def test_devices_out_of_the_selection_are_no_skip_and_a_selected_missing_one_is_lost(tmp_path):
    write(tmp_path, "cases.yaml", GATE_CASES)
    common = ("--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "none", "--html", "")
    proc = run_cli(tmp_path, "run", *common, "--json", "gpu.json", extra_env={"FAKEFW_GPU": "1"})
    assert proc.returncode == 0 and "skipped" not in proc.stdout
    proc = run_cli(tmp_path, "run", *common, "--json", "cpu.json", "--targets", "*@cpu")
    assert proc.returncode == 0 and "skipped" not in proc.stdout, proc.stdout  # nobody selected the GPU
    assert json.loads((tmp_path / "cpu.json").read_text())["skipped"] == []
    proc = run_cli(tmp_path, "run", *common, "--json", "all.json")  # the GPU is selected, and missing
    assert "skipped: fakefw on gpu: no gpu visible to fakefw" in proc.stdout
    gpu_records = sum(r["device"] == "gpu" for r in json.loads((tmp_path / "gpu.json").read_text())["results"])
    for new, allow, code in (("all.json", "removed", 1), ("cpu.json", None, 1), ("cpu.json", "removed", 0)):
        proc = run_cli(tmp_path, "diff", "gpu.json", new, *(["--allow", allow] if allow else []))
        lost = (f"conformance: regression: fakefw on gpu ran in the baseline ({gpu_records} records) but was skipped "
                "here: no gpu visible to fakefw")
        assert proc.returncode == code and (lost in proc.stdout) is (new == "all.json"), proc.stdout


def test_error_messages_are_one_line_without_terminal_escape_codes():
    from conformance import Case
    from conformance.adapters.base import Target
    from conformance.check.evaluate import evaluate_unit
    from conformance.check.unit import Unit
    from conformance.run.pool import internal_error

    case = Case.from_dict({"id": "coloured", "op": "conv", "input_shape": [1, 1, 4], "out_channels": 1,
                           "kernel_size": 2, "tags": ["fake_raise_coloured"]})
    records = evaluate_unit(fakefw.FakeAdapter(), Unit(Target("fakefw", "fakefw.layer", "cpu"), "float32"), case)
    assert {(r.status, r.message) for r in records} == {
        ("error", "adapter raised ValueError: Invalid kernel for this layer: kernel_size must be positive, got 0")}
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1, in f\n    g()\nKeyError: \'dtype\'\n'
    assert internal_error("jax", traceback) == "internal error in the jax worker: KeyError: 'dtype'"
    assert internal_error("jax", "KeyError: \x1b[1mdtype\x1b[0m\n\n") == "internal error in the jax worker: KeyError: dtype"


def test_schema_is_json_and_describes_case_fields(tmp_path):
    proc = run_cli(tmp_path, "schema")
    schema = json.loads(proc.stdout)
    props = schema["properties"]["cases"]["items"]["properties"]
    assert {"kernel_size", "padding", "output_padding", "matrix"} <= set(props)


def test_importing_the_package_imports_no_framework():
    code = ("import sys, conformance, conformance.cli, conformance.run.suite, conformance.pytest_plugin, "
            "conformance.adapters, conformance.check.evaluate, conformance.search.explore, conformance.report.html;"
            "print(sorted(m for m in ('torch', 'tensorflow', 'jax', 'flax', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("framework", ["fakefw", "torch"])
def test_a_run_imports_no_framework_into_the_parent(tmp_path, framework):
    """Frameworks live in the workers. Before this was checked, the worker's handshake carried
    torch.__version__ (a TorchVersion), and unpickling it imported PyTorch into the parent."""
    if framework == "torch" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    write(tmp_path, "cases.yaml", "cases:\n  - {id: c, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}\n")
    code = ("import sys; from conformance.cli import main;"
            f"code = main(['run', '--cases', 'cases.yaml', '--frameworks', '{framework}', '--json', 'r.json',"
            " '--html', '', '--no-progress', '--jobs', '1']);"
            "print('imported:', sorted(m for m in ('fakefw', 'torch') if m in sys.modules)); sys.exit(code)")
    env = {**os.environ, **fakefw.environment_variables(TESTS)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "imported: []" in proc.stdout
    assert results(tmp_path / "r.json")[1]["environment"]["frameworks"][framework]["version"]


SLOW_CASES = "cases:\n" + "".join(
    f"  - {{id: slow_{i:02d}, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_slow]}}\n"
    for i in range(40))


def _start_run(tmp_path, *args):
    write(tmp_path, "cases.yaml", SLOW_CASES)
    # TMPDIR: a run killed with SIGKILL cannot remove its workers' scratch folder; keep it in tmp_path
    env = {**os.environ, **fakefw.environment_variables(TESTS), "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--cases", "cases.yaml", "--frameworks",
                             "fakefw", "--json", "out/r.json", "--html", "out/r.html", *args],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell running this test in the background may have SIGINT ignored, and
                            # the run would inherit that: give it the default, as a terminal does
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    stream = tmp_path / "out" / "r.json.partial.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until some records are on disk, then interrupt
        if stream.exists() and stream.read_text().count("\n") >= 20:
            return proc, stream
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the run streamed no records within 60 s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_writes_valid_partial_results_and_report(tmp_path, sig):
    proc, stream = _start_run(tmp_path)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    data = json.loads((tmp_path / "out" / "r.json").read_text())
    assert "interrupted" in data["environment"]["partial"]
    finished = {r["case"] for r in data["results"]}
    assert 0 < len(finished) < 40  # what finished, and only that
    assert all(r["status"] == "pass" for r in data["results"])
    assert "Partial results." in (tmp_path / "out" / "r.html").read_text()
    assert not stream.exists()  # the results file holds everything the stream had
    assert "interrupted" in err and "Traceback" not in err


def test_killed_run_leaves_a_readable_record_stream(tmp_path):
    proc, stream = _start_run(tmp_path)
    proc.kill()  # SIGKILL: nothing can be written at the end
    proc.communicate(timeout=60)
    assert not (tmp_path / "out" / "r.json").exists()
    streamed = [json.loads(line) for line in stream.read_text().splitlines() if line.strip()]
    assert len(streamed) >= 20 and all(r["status"] == "pass" for r in streamed)
    report = run_cli(tmp_path, "report", str(stream), "-o", "partial.html")
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "partial.html").read_text()
    assert "Partial results." in html and "did not finish" in html
