"""Workers started outside a run (conformance/run/standalone.py): `conformance list`, `repro` and
`explore` start their workers in one place, so a framework that does not start reads the same in
each of them: one line naming the framework and the framework's own error, and no traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fakefw

TESTS = Path(__file__).resolve().parent
# what tests/fakefw.py's broken_framework raises when its worker imports it
WHY = "fakefw failed to start: ModuleNotFoundError: No module named 'jaxlib.xla_extension'"


def _cli(tmp_path, *args):
    env = {**os.environ, **fakefw.environment_variables(TESTS), **fakefw.broken_framework(tmp_path)}
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)


def _cases(tmp_path):
    (tmp_path / "c.yaml").write_text("cases:\n  - {id: small, op: conv, input_shape: [1, 1, 4], out_channels: 1, "
                                     "kernel_size: 2, dtypes: [float32]}\n")


def test_list_says_each_target_of_a_framework_that_does_not_start_why(tmp_path):
    _cases(tmp_path)
    proc = _cli(tmp_path, "list", "--cases", "c.yaml", "--frameworks", "fakefw")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split(None, 2) for line in proc.stdout.splitlines() if line.startswith("  fakefw.")]
    # the plugin declares no devices: each API has a cpu and a gpu target
    assert rows == [[f"fakefw.{api}@{device}", "fakefw", WHY] for api in ("functional", "layer")
                    for device in ("cpu", "gpu")]


def test_repro_of_a_framework_that_does_not_start_writes_no_script(tmp_path):
    _cases(tmp_path)
    proc = _cli(tmp_path, "repro", "small", "--target", "fakefw.layer@cpu", "--dtype", "float32", "--cases", "c.yaml",
                "--known", "none", "--cache-dir", "none")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [f"conformance: {WHY}"]
    assert not list(tmp_path.glob("repro_*.py"))


def test_explore_of_a_framework_that_does_not_start_is_one_error_line(tmp_path):
    proc = _cli(tmp_path, "explore", "--frameworks", "fakefw", "--examples", "1", "--database", "none")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [f"conformance: error: {WHY}"]
