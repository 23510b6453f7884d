"""A failing unit on a oneDNN-backed CPU target names the oneDNN kernels it ran (run/kernel_log.py).

The end-to-end test plants a fault (the kernel flipped) around the real PyTorch and TensorFlow
(oneDNN on) adapters (tests/planted_onednn.py), so their units fail on every machine while the
frameworks' own convs run. Which kernels those convs use depends on the CPU (AVX-512 or not, bf16
support) and on PyTorch's choice of oneDNN for the shape, dtype and thread count, so the expected
names come from the platform itself: a plain forward conv of the same shapes, run in its own process
with ONEDNN_VERBOSE, read with a regular expression of the test's own.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import planted_onednn
from json_schema_check import errors as schema_errors
from conformance.report.model import discrepancy_rows
from conformance.report.porting import porting_view
from conformance.report.text import unexpected_lines
from conformance.results.kernels import NO_ONEDNN, kernel_lines
from conformance.results.records import Result, RunResults
from conformance.results.schema import results_file_schema
from conformance.run import kernel_log
from conformance.run.selection import Selection

TESTS = Path(__file__).parent
ROOT = TESTS.parent
CASE = """cases:
  - id: planted_conv2d_k3
    description: A small 2-D conv with bias; the planted fault flips its kernel.
    op: conv
    input_shape: [1, 4, 12, 12]
    out_channels: 8
    kernel_size: 3
    bias: true
    dtypes: [float32, bfloat16]
