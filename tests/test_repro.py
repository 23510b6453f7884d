"""`conformance repro`: the standalone script of one unit reproduces the suite's records exactly.

The records a script must reproduce come from `conformance run` (one run of the small cases below on
one target of each worker kind), not from the repro command; the script is run here, in a
subprocess, and its printed verdicts and worst-element ratios are compared with those records. The
seed case's expected values were worked out by hand (cases/seeds.yaml: 40404). Each script imports
its framework (seconds), so the cases are tiny and the scripts few.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance import adapters
from conformance.spec import frameworks
from conformance.cli import main
from conformance.spec.library import library_folder

CASES = """
cases:
  - id: small
    op: conv
    input_shape: [1, 2, 5, 6]
    out_channels: 3
    kernel_size: 3
    padding: same
    dtypes: [float32]
  - id: rgb
    op: conv
    input_shape: [1, 3, 3, 3]
    out_channels: 1
    kernel_size: 2
    padding: valid
    dtypes: [float32]
    data:
      input: [[[[1, 1, 1], [1, 1, 1], [1, 1, 1]],
               [[100, 100, 100], [100, 100, 100], [100, 100, 100]],
               [[10000, 10000, 10000], [10000, 10000, 10000], [10000, 10000, 10000]]]]
      weight: {fill: 1}
      bias: [0]
  - id: convT_k1_s2_same
    op: conv_transpose
    input_shape: [1, 2, 3]
    out_channels: 2
    kernel_size: 1
    stride: 2
    padding: same
    dtypes: [float32, bfloat16]
"""
# One target of each worker kind (layers where the kind has them: their weight_shape and param_count too).
TARGETS = {"torch": "torch.layer@cpu", "tensorflow": "keras.layer@cpu", "tensorflow-onednn": "tf.onednn.nn@cpu",
           "jax": "flax.layer@cpu", "onnx": "onnxruntime@cpu"}
KNOWN = str(library_folder() / "known_differences.yaml")
VERDICT = re.compile(r"^(\w+): (\w+) \((.*)\)$")


def installed(target: str) -> bool:
    api = target.split("@")[0]
    kind = frameworks.kind_of(api)
    return not adapters.missing_packages(kind, api)


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("repro") / "cases.yaml"
    path.write_text(CASES)
    return path


@pytest.fixture(scope="module")
def records(cases) -> dict:
    """{(case, api, check): record} of `conformance run` on the small case and every target above."""
    chosen = [t for t in TARGETS.values() if installed(t)]
    out = cases.parent / "run.json"
    main(["run", "--cases", str(cases), "--case-id", "small", "--targets", ",".join(chosen), "--json", str(out),
          "--html", "", "--jobs", "2", "--known", KNOWN, "--cache-dir", "none", "--no-progress"])
    results = json.loads(out.read_text())["results"]
    return {(r["case"], r["api"], r["check"]): r for r in results}


def repro(cases: Path, case_id: str, target: str, path: Path, *extra: str) -> int:
    return main(["repro", case_id, "--target", target, "--dtype", "float32", "--cases", str(cases), "--known", KNOWN,
                 "--cache-dir", "none", "-o", str(path), *extra])


def run_script(path: Path) -> tuple[int, dict, str]:
    """The script's exit status, {check: (verdict, detail)} and its whole output."""
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    verdicts = {m.group(1): (m.group(2), m.group(3)) for m in map(VERDICT.match, proc.stdout.splitlines()) if m}
    return proc.returncode, verdicts, proc.stdout + proc.stderr


def blob(text: str, name: str) -> dict:
    """The arrays of the script's base64 .npz constant `name`."""
    encoded = re.search(rf"^{name} = \(.*?\n((?:    \".*\"\n)+)\)", text, re.M).group(1)
    data = base64.b64decode("".join(re.findall(r'"(.*)"', encoded)))
    with np.load(io.BytesIO(data)) as arrays:
        return {k: arrays[k] for k in arrays.files}


def with_blob(text: str, name: str, arrays: dict) -> str:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    lines = "".join(f'    "{encoded[i:i + 96]}"\n' for i in range(0, len(encoded), 96))
    return re.sub(rf"^({name} = \(.*?\n)(?:    \".*\"\n)+\)", lambda m: m.group(1) + lines + ")", text, flags=re.M)


