"""The pytest plugin, tested with pytester on the fake framework (tests/fakefw.py)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import fakefw
from conformance.results.records import RunResults

pytest_plugins = ["pytester"]
TESTS = Path(__file__).resolve().parent

CASES = """
cases:
  - {id: tf_same_k3_s2, op: conv_transpose, input_shape: [1, 1, 2, 2], out_channels: 1, kernel_size: 3,
     stride: 2, padding: same, bias: false}
  - {id: wrong, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_wrong]}
  - {id: refused, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_unsupported]}
"""
KNOWN = """
known_differences:
  - id: fake-layer-wrong
    reason: The fake layer adds one to the first element.
    link: https://example.org/fakefw/issues/1
    match: {framework: fakefw, api: fakefw.layer, case: wrong, check: output}
"""


@pytest.fixture
def suite(pytester, monkeypatch):
    for key, value in fakefw.environment_variables(TESTS).items():
        monkeypatch.setenv(key, value)
    pytester.makefile(".yaml", transposed=textwrap.dedent(CASES))
    pytester.makefile(".yaml", known_differences=textwrap.dedent(KNOWN))
    return pytester


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--conformance-frameworks", "fakefw",
                                         "--conformance-known", "known_differences.yaml", *args)


def test_item_ids_and_markers(suite):
    result = run(suite, "--collect-only", "-q", "transposed.yaml")
    ids = [line for line in result.outlines if "::" in line]
    assert "transposed.yaml::tf_same_k3_s2[fakefw.functional-cpu-float32-output]" in ids
    assert "transposed.yaml::tf_same_k3_s2[fakefw.layer-cpu-float32-param_count]" in ids
    # no grad_bias item for a case without bias; no layer-only checks for a functional API
    assert not [i for i in ids if "tf_same_k3_s2" in i and "grad_bias" in i]
    assert not [i for i in ids if "functional" in i and "weight_shape" in i]
    selected = run(suite, "--collect-only", "-q", "transposed.yaml", "-m", "conv_transpose and fakefw", "-k", "output")
    chosen = [line for line in selected.outlines if "::" in line]
    assert chosen and all("tf_same_k3_s2" in i and "output" in i for i in chosen)


def test_statuses_map_to_pytest_outcomes_with_a_readable_discrepancy(suite):
    result = run(suite, "transposed.yaml", "-rsx")
    outcomes = result.parseoutcomes()
    # wrong: the functional output fails, the layer output is a known difference (xfail)
    assert outcomes["failed"] == 1 and outcomes["xfailed"] == 1
    assert outcomes["skipped"] == 5 + 7  # refused: every check of both APIs (5 functional, 7 layer)
    out = result.stdout.str()
    for expected in ("FAIL: output of wrong on fakefw.functional@cpu (defaults), float32",
                     "  worst element [0, 0, 0]: got ", ", but should be ",
                     "  around the worst element (last two axes, from [0, 0]):",
                     "  reproducer:\n    fakefw.conv(x, w)  # wrong",
                     "unsupported: fakefw cannot do this"):
        assert expected in out, expected
    assert result.ret == 1


def test_reportinfo_points_at_the_case_line(suite):
    run(suite, "transposed.yaml", "-k", "wrong and functional and output and not shape", "--junitxml", "j.xml",
        "-o", "junit_family=xunit1")  # xunit1 records each item's location (from reportinfo)
    xml = (suite.path / "j.xml").read_text()
    assert 'file="transposed.yaml" line="3"' in xml  # 0-based: the case starts on line 4


@pytest.mark.parametrize("xdist", [False, True], ids=["plain", "xdist"])
def test_json_and_html_written_once_with_every_record(suite, xdist):
    if xdist:
        pytest.importorskip("xdist")
    args = ["transposed.yaml", "--conformance-json", "out.json", "--conformance-html", "out.html"]
    result = run(suite, *args, *(["-n", "2"] if xdist else []))
    data = json.loads((suite.path / "out.json").read_text())
    outcomes = result.parseoutcomes()
    collected = sum(outcomes.get(k, 0) for k in ("passed", "failed", "skipped", "xfailed"))
    assert len(data["results"]) == collected
    statuses = {r["status"] for r in data["results"]}
    assert statuses == {"pass", "fail", "unsupported", "known"}
    assert set(data["cases"]) == {"tf_same_k3_s2", "wrong", "refused"}
    assert data["environment"]["frameworks"]["fakefw"]["version"] == "0.0-fake"
    assert (suite.path / "out.html").exists()
    result.stdout.fnmatch_lines(["*conformance results: out.json*"])
    assert "partial" not in data["environment"]
    assert not (suite.path / "out.json.partial.jsonl").exists()  # the stream is removed once the JSON is written


def test_conformance_json_ending_in_gz_writes_the_gzip_form(suite):
    result = run(suite, "transposed.yaml", "-k", "wrong", "--conformance-json", "out.json.gz")
    written = suite.path / "out.json.gz"
    assert written.read_bytes()[:2] == b"\x1f\x8b" and not (suite.path / "out.json.gz.partial.jsonl").exists()
    records = RunResults.read(written).results
    outcomes = result.parseoutcomes()
    assert len(records) == sum(outcomes.get(k, 0) for k in ("passed", "failed", "skipped", "xfailed")) > 0
    assert {r.case for r in records} == {"wrong"} and all(r.call.startswith("fakefw.conv") for r in records)


def test_xdist_workers_share_one_cache_folder_that_the_controller_removes(suite, monkeypatch):
    """Each xdist worker runs its own framework workers; with --conformance-cache-dir none the
    controller gives them one folder of this run's for the caches they share (JAX's and Inductor's,
    so that a program is compiled once between them), and removes it at the end."""
    pytest.importorskip("xdist")
    log = suite.path / "shared.log"
    monkeypatch.setenv("FAKEFW_SHARED_LOG", str(log))
    run(suite, "transposed.yaml", "-n", "2", "--conformance-cache-dir", "none")
    seen = [line.split() for line in log.read_text().splitlines()]
    assert len({parent for _, parent, _ in seen}) == 2  # framework workers of both xdist workers
    assert len({folder for _, _, folder in seen}) == 1  # all given the same folder
    assert not Path(seen[0][2]).exists()
    log.unlink()
    run(suite, "transposed.yaml", "--conformance-cache-dir", "none")  # without xdist: the pool's own, removed too
    (folder,) = {line.split()[2] for line in log.read_text().splitlines()}
    assert folder != seen[0][2] and not Path(folder).exists()


def test_a_cache_dir_is_shared_by_every_worker_and_kept(suite, monkeypatch):
    """--conformance-cache-dir DIR: the framework workers of every xdist worker cache in DIR, which
    outlives the run (the next run, or the next CI job that restores it, compiles nothing again)."""
    pytest.importorskip("xdist")
    log, kept = suite.path / "shared.log", suite.path / "kept-cache"
    monkeypatch.setenv("FAKEFW_SHARED_LOG", str(log))
    run(suite, "transposed.yaml", "-n", "2", "--conformance-cache-dir", str(kept))
    seen = [line.split() for line in log.read_text().splitlines()]
    assert len({parent for _, parent, _ in seen}) == 2
    assert {folder for _, _, folder in seen} == {str(kept)} and kept.is_dir()


def test_records_ride_in_the_reports_only_when_results_are_written(suite):
    """A record travels in its item's report (user_properties, which --junitxml shows) only when the
    JSON results or the HTML report need it: serialising ~25k records cost `pytest -n 2` CPU."""
    run(suite, "transposed.yaml", "--junitxml", "plain.xml")
    assert "conformance_result" not in (suite.path / "plain.xml").read_text()
    run(suite, "transposed.yaml", "--junitxml", "with.xml", "--conformance-json", "out.json")
    assert (suite.path / "with.xml").read_text().count('name="conformance_result"') == len(
        json.loads((suite.path / "out.json").read_text())["results"])


def test_known_none_runs_without_known_differences_and_the_default_is_the_librarys(suite, monkeypatch):
    result = run(suite, "transposed.yaml", "--conformance-known", "none")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 2 and "xfailed" not in outcomes  # the layer's 'wrong' output fails too
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps help at hyphens, which paths may have
    usage = suite.runpytest_subprocess("-p", "no:cacheprovider", "--help")
    library = TESTS.parent / "cases" / "known_differences.yaml"  # from outside the checkout: absolute
    assert f"(default: the library's, {library};" in usage.stdout.str()


@pytest.mark.parametrize("version, holds", [(">=0.0", True), ("<0.0", False)])
def test_known_differences_apply_and_go_stale_by_the_workers_environment(suite, version, holds):
    """`when:` reads the environment the framework workers reported, in each item (xfail or fail)
    and in the stale entries of the JSON results."""
    suite.makefile(".yaml", scoped=textwrap.dedent(f"""
        known_differences:
          - id: fake-layer-wrong
            reason: The fake layer adds one to the first element.
            link: https://example.org/fakefw/issues/1
            match: {{framework: fakefw, api: fakefw.layer, case: wrong, check: output}}
            when: {{fakefw.version: "{version}"}}
          - id: fake-stale
            reason: In scope, explains nothing, and its condition holds wherever the CPU was read.
            link: https://example.org/fakefw/issues/2
            match: {{framework: fakefw, case: tf_same_k3_s2, check: output}}
            when: {{host.cpu.isa.avx2: [true, false, null]}}
        """))
    result = run(suite, "transposed.yaml", "--conformance-known", "scoped.yaml", "--conformance-json", "out.json")
    outcomes = result.parseoutcomes()
    assert (outcomes["failed"], outcomes.get("xfailed", 0)) == ((1, 1) if holds else (2, 0))
    data = json.loads((suite.path / "out.json").read_text())
    layer = [r for r in data["results"] if (r["case"], r["api"], r["check"]) == ("wrong", "fakefw.layer", "output")]
    assert [r.get("known", {}).get("when") for r in layer] == [{"fakefw.version": "0.0-fake"} if holds else None]
    assert [s["id"] for s in data["stale_known"]] == ["fake-stale"]


def test_a_session_stopped_early_writes_results_marked_partial(suite):
    result = run(suite, "transposed.yaml", "-x", "--conformance-json", "out.json", "--conformance-html", "out.html")
    assert result.ret == 1
    data = json.loads((suite.path / "out.json").read_text())
    assert "stopped early" in data["environment"]["partial"]
    assert 0 < len(data["results"]) < 50 and data["results"][-1]["status"] in ("pass", "fail")
    assert "Partial results." in (suite.path / "out.html").read_text()


def test_each_bad_case_is_one_failed_item_and_the_rest_still_runs(suite):
    suite.makefile(".yaml", broken="cases:\n"
                   "  - {id: good, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}\n"
                   "  - {id: b, op: conv, input_shape: [1, 3, 4], out_channels: 2, kernel_size: 2, groups: 2}\n"
                   "  - {id: good2, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}\n")
    suite.makefile(".yaml", unreadable="cases:\n  - {id: x, op: conv\n")
    suite.makefile(".yaml", zdup="cases:\n  - {id: good, op: conv, input_shape: [1, 1, 5], out_channels: 1, kernel_size: 2}\n")
    result = run(suite, "broken.yaml", "unreadable.yaml", "transposed.yaml", "zdup.yaml", "-rf")
    out = result.stdout.str()
    assert "broken.yaml:3: case 'b', field 'groups': input channels (3) are not divisible" in out
    assert "unreadable.yaml:2: not valid YAML" in out
    assert "zdup.yaml:2: case 'good': duplicate case id: also declared at" in out
    assert "Traceback" not in out and "error during collection" not in out
    outcomes = result.parseoutcomes()
    # the bad case, the unreadable file, the duplicate, and transposed.yaml's planted 'wrong' (functional)
    assert outcomes["failed"] == 4
    result.stdout.fnmatch_lines(["*broken.yaml::b[[]invalid[]]*", "*unreadable.yaml::unreadable.yaml*",
                                 "*zdup.yaml::good[[]invalid[]]*"])
    # the good cases of the broken file ran
    assert "broken.yaml ..." in out
    assert outcomes["passed"] > 0 and result.ret == 1


def test_yaml_without_cases_is_not_collected(suite):
    sub = suite.mkdir("other")
    (sub / "config.yaml").write_text("some: other\nyaml: file\n")
    result = run(suite, "--collect-only", "-q", "other")
    assert result.ret == 5  # nothing collected: it is not a case file


PHASE_RECORDER = """
import json
import pytest

