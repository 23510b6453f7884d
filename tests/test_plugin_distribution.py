"""A target outside the suite, as a third party would write it (docs/architecture.md, "A target
outside the suite"): a distribution with a tiny NumPy "framework", its adapter, its path class and its declaration,
installed with pip into a fresh virtual environment that sees the suite, then taken through
`conformance list`, a run and its report, `repro`, the faults search, and a malformed entry point."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import venv
from pathlib import Path

import pytest

import conformance

pytestmark = pytest.mark.slow
SUITE = Path(conformance.__file__).resolve().parent.parent

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "1.0"

[tool.setuptools]
packages = {packages}

[project.entry-points."conv_conformance.targets"]
{entry}
"""
FRAMEWORK = '''"""A tiny framework: a 1-D convolution (cross-correlation), no padding, stride 1."""
import numpy as np

__version__ = "1.0"


def conv1d(x, w, b=None):
    n, c, length = x.shape
    o, _, k = w.shape
    y = np.zeros((n, o, length - k + 1), dtype=x.dtype)
    for i in range(length - k + 1):
        y[:, :, i] = np.einsum("nck,ock->no", x[:, :, i:i + k], w)
    return y if b is None else y + b[None, :, None]
'''
TARGETS = '''from conformance.spec.frameworks import Declaration

TARGETS = [Declaration("tinyconv.functional", "tinyconv", "tinyconv_conformance.adapter:TinyAdapter", ("tinyconv",),
                       devices=("cpu",), forward_only=True, path="tinyconv_conformance.adapter:TinyConvPath")]
'''
ADAPTER = '''"""The suite's adapter of tinyconv (the framework's session) and its one path, a forward-only
functional call on the CPU (the class its declaration names)."""
import contextlib

import numpy as np

from conformance.adapters.base import Adapter, Observation, Unsupported
from conformance.adapters.path import Path
from conformance.adapters.snippet import Snippet, attach, random_data

NO_GRADIENTS = "tinyconv computes no gradients"


class TinyConvPath(Path):
    """tinyconv.conv1d on the case, in the dtype; what it cannot express is Unsupported."""

    def check(self, case, dtype):
        if case.op != "conv" or len(case.input_shape) != 3 or case.groups != 1 or case.stride != (1,) \\
                or case.dilation != (1,) or case.pads != ((0, 0),) or dtype not in ("float32", "float64"):
            raise Unsupported("tinyconv.conv1d computes 1-D float32/float64 convs, stride 1, no padding, one group")

    def call(self, dtype):
        return [f"y = tinyconv.conv1d(x.astype(np.{dtype}), w.astype(np.{dtype}), "
                f"None if b is None else b.astype(np.{dtype}))"]

    def run(self, case, dtype, device, inputs):
        self.check(case, dtype)
        x, w, b, _ = inputs
        with self.adapter.native():
            y = self.adapter.tinyconv.conv1d(x.astype(dtype), w.astype(dtype), None if b is None else b.astype(dtype))
        obs = Observation(output=np.asarray(y, dtype=np.float64), grad_input=Unsupported(NO_GRADIENTS),
                          grad_weight=Unsupported(NO_GRADIENTS), grad_bias=Unsupported(NO_GRADIENTS) if case.bias else None)
        attach(obs, lambda grads: Snippet(["import tinyconv"], self.call(dtype),
                                          results=["out['output'] = np.asarray(y, dtype=np.float64)"] if grads else [],
                                          data=[] if grads else random_data(case)))
        return obs


class TinyAdapter(Adapter):
    name, apis, refusals = "tinyconv", ("tinyconv.functional",), ()

    def __init__(self):
        import tinyconv
        self.tinyconv = tinyconv

    def version(self):
        return self.tinyconv.__version__

    def devices(self):
        return ["cpu"]

    def environment(self):
        return {"version": self.tinyconv.__version__}

    @contextlib.contextmanager
    def precision(self, device, profile):
        yield {"tf32": False}
'''
CASES = """cases:
  - {id: tiny, op: conv, input_shape: [2, 3, 9], out_channels: 4, kernel_size: 3, dtypes: [float32, float64]}
  - {id: strided, op: conv, input_shape: [1, 2, 9], out_channels: 2, kernel_size: 3, stride: 2, dtypes: [float32]}
"""