@pytest.mark.parametrize("kind", list(TARGETS))
def test_the_script_reproduces_the_runs_records_on_each_worker_kind(kind, cases, records, tmp_path):
    target = TARGETS[kind]
    if not installed(target):
        pytest.skip(f"{target} is not installed")
    path = tmp_path / "repro.py"
    assert repro(cases, "small", target, path) == 0
    text = path.read_text()
    assert not re.search(r"^\s*(import|from) conformance", text, re.M)  # NumPy and the framework only
    code, verdicts, output = run_script(path)
    assert code == 0, output
    api = target.split("@")[0]
    mine = {check: r for (case, a, check), r in records.items() if case == "small" and a == api}
    assert set(verdicts) == set(mine), output
    for check, r in mine.items():
        word, detail = verdicts[check]
        assert word == {"pass": "pass", "unsupported": "unsupported"}[r["status"]], (check, output)
        if r.get("error_ratio") is not None:  # the same values: the same worst element, the same ratio
            assert detail.startswith(f"ratio {r['error_ratio']:.3g} at {r['worst_index']}"), (check, detail, r)


@pytest.fixture(scope="module")
def rgb_script(cases, tmp_path_factory) -> str:
    if not installed("onnxruntime@cpu"):
        pytest.skip("onnxruntime is not installed")
    path = tmp_path_factory.mktemp("rgb") / "rgb.py"
    assert repro(cases, "rgb", "onnxruntime@cpu", path) == 0
    return path.read_text()


def test_the_script_holds_the_cases_own_data_and_the_expected_values(rgb_script):
    inputs, expected = blob(rgb_script, "INPUTS"), blob(rgb_script, "EXPECTED")
    assert inputs["x"].shape == (1, 3, 3, 3) and [inputs["x"][0, c].max() for c in range(3)] == [1, 100, 10000]
    assert (inputs["w"] == 1).all() and inputs["b"].tolist() == [0]
    assert expected["output"].tolist() == [[[[40404, 40404], [40404, 40404]]]]  # by hand: 4 * (1 + 100 + 10000)


def test_changed_expected_values_fail_the_comparison(rgb_script, tmp_path):
    arrays = blob(rgb_script, "EXPECTED")
    arrays["output"] = arrays["output"].copy()
    arrays["output"][0, 0, 1, 0] += 1.0
    path = tmp_path / "tampered.py"
    path.write_text(with_blob(rgb_script, "EXPECTED", arrays))
    code, verdicts, output = run_script(path)
    assert code == 1, output
    assert verdicts["output"][0] == "fail" and "at [0, 0, 1, 0]: got 40404.0, expected 40405.0" in verdicts["output"][1]
    assert verdicts["output_shape"][0] == "pass"
    untouched = tmp_path / "untouched.py"  # the same round trip without the change passes
    untouched.write_text(with_blob(rgb_script, "EXPECTED", blob(rgb_script, "EXPECTED")))
    assert run_script(untouched)[0] == 0


def test_a_changed_input_fails_its_digest(rgb_script, tmp_path):
    arrays = blob(rgb_script, "INPUTS")
    arrays["x"] = arrays["x"].copy()
    arrays["x"][0, 0, 0, 0] = 2.0
    path = tmp_path / "tampered.py"
    path.write_text(with_blob(rgb_script, "INPUTS", arrays))
    code, verdicts, output = run_script(path)
    assert code == 3 and not verdicts, output
    assert "input x: not the recorded array" in output


def test_a_known_difference_reproduces_as_a_failure(cases, tmp_path, capsys):
    if not installed("onnx.reference@cpu"):
        pytest.skip("onnx is not installed")
    path = tmp_path / "known.py"
    assert repro(cases, "convT_k1_s2_same", "onnx.reference@cpu", path, "--check") == 0
    out = capsys.readouterr().out
    assert "reproduced: output fail (ratio " in out and "not reproduced" not in out
    text = path.read_text()
    assert "# known difference onnx-reference-convtranspose-same-negative-total: https://" in text
    code, verdicts, output = run_script(path)
    assert code == 1 and verdicts["output"][0] == "fail" and verdicts["output_shape"][0] == "pass", output


