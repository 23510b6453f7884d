"""The results file on disk: texts stored once, plain and gzip forms, every version readable,
deterministic gzip, the errors of a corrupt file, and the JSON Schema that `conformance schema
--results` prints, checked against files the writer wrote."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fakefw
from json_schema_check import errors as schema_errors
from conformance.errors import UsageError
from conformance.results import layout
from conformance.results.records import SCHEMA_VERSION, Result, RunResults
from conformance.results.schema import results_file_schema

TESTS = Path(__file__).resolve().parent
CALL_A = "import torch\ny = torch.nn.functional.conv2d(x, w, b, stride=(1, 1), padding='same')"
CALL_B = "import jax\ny = jax.lax.conv_general_dilated(x, w, (1, 1), 'SAME')"
STDERR = "fakefw log: running c\nFatal Python error: Aborted\n  File \"fakefw.py\", line 3 in run\n"
RERUN = "conformance run --cases cases.yaml --case-id c --targets torch.functional@cpu --dtypes float32 --json r.json"


def unit(case, api, call, checks=("output_shape", "output", "grad_input"), **extra) -> list[Result]:
    framework = api.split(".")[0]
    return [Result(case=case, framework=framework, api=api, device="cpu", dtype="float32", check=check,
                   status="pass", call=call, error_ratio=0.25, timings={"run": 0.5}, **extra) for check in checks]


def sample() -> RunResults:
    crashed = unit("c", "torch.functional", CALL_A, ("output", "grad_input"), stderr=STDERR, rerun=RERUN,
                   attempts=[{"status": "crashed", "message": "worker died"}])
    for r in crashed:
        r.status, r.message = "crashed", "the worker died (SIGABRT)"
    records = unit("a", "torch.functional", CALL_A) + unit("a", "jax.lax", CALL_B) + crashed
    records += unit("b", "torch.functional", CALL_A, ("output",), precision="strict")  # the same call text
    records.append(Result(case="d", framework="torch", api="torch.functional", device="cpu", dtype="float32",
                          check="output", status="fail", message="NaN", error_ratio=float("nan"),
                          max_abs_error=float("inf"), worst_index=[0, 1], expected=1.0, got="nan", call=CALL_B,
                          detail={"heatmap": [[0.0, 1.0]]}, digest="abcd", arithmetic="float32"))
    return RunResults(records, environment={"host": {"python": "3.11.7"}, "seed": 0},
                      skipped=[{"framework": "onnx", "reason": "not installed"}],
                      cases={"a": {"description": "conv", "features": ["same_odd_total"]}})


def as_dicts(run: RunResults) -> list[dict]:
    return [r.to_dict() for r in sorted(run.results, key=lambda r: r.key)]


def run_cli(cwd, *args):
    env = {**os.environ, **fakefw.environment_variables(TESTS)}
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


# ------------------------------------------------------------------------- round trips and versions
@pytest.mark.parametrize("name", ["r.json", "r.json.gz"])
def test_a_written_file_reads_back_record_by_record_texts_included(tmp_path, name):
    original = sample()
    back = RunResults.read(original.write(tmp_path / name))
    assert as_dicts(back) == as_dicts(original)
    by_key = {r.key: r for r in back.results}
    for r in original.results:  # the Result objects themselves, the texts in particular
        got = by_key[r.key]
        assert (got.call, got.stderr, got.rerun, got.attempts) == (r.call, r.stderr, r.rerun, r.attempts)
    assert (back.environment, back.skipped, back.cases) == (original.environment, original.skipped, original.cases)


def test_each_text_is_written_once_and_records_name_it(tmp_path):
    text = sample().write(tmp_path / "r.json").read_text()
    for shared in (CALL_A, CALL_B, STDERR, RERUN):
        assert text.count(json.dumps(shared)) == 1, shared[:30]
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION == 2
    assert len(data["texts"]) == 4 and all("call" not in r for r in data["results"])
    # 3 + 3 + 2 + 1 + 1 records name a call; the crashed unit's 2 name its stderr and rerun
    refs = [r.get(f"{f}_ref") for r in data["results"] for f in ("call", "stderr", "rerun")]
    assert sum(ref is not None for ref in refs) == 10 + 2 + 2
    assert data["texts"][layout.text_id(CALL_A)] == CALL_A
    lines = text.splitlines()  # one record a line: a changed record is one changed line in a diff
    assert sum(1 for line in lines if line.startswith('  {"case": ')) == len(data["results"])
    unpacked = json.loads(gzip.decompress(sample().write(tmp_path / "r.json.gz").read_bytes()))
    assert unpacked == data


def test_a_version_1_file_still_reads(tmp_path):
    """As the version-1 writer laid it out: every record holds its own call, no texts table."""
    records = [{"case": "a", "framework": "torch", "api": "torch.functional", "device": "cpu", "dtype": "float32",
                "check": check, "status": "pass", "message": "", "precision": "defaults", "call": CALL_A,
                "timings": {"run": 0.5}} for check in ("output", "output_shape")]
    v1 = {"schema_version": 1, "environment": {"seed": 0}, "skipped": [], "stale_known": [],
          "summary": {"total": 2}, "cases": {}, "results": records}
    (tmp_path / "v1.json").write_text(json.dumps(v1, indent=1) + "\n")
    (tmp_path / "v1.json.gz").write_bytes(gzip.compress(json.dumps(v1).encode()))
    for name in ("v1.json", "v1.json.gz"):
        run = RunResults.read(tmp_path / name)
        # a record from before thread counts were recorded reads as the suite's one thread
        assert [r.to_dict() for r in run.results] == [{**r, "threads": 1} for r in records]
        assert run.environment == {"seed": 0}


def test_gzip_is_recognised_by_its_bytes_and_a_record_stream_by_its_name(tmp_path):
    written = sample().write(tmp_path / "r.json.gz")
    (tmp_path / "renamed.json").write_bytes(written.read_bytes())
    assert as_dicts(RunResults.read(tmp_path / "renamed.json")) == as_dicts(sample())
    stream = "".join(json.dumps(r.to_dict()) + "\n" for r in sample().results)
    (tmp_path / "r.json.gz.partial.jsonl").write_text(stream)
    run = RunResults.read(tmp_path / "r.json.gz.partial.jsonl")
    assert run.partial and [r.to_dict() for r in run.results] == [r.to_dict() for r in sample().results]


def test_gzip_bytes_are_the_same_for_the_same_results(tmp_path):
    first = sample().write(tmp_path / "one.json.gz").read_bytes()
    os.utime(tmp_path / "one.json.gz", (0, 10 ** 9))
    second = sample().write(tmp_path / "sub" / "other-name.json.gz").read_bytes()
    assert first == second
    assert first[:2] == b"\x1f\x8b" and first[3] == 0  # no FNAME flag: no file name in the header
    assert first[4:8] == b"\0\0\0\0" and first[9] == 0xFF  # mtime 0; no operating system named


def test_ids_that_collide_still_give_each_text_its_own_entry(tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "ID_LENGTH", 1)  # 16 ids for 40 texts: collisions are certain
    records = [r for i in range(40) for r in unit(f"c{i:02}", "torch.functional", f"call number {i}")]
    run = RunResults(records)
    back = RunResults.read(run.write(tmp_path / "r.json"))
    assert as_dicts(back) == as_dicts(run)
    assert len(json.loads((tmp_path / "r.json").read_text())["texts"]) == 40


# ------------------------------------------------------------------------- bad files
@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_corrupt_gzip_is_one_line_naming_the_file_exit_2(tmp_path, damage):
    good = sample().write(tmp_path / "good.json.gz").read_bytes()
    flipped = good[:20] + bytes(b ^ 0xFF for b in good[20:60]) + good[60:]
    bad = good[:len(good) // 2] if damage == "truncated" else flipped
    (tmp_path / "bad.json.gz").write_bytes(bad)
    for args in (["diff", "good.json.gz", "bad.json.gz"], ["report", "bad.json.gz", "-o", "r.html"],
                 ["merge", "bad.json.gz", "-o", "m.json"]):
        proc = run_cli(tmp_path, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("conformance: error: bad.json.gz: "), proc.stderr


def test_a_reference_to_a_missing_text_names_the_record(tmp_path):
    data = sample().to_dict()
    data["texts"].pop(layout.text_id(STDERR))
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(UsageError, match=r"r\.json: result \d+ \(c\): stderr_ref '[0-9a-f]{12}' is not in"):
        RunResults.read(tmp_path / "r.json")


def test_an_unknown_version_says_which_ones_are_read(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"schema_version": 9, "results": []}))
    with pytest.raises(UsageError, match="schema_version 9 is not supported; this version reads 1, 2"):
        RunResults.read(tmp_path / "r.json")


# ------------------------------------------------------------------------- the commands, mixed forms
def test_merge_and_diff_take_plain_gzip_and_version_1_files_together(tmp_path):
    whole = sample()
    torch_part = RunResults([r for r in whole.results if r.framework == "torch"], environment={"job": "torch"})
    jax_part = RunResults([r for r in whole.results if r.framework == "jax"], environment={"job": "jax"})
    torch_part.write(tmp_path / "torch.json.gz")
    v1 = {**jax_part.to_dict(), "schema_version": 1, "results": [r.to_dict() for r in jax_part.results]}
    v1.pop("texts")
    (tmp_path / "jax.json").write_text(json.dumps(v1, indent=1))
    proc = run_cli(tmp_path, "merge", "torch.json.gz", "jax.json", "-o", "merged.json.gz")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "merged.json.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert as_dicts(RunResults.read(tmp_path / "merged.json.gz")) == as_dicts(whole)
    whole.write(tmp_path / "whole.json")
    proc = run_cli(tmp_path, "diff", "whole.json", "merged.json.gz")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 regressions, 0 fixes, 0 other changes, 0 added, 0 removed, 10 unchanged" in proc.stdout
    proc = run_cli(tmp_path, "diff", "merged.json.gz", "jax.json")  # the torch records are missing
    assert proc.returncode == 1 and "7 removed, 3 unchanged" in proc.stdout, proc.stdout + proc.stderr


# ------------------------------------------------------------------------- the JSON Schema
def test_the_schema_describes_the_written_file_and_rejects_what_the_writer_never_writes(tmp_path):
    schema = json.loads(run_cli(tmp_path, "schema", "--results").stdout)
    assert schema == results_file_schema()
    data = json.loads(sample().write(tmp_path / "r.json").read_text())
    assert schema_errors(data, schema) == []
    record = data["results"][0]
    bad = {**data, "results": [{**record, "call": CALL_A}, {**record, "status": "passed"}, {"case": "x"}]}
    found = schema_errors(bad, schema)
    assert any("$.results[0]: 'call' is not allowed" in e for e in found)
    assert any("$.results[1].status: 'passed' is not one of" in e for e in found)
    assert any("$.results[2]: 'framework' is missing" in e for e in found)
    assert schema_errors({**data, "schema_version": 1}, schema) == ["$.schema_version: 1 is not 2"]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """`conformance run --json r.json.gz` on the fake framework: passes, a wrong output, a crash."""
    tmp_path = tmp_path_factory.mktemp("real")
    case = "  - {{id: {}, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, {}}}\n"
    (tmp_path / "cases.yaml").write_text("cases:\n" + case.format("good", "dtypes: [float32, float64]")
                                         + case.format("aborts", "tags: [fake_abort_layer]")
                                         + case.format("wrong", "tags: [fake_wrong]"))
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "none",
                   "--retries", "0", "--jobs", "1", "--json", "r.json.gz", "--html", "")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return tmp_path


def test_a_real_run_with_a_crash_matches_the_schema_and_stores_its_texts_once(real_run):
    tmp_path = real_run
    assert not (tmp_path / "r.json.gz.partial.jsonl").exists()
    text = gzip.decompress((tmp_path / "r.json.gz").read_bytes()).decode()
    data = json.loads(text)
    assert schema_errors(data, results_file_schema()) == []
    run = RunResults.read(tmp_path / "r.json.gz")
    crashed = [r for r in run.results if r.status == "crashed"]
    assert crashed and all(r.stderr and r.rerun for r in crashed)
    calls = {r.call for r in run.results if r.call}  # a crashed unit never got to name its call
    assert len(calls) >= 3 and all(text.count(json.dumps(call)) == 1 for call in calls)
    assert {r.stderr for r in crashed} <= set(data["texts"].values())
    assert len(data["texts"]) < len(data["results"])


def test_every_command_that_reads_results_reads_the_gzip_form(real_run, tmp_path):
    (tmp_path / "cases.yaml").write_text((real_run / "cases.yaml").read_text())
    baseline = str(real_run / "r.json.gz")
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "none",
                   "--retries", "0", "--jobs", "1", "--json", "again.json", "--html", "r.html", "--baseline", baseline)
    assert proc.returncode == 1 and "0 regressions, 0 fixes" in proc.stdout, proc.stdout + proc.stderr
    matrix = run_cli(tmp_path, "matrix", baseline)
    assert matrix.returncode == 0 and "fakefw.layer@cpu" in matrix.stdout, matrix.stderr
    show = run_cli(tmp_path, "show", "wrong", "--results", baseline)
    assert show.returncode == 0 and "fakefw.conv" in show.stdout, show.stderr  # the native call, restored
    report = run_cli(tmp_path, "report", "again.json", "-o", "vs.html", "--baseline", baseline)
    assert report.returncode == 0 and (tmp_path / "vs.html").stat().st_size > 0, report.stderr
