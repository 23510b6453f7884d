"""The runner's GPU paths, on the fake framework pretending to have a GPU (FAKEFW_GPU=1): CI has no
GPU, so this is where the precision profiles, the TF32 classification and the GPU skips are tested."""
from __future__ import annotations

import json
import textwrap

from test_cli import run_cli

CASES = """
cases:
  - {id: tf32_sensitive, op: conv, input_shape: [2, 8, 6, 6], out_channels: 4, kernel_size: 3,
     tags: [fake_tf32], dtypes: [float32, float64]}
"""


def test_gpu_targets_run_under_both_profiles_and_tf32_is_known(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CASES))
    proc = run_cli(tmp_path, "run", "--cases", "c.yaml", "--frameworks", "fakefw", "--json", "r.json",
                   "--html", "", extra_env={"FAKEFW_GPU": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = json.loads((tmp_path / "r.json").read_text())["results"]
    output = {(r["device"], r["precision"], r["dtype"], r["api"]): r for r in records if r["check"] == "output"}
    # cpu once (profiles only differ on GPUs); gpu under strict and defaults
    assert {(d, p) for d, p, _, _ in output} == {("cpu", "defaults"), ("gpu", "strict"), ("gpu", "defaults")}
    tf32 = output[("gpu", "defaults", "float32", "fakefw.functional")]
    assert tf32["status"] == "known" and tf32["arithmetic"] == "tf32"
    assert "exceeds the float32 bound" in tf32["message"] and "fits the TF32 bound" in tf32["message"]
    assert output[("gpu", "strict", "float32", "fakefw.functional")]["status"] == "pass"
    assert output[("gpu", "defaults", "float64", "fakefw.functional")]["status"] == "pass"
    assert output[("cpu", "defaults", "float32", "fakefw.layer")]["status"] == "pass"


def test_tf32_under_the_strict_profile_is_a_failure(tmp_path):
    """'strict' must turn TF32 off: a framework that keeps it on there fails; only 'defaults' excuses it."""
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CASES).replace("[fake_tf32]", "[fake_tf32, fake_tf32_ignores_strict]"))
    proc = run_cli(tmp_path, "run", "--cases", "c.yaml", "--frameworks", "fakefw", "--devices", "gpu",
                   "--dtypes", "float32", "--json", "r.json", "--html", "", extra_env={"FAKEFW_GPU": "1"})
    assert proc.returncode == 1
    records = json.loads((tmp_path / "r.json").read_text())["results"]
    output = {(r["precision"], r["api"]): r["status"] for r in records if r["check"] == "output"}
    assert output == {("strict", "fakefw.functional"): "fail", ("strict", "fakefw.layer"): "fail",
                      ("defaults", "fakefw.functional"): "known", ("defaults", "fakefw.layer"): "known"}


def test_gpu_requested_without_one_is_a_visible_skip(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CASES))
    proc = run_cli(tmp_path, "run", "--cases", "c.yaml", "--frameworks", "fakefw", "--devices", "gpu",
                   "--json", "r.json", "--html", "")
    assert "skipped: fakefw on gpu: no gpu visible to fakefw" in proc.stdout
    assert json.loads((tmp_path / "r.json").read_text())["results"] == []
    assert proc.returncode == 0