def test_a_refused_unit_writes_no_script_and_says_why(cases, tmp_path, capsys):
    if not installed("onnxruntime@cpu"):
        pytest.skip("onnxruntime is not installed")
    path = tmp_path / "refused.py"
    code = main(["repro", "convT_k1_s2_same", "--target", "onnxruntime@cpu", "--dtype", "bfloat16", "--cases",
                 str(cases), "--cache-dir", "none", "-o", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and not path.exists()
    assert err.count("\n") == 1 and "is unsupported: " in err and "ConvTranspose" in err  # ONNX Runtime's own text


@pytest.mark.parametrize("args,says", [
    (["smal", "--target", "onnxruntime@cpu", "--dtype", "float32"], "no case 'smal' in ")
    , (["small", "--target", "onnxruntime@gpx", "--dtype", "float32"], "'onnxruntime@gpx' is no target (did you mean 'onnxruntime@gpu'?)")
    , (["small", "--target", "onnxruntime@cpu", "--dtype", "float31"], "--dtype 'float31' (did you mean 'float32'?); allowed: ")
    , (["small", "--target", "onnxruntime@cpu", "--dtype", "float64"], "case 'small' does not run in float64; its dtypes: float32")
    , (["small", "--target", "onnxruntime@cpu", "--dtype", "float32", "--precision", "strct"], "allowed: strict, defaults")
])
def test_bad_input_is_one_line_and_exit_2(args, says, cases, capsys, monkeypatch):
    assert main(["repro", *args, "--cases", str(cases)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err, err


def test_a_target_that_is_not_installed_is_a_usage_error(cases, capsys, monkeypatch):
    monkeypatch.setattr(adapters, "missing_packages", lambda framework, api=None: ["onnxruntime"])
    assert main(["repro", "small", "--target", "onnxruntime@cpu", "--dtype", "float32", "--cases", str(cases)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs onnxruntime, which is not installed here" in err


def test_the_scripts_comparison_decides_as_the_suites(monkeypatch):
    from conformance.check import tolerance
    from conformance.check.compare import compare
    from conformance.repro import runtime

    expected = np.array([[1.0, -2.0, 0.0], [3.0, 0.5, 4.0]])
    bound = np.array([[1e-3, 1e-3, 0.0], [1e-3, 1e-3, 1e-3]])
    for got in (expected + 5e-4, expected + np.array([[0, 0, 0], [0, 3e-3, 0]]), np.where(expected == 4.0, np.nan, expected),
                np.where(expected == 0.0, 1e-9, expected), expected):
        suite = compare(expected, got, bound)
        ratio, where, at_expected, at_got = runtime.compare(expected, got, bound)
        assert (ratio, where, ratio <= 1.0) == (suite.ratio, suite.worst_index, suite.ok)
        assert (at_expected, np.isnan(at_got) or at_got) == (suite.expected, np.isnan(suite.got) or suite.got)
    # float32 on a GPU under 'defaults': beyond the float32 bound, within TF32's, is 'tf32' (the suite's known)
    magnitude = np.ones(4)
    arrays = {"output": np.zeros(4), "bound_output": tolerance.bound(magnitude, 8, tolerance.arithmetic_for("float32")),
              "tf32_bound_output": tolerance.bound(magnitude, 8, tolerance.TF32)}
    got = np.full(4, 1e-4)  # 1e-4 > 2 * 8 * 2**-24 (1e-6), < 2 * (8 * 2**-24 + 2 * 2**-10) (4e-3)
    monkeypatch.setattr(runtime, "TF32", True)
    assert runtime.judge_array("output", got, arrays)[0] == "tf32"
    assert tolerance.fits_tf32(arrays["output"], got, magnitude, 8, "float32", "gpu", "defaults") is not None
    monkeypatch.setattr(runtime, "TF32", False)
    assert runtime.judge_array("output", got, arrays)[0] == "fail"


def test_the_command_a_report_shows():
    from conformance.repro import command_line

    assert command_line("c[stride=2]", "tf.nn@gpu", "float32", profile="strict") == \
        "conformance repro 'c[stride=2]' --target tf.nn@gpu --dtype float32 --precision strict"


def test_a_unit_whose_worker_crashes_writes_no_script(tmp_path):
    """On the fake framework (tests/fakefw.py), whose `fake_crash` tag kills the worker process."""
    import fakefw

    tests = Path(__file__).resolve().parent
    (tmp_path / "cases.yaml").write_text("cases:\n  - {id: boom, op: conv, input_shape: [1, 1, 4], out_channels: 1, "
                                         "kernel_size: 2, tags: [fake_crash]}\n")
    env = {**os.environ, **fakefw.environment_variables(tests)}
    proc = subprocess.run([sys.executable, "-m", "conformance", "repro", "boom", "--target", "fakefw.layer@cpu",
                           "--dtype", "float32", "--cases", "cases.yaml", "--known", "none", "--cache-dir", "none"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "boom on fakefw.layer@cpu (float32) gave no records (crashed: " in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.glob("repro_*.py"))
