"""A target whose own package is installed but fails to import fails to start (Adapter.start_errors):
the run says so and exits 1, with or without a baseline; it is never read as a refusal of every case."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.adapters.base import Adapter
from conformance.run.selection import Selection, targets_for
from conformance.spec import frameworks
from conformance.spec.frameworks import Declaration

ROOT = Path(__file__).resolve().parent.parent


class TwoApis(Adapter):
    name = "fakefw"
    apis = ("fakefw.functional", "fakefw.layer")


def test_an_installed_package_that_fails_to_import_is_a_start_error(tmp_path, monkeypatch):
    (tmp_path / "brokenpkg_for_start").mkdir()
    (tmp_path / "brokenpkg_for_start" / "__init__.py").write_text("raise RuntimeError('half-installed upgrade')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    declared = (Declaration("fakefw.functional", "fakefw", "fakefw:FakeAdapter", ("numpy", "no_such_pkg_for_start")),
                Declaration("fakefw.layer", "fakefw", "fakefw:FakeAdapter", ("numpy", "brokenpkg_for_start")))
    monkeypatch.setattr(frameworks, "declarations", lambda: frameworks.BUILTIN + declared)
    errors = TwoApis().start_errors()
    # the missing package is not a start error (the run skips its API as not installed)
    assert errors == {"fakefw.layer": "brokenpkg_for_start failed to import: RuntimeError: half-installed upgrade"}


def test_planning_turns_a_start_error_into_a_failed_start_of_that_target_alone(monkeypatch):
    declared = tuple(Declaration(api, "fakefw", "fakefw:FakeAdapter", ("numpy",)) for api in TwoApis.apis)
    monkeypatch.setattr(frameworks, "declarations", lambda: frameworks.BUILTIN + declared)
    monkeypatch.setattr("conformance.adapters.missing_packages", lambda framework, api=None: [])
    info = {"devices": ["cpu"], "start_errors": {"fakefw.layer": "keras failed to import: SyntaxError: bad"}}
    triples, skipped = targets_for("fakefw", info, Selection(devices=["cpu"]))
    assert [t[0] for t in triples] == ["fakefw.functional"]
    assert skipped == [{"framework": "fakefw", "target": "fakefw.layer",
                        "reason": "failed to start: keras failed to import: SyntaxError: bad"}]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None,
                    reason="needs jax and keras installed")
def test_a_keras_that_fails_to_import_fails_the_run(tmp_path):
    """A Keras that fails to import (here a package shadowing it, as a broken upgrade would): the
    keras.jax.layer target fails to start and the run exits 1; jax.lax still runs."""
    shadow = tmp_path / "shadow" / "keras"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('cannot import name ops from partially initialized keras')\n")
    (tmp_path / "cases.yaml").write_text(textwrap.dedent("""
        cases:
          - {id: small, op: conv, input_shape: [1, 1, 5], out_channels: 1, kernel_size: 2, dtypes: [float32]}
        """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "shadow"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--cases", "cases.yaml", "--targets",
                           "jax.lax@cpu,keras.jax.layer@cpu", "--json", "r.json", "--no-progress"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "keras.jax.layer failed to start: keras failed to import: ImportError: cannot import name ops" in proc.stdout + proc.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert {r["api"] for r in data["results"]} == {"jax.lax"}
    assert {r["status"] for r in data["results"]} == {"pass"}
    assert any(s.get("target") == "keras.jax.layer" and s["reason"].startswith("failed to start: ")
               for s in data["skipped"])