PHASES = {}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.name == "wrong[fakefw.functional-cpu-float32-output]":
            item.add_marker(pytest.mark.skip(reason="skipped by the user's conftest"))


def pytest_runtest_logreport(report):
    PHASES.setdefault(report.nodeid, []).append(report.when)


def pytest_sessionfinish(session):
    with open("phases.json", "w") as f:
        json.dump(PHASES, f)
"""


def test_items_report_one_call_phase_unless_something_needs_the_phases(suite):
    """The short protocol: one call report per conformance item, the outcomes unchanged; pytest's
    standard protocol for an item with a marker the user added, and for every item under --junitxml."""
    suite.makeconftest(PHASE_RECORDER)
    result = run(suite, "transposed.yaml")
    phases = json.loads((suite.path / "phases.json").read_text())
    marked = "transposed.yaml::wrong[fakefw.functional-cpu-float32-output]"
    assert phases.pop(marked) == ["setup", "teardown"]  # the user's skip marker was honoured
    assert phases and all(whens == ["call"] for whens in phases.values())
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and outcomes["xfailed"] == 1 and outcomes["skipped"] == 5 + 7 + 1
    run(suite, "transposed.yaml", "--junitxml", "j.xml")
    phases = json.loads((suite.path / "phases.json").read_text())
    assert all(whens[0] == "setup" and whens[-1] == "teardown" for whens in phases.values())


@pytest.mark.parametrize("option, expected", [
    ("--conformance-frameworks=torhc", "--conformance-frameworks: unknown framework 'torhc' (did you mean 'torch'?); "
                                       "allowed: torch, tensorflow, jax, tensorflow-onednn, onnx, openvino, executorch, fakefw"),
    ("--conformance-devices=tpu", "--conformance-devices: unknown device 'tpu' (did you mean 'gpu'?); allowed: cpu, gpu"),
    ("--conformance-dtypes=float32,float8", "--conformance-dtypes: unknown dtype 'float8'"),
    ("--conformance-precision=loose", "--conformance-precision: unknown precision profile 'loose'; "
                                      "allowed: strict, defaults"),
    ("--conformance-timeout=0", "--conformance-timeout must be a positive number of seconds, got 0"),
    ("--conformance-jobs=0", "--conformance-jobs must be a whole number of at least 1, got 0"),
    ("--conformance-shard=3/2", "--conformance-shard '3/2' is not a shard; allowed: I/N"),
    ("--conformance-max-case-memory=lots", "--conformance-max-case-memory: not a memory size: 'lots'"),
    ("--conformance-known=missing.yaml", "--conformance-known: no such file: missing.yaml (name a known-differences "
                                         "file, or pass '--conformance-known none' to run without known differences)"),
    ("--conformance-known=bad_known.yaml", "bad_known.yaml:2: case 'known difference x', field 'link': required"),
], ids=["frameworks", "devices", "dtypes", "precision", "timeout", "jobs", "shard", "max-case-memory", "known-missing",
        "known-invalid"])
def test_a_bad_option_is_one_usage_line_before_any_case_file(suite, option, expected):
    """Checked once when pytest starts (exit 4, pytest's usage error), as the CLI checks its options,
    not as a collection error with a traceback in each case file."""
    suite.makefile(".yaml", other="cases:\n  - {id: other, op: conv, input_shape: [1, 1, 4], out_channels: 1, "
                                  "kernel_size: 2}\n")
    suite.makefile(".yaml", bad_known="known_differences:\n  - id: x\n    reason: r\n")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", option, "transposed.yaml", "other.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines + result.outlines if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: {expected}"), lines