"""
PROBES = {  # a plain forward conv of the case's shapes, per target
    "planted.torch.functional": ("torch", {}, "import torch\n"
                         "d = getattr(torch, '{dtype}')\n"
                         "torch.nn.functional.conv2d(torch.randn(1, 4, 12, 12, dtype=d, requires_grad=True),\n"
                         "    torch.randn(8, 4, 3, 3, dtype=d, requires_grad=True), torch.randn(8, dtype=d))\n"),
    "planted.tf.onednn.nn": ("tensorflow", {"TF_ENABLE_ONEDNN_OPTS": "1"}, "import tensorflow as tf\n"
                     "d = tf.as_dtype('{dtype}')\n"
                     "y = tf.nn.conv2d(tf.random.normal((1, 12, 12, 4), dtype=d), tf.random.normal((3, 3, 4, 8), dtype=d),"
                     " 1, 'VALID')\n"
                     "tf.nn.bias_add(y, tf.random.normal((8,), dtype=d))\n"),
}
FORWARD_CONV = re.compile(r"^onednn_verbose,.*?,exec,cpu,convolution,([^,]+),forward_\w+,", re.M)


def probe(api: str, dtype: str) -> set[str]:
    """The oneDNN convolution implementations a plain forward conv ran on this machine (exec lines)."""
    _, variables, code = PROBES[api]
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "TF_CPP_MIN_LOG_LEVEL": "2", **variables}
    out = subprocess.run([sys.executable, "-c", code.format(dtype=dtype)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(FORWARD_CONV.findall(out.stdout))


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kernels")
    (folder / "planted.yaml").write_text(CASE)
    env = {**os.environ, **planted_onednn.plugin_environment(folder / "plugin")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env["PYTHONPATH"]])
    cmd = [sys.executable, "-m", "conformance", "run", "--cases", str(folder / "planted.yaml"), "--frameworks",
           ",".join(planted_onednn.KINDS), "--devices", "cpu", "--known", "none", "--json", str(folder / "r.json"),
           "--html", "", "--cache-dir", str(folder / "cache"), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=folder)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the planted fault fails the run
    return json.loads((folder / "r.json").read_text())


def test_each_failing_unit_names_the_kernels_this_machine_ran(planted_run):
    failing = [r for r in planted_run["results"] if r["status"] == "fail"]
    units = {(r["api"], r["dtype"]) for r in failing}
    assert units == {(api, dtype) for api in PROBES for dtype in ("float32", "bfloat16")}  # the fault shows
    assert planted_run["environment"]["kernel_logs"] == {"limit": 10, "logged": 4, "over_limit": 0,
                                                         "variables": {"ONEDNN_VERBOSE": "2"}}
    named = 0
    for api, dtype in sorted(units):
        expected = probe(api, dtype)
        named += bool(expected)
        for r in (r for r in failing if (r["api"], r["dtype"]) == (api, dtype)):
            kernels = r["kernels"]
            assert kernels["rerun"] == "fail", (api, dtype, r["check"])
            forward = {k["implementation"] for k in kernels["onednn"]
                       if k["primitive"] == "convolution" and k["propagation"].startswith("forward") and k["executed"]}
            assert forward == expected, (api, dtype, r["check"], kernels)
            if not kernels["onednn"]:
                assert kernels["note"] == NO_ONEDNN
    passing = [r for r in planted_run["results"] if r["status"] == "pass"]
    assert passing and not any("kernels" in r for r in passing)
    if not named:  # then only the empty lists were checked: say so rather than pass
        pytest.skip("no probe on this machine ran a oneDNN convolution: only 'no oneDNN kernel' was checked")


def test_the_file_the_porting_view_the_report_and_the_terminal_carry_them(planted_run):
    assert schema_errors(planted_run, results_file_schema()) == []
    run = RunResults.from_dict(planted_run)
    r = next(r for r in run.results if (r.api, r.dtype, r.check) == ("planted.tf.onednn.nn", "float32", "output"))
    first = r.kernels["onednn"][0]
    line = f"{first['primitive']} {first['implementation']} {first['propagation']} {first['problem']}"
    view = porting_view(run.results, "planted_conv2d_k3").splitlines()
    row = next(i for i, line in enumerate(view) if line.split()[:3] == ["planted.tf.onednn.nn@cpu", "fail", "fail"])
    at = view.index("    oneDNN kernels, float32 (one re-run of the unit with ONEDNN_VERBOSE; its failing checks gave "
                    "fail there):", row)
    assert view[at + 1] == "        " + line
    story = {row["check"]: row["story"] for row in (row.to_dict() for row in discrepancy_rows(run.results, None, {}))
             if row["target"] == "planted.tf.onednn.nn@cpu" and row["dtype"] == "float32"}["output"]
    assert story["kernels"] == {"rerun": "fail", "lines": kernel_lines(r.kernels)} and story["kernels"]["lines"][0] == line
    terminal = unexpected_lines([r])
    assert terminal[1].startswith(f"           kernels: {first['implementation']} ({first['propagation']})")


# ------------------------------------------------------------------------- which units, and the limit
def record(api="tf.onednn.nn", status="fail", case="c1", dtype="float32", device="cpu", check="output",
           framework="tensorflow-onednn") -> Result:
    return Result(case=case, framework=framework, api=api, device=device, dtype=dtype, check=check, status=status)


def test_only_failing_units_on_onednn_cpu_targets_are_logged_once_each_up_to_the_limit(monkeypatch):
    records = [record(), record(check="grad_input", status="flaky"),  # one unit, two failing records
               record(check="output_shape", status="pass"),
               record(case="c2", status="crashed"), record(case="c3"),  # over the limit of 2
               record(case="c4", status="known"), record(case="c5", status="error"),
               record(case="c6", device="gpu"), record(case="c7", api="onnxruntime", framework="onnx"),
               record(case="c8", api="litert.layer", framework="tensorflow")]
    logged = []

    def rerun(units, cases, selection, jobs):
        logged.extend(units)
        return {key: (lambda check: {"onednn": [], "rerun": "fail", "note": "fake"}) for key in units}

    monkeypatch.setattr(kernel_log, "_rerun", rerun)
    cases = {f"c{i}": object() for i in range(1, 9)}
    said = kernel_log.name_kernels(records, cases, Selection(kernel_logs=2), jobs=1)
    assert [case for case, _ in logged] == ["c1", "c2"]
    assert said == {"limit": 2, "logged": 2, "over_limit": 1, "variables": {"ONEDNN_VERBOSE": "2"}}
    by = {(r.case, r.check): r.kernels for r in records}
    assert by[("c1", "output")]["note"] == by[("c1", "grad_input")]["note"] == by[("c2", "output")]["note"] == "fake"
    assert by[("c1", "output_shape")] is None  # a passing record of a logged unit
    assert by[("c3", "output")] == {"onednn": [], "note": "not logged: over this run's limit of 2 kernel-log re-runs "
                                                          "(--kernel-logs)"}
    assert all(by[(c, "output")] is None for c in ("c4", "c5", "c6", "c7", "c8"))


def test_a_limit_of_zero_logs_nothing(monkeypatch):
    monkeypatch.setattr(kernel_log, "_rerun", lambda *a: pytest.fail("no re-run with --kernel-logs 0"))
    records = [record()]
    assert kernel_log.name_kernels(records, {"c1": object()}, Selection(kernel_logs=0), jobs=1) is None
    assert records[0].kernels is None


# ------------------------------------------------------------------------- the pool's part
def test_a_pool_with_unit_output_hands_back_each_units_own_output_and_forces_its_variables(monkeypatch):
    """On the fake framework: a noisy unit's piece holds its own log line and not its neighbour's; a
    unit that aborts holds what the worker wrote before it died; the pool's variables win over the
    user's, in the workers only."""
    import fakefw
    from conformance.run.messages import Request
    from conformance.run.pool import WorkerPool
    from conformance.run.suite import units_for
    from conformance.run.environment import framework_section
    from conformance.spec.case import Case

    fakefw.enable(monkeypatch, TESTS)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    noisy = Case.from_dict({"id": "noisy", "op": "conv", "input_shape": [1, 1, 4], "out_channels": 1, "kernel_size": 2,
                            "tags": ["fake_noisy"]})
    aborts = Case.from_dict({"id": "aborts", "op": "conv", "input_shape": [1, 1, 4], "out_channels": 1,
                             "kernel_size": 2, "tags": ["fake_abort_layer"]})
    units = tuple(units_for("fakefw", [("fakefw.functional", "cpu", "defaults"), ("fakefw.layer", "cpu", "defaults")],
                            ["float32"]))
    with WorkerPool(["fakefw"], timeout=60, stream=True, jobs=1, variables={"OMP_NUM_THREADS": "3"},
                    unit_output=True) as pool:
        section = framework_section(pool.start()["fakefw"])
        for rid, case in (("noisy", noisy), ("aborts", aborts)):
            pool.submit("fakefw", Request(rid, case.to_dict(), units, seed=0))
            time.sleep(2)  # both units write before this process reads a message: the worker says where each ends
            while pool.pending:
                pool.collect(block=0.5)
        pieces = pool.take_arrivals()
    assert os.environ["OMP_NUM_THREADS"] == "7" and section["started_with"]["OMP_NUM_THREADS"] == "3"
    outputs = {(rid, (piece.records[0]["api"] if piece.records else piece.failures[0].unit.api)): piece.output
               for rid, piece in pieces}
    assert outputs[("noisy", "fakefw.functional")] == "fakefw log: running noisy on fakefw.functional\n"
    assert outputs[("noisy", "fakefw.layer")] == "fakefw log: running noisy on fakefw.layer\n"
    assert outputs[("aborts", "fakefw.functional")] == ""
    crashed = next(piece for rid, piece in pieces if rid == "aborts" and piece.failures)
    assert crashed.failures[0].status == "crashed" and "Fatal Python error: Aborted" in crashed.output