def distribution(root: Path, name: str, files: dict[str, str], packages: list[str], entry: str) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT.format(name=name, packages=json.dumps(packages), entry=entry))
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture(scope="module")
def python(tmp_path_factory) -> Path:
    """A fresh virtual environment that sees this one's packages and the suite (a .pth file: the
    suite may be installed editable, as in CI), with the plugin pip-installed into it."""
    tmp = tmp_path_factory.mktemp("plugin")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    exe = env_dir / "bin" / "python"
    site = subprocess.run([exe, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    seen = [p for p in sys.path if p.endswith("site-packages")]
    (Path(site) / "suite.pth").write_text("\n".join([str(SUITE), *seen]) + "\n")
    plugin = distribution(tmp / "tinyconv-conformance", "tinyconv-conformance",
                          {"tinyconv/__init__.py": FRAMEWORK, "tinyconv_conformance/__init__.py": TARGETS,
                           "tinyconv_conformance/adapter.py": ADAPTER},
                          ["tinyconv", "tinyconv_conformance"], 'tinyconv = "tinyconv_conformance:TARGETS"')
    pip(exe, plugin)
    return exe


def pip(exe: Path, folder: Path) -> None:
    done = subprocess.run([exe, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                           str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def run(exe: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what the venv sees
    return subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_a_plugin_target_is_everywhere_an_in_tree_one_is(python, tmp_path):
    started = time.monotonic()
    (tmp_path / "cases.yaml").write_text(CASES)
    listed = run(python, tmp_path, "-m", "conformance", "list", "--cases", "cases.yaml", "--frameworks", "tinyconv")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines() if "tinyconv" in line]
    assert rows == [["tinyconv.functional@cpu", "tinyconv", "available"]]  # CPU only: no @gpu target

    ran = run(python, tmp_path, "-m", "conformance", "run", "--cases", "cases.yaml", "--frameworks", "tinyconv",
              "--known", "none", "--json", "r.json", "--html", "r.html", "--no-progress", "--cache-dir", "none")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    from conformance.results.records import RunResults

    records = {(r.case, r.dtype, r.check): r.status for r in RunResults.read(tmp_path / "r.json").results}
    assert records[("tiny", "float32", "output")] == "pass" and records[("tiny", "float64", "output")] == "pass"
    assert records[("tiny", "float32", "grad_input")] == "unsupported"  # declared forward only
    assert records[("strided", "float32", "output")] == "unsupported"
    assert "tinyconv.functional@cpu" in (tmp_path / "r.html").read_text()

    repro = run(python, tmp_path, "-m", "conformance", "repro", "tiny", "--target", "tinyconv.functional@cpu",
                "--dtype", "float32", "--cases", "cases.yaml", "--known", "none", "--cache-dir", "none",
                "--output", "repro_tiny.py", "--check")
    assert repro.returncode == 0, repro.stdout + repro.stderr
    script = run(python, tmp_path, "repro_tiny.py")
    assert script.returncode == 0 and "\noutput: pass " in script.stdout, script.stdout + script.stderr

    faults = run(python, tmp_path, "-m", "conformance.search.faults", "--frameworks", "tinyconv", "--json", "f.json")
    assert faults.returncode == 0, faults.stderr
    catches = json.loads((tmp_path / "f.json").read_text())["tinyconv"]["tinyconv.functional"]
    assert any(c.get("case") for c in catches.values())  # a forward fault caught on its cases
    from conformance.search.faults import FAULTS

    gradient_only = [f.name for f in FAULTS if f.backward]  # declared forward only: not searched, not "NOT CAUGHT"
    assert gradient_only and all("inference only" in catches[n].get("not_applicable", "") for n in gradient_only)
    print(f"plugin through list, run, report, repro and faults: {time.monotonic() - started:.1f} s")


def test_a_malformed_entry_point_is_one_line_and_exit_2(python, tmp_path):
    broken = distribution(tmp_path / "broken", "broken-targets", {"broken_targets/__init__.py": "TARGETS = 'tiny'\n"},
                          ["broken_targets"], 'broken = "broken_targets:TARGETS"')
    pip(python, broken)
    try:
        (tmp_path / "cases.yaml").write_text(CASES)
        proc = run(python, tmp_path, "-m", "conformance", "list", "--cases", "cases.yaml")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stderr == ("conformance: error: plugin entry point 'broken' (broken_targets:TARGETS) of "
                               "broken-targets 1.0 in group conv_conformance.targets gives a str; it must give a "
                               "list of Declaration (from conformance.spec.frameworks import Declaration)\n")
    finally:
        subprocess.run([python, "-m", "pip", "uninstall", "--quiet", "--yes", "broken-targets"], check=True)