def test_a_pool_without_unit_output_hands_back_none(monkeypatch):
    import fakefw
    from conformance.run.messages import Request
    from conformance.run.pool import WorkerPool
    from conformance.run.suite import units_for
    from conformance.spec.case import Case

    fakefw.enable(monkeypatch, TESTS)
    noisy = Case.from_dict({"id": "noisy", "op": "conv", "input_shape": [1, 1, 4], "out_channels": 1, "kernel_size": 2,
                            "tags": ["fake_noisy"]})
    units = tuple(units_for("fakefw", [("fakefw.functional", "cpu", "defaults")], ["float32"]))
    with WorkerPool(["fakefw"], timeout=60, stream=True, jobs=1) as pool:
        pool.start()
        pool.submit("fakefw", Request("r", noisy.to_dict(), units, seed=0))
        while pool.pending:
            pool.collect(block=0.5)
        assert [piece.output for _, piece in pool.take_arrivals()] == [None]


def test_a_negative_limit_is_one_usage_line(tmp_path, capsys):
    from conformance import cli

    code = cli.main(["run", "--kernel-logs", "-1", "--json", str(tmp_path / "r.json"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err == "conformance: error: --kernel-logs must be a whole number of at least 0, got -1\n"
    assert not (tmp_path / "r.json").exists()
