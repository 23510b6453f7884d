"""Every installed target runs a sample of the library end to end, through `conformance run`.

The README's test command runs the suite's own tests; the main job (`conformance run`) runs the whole
library once. This test is what keeps every target exercised by the tests: a small sample of the
library, chosen so that every feature of conformance/spec/features.py that the library has and every
dtype appears at least once, runs on every target that `conformance list` reports available on this
machine, and must end with nothing unexpected and a passing record on each of those targets.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import load_cases
from conformance.results.records import RunResults
from conformance.spec.features import case_features

ROOT = Path(__file__).resolve().parents[1]
CASES_DIR = ROOT / "cases"
# The hand-written geometry files and the dtype cross-section: small cases that between them have
# every feature. (Generated combinations, real layer sizes and edges have their own tests.)
SAMPLED = ("conv1d.yaml", "conv2d.yaml", "conv3d.yaml", "grouped.yaml", "transposed.yaml", "same_lower.yaml",
           "dtypes.yaml")
AVAILABLE = re.compile(r"^\s*(\S+@cpu)\s+\S+\s+available\s*$", re.MULTILINE)

pytestmark = pytest.mark.slow


def _size(case) -> int:
    """How much work a case is, roughly: the product of its input shape, out channels and kernel."""
    n = case.out_channels
    for d in (*case.input_shape, *case.kernel_size):
        n *= max(d, 1)
    return n


def _items(case) -> set[str]:
    """What a case contributes to the sample: its features, and each dtype and dimensionality per op."""
    return set(case_features(case)) | {f"{case.op}:{d}" for d in case.dtypes} | {f"{case.op}:{case.ndim}d"}


def sample_ids() -> list[str]:
    """A greedy cover of the library's features, and of each op's dtypes and dimensionalities, smallest
    cases first (deterministic)."""
    cases = sorted((c for c in load_cases(CASES_DIR) if Path(c.origin[0]).name in SAMPLED),
                   key=lambda c: (_size(c), c.id))
    items = {c.id: _items(c) for c in cases}
    uncovered = set().union(*items.values())
    chosen = []
    while uncovered:
        best = max(cases, key=lambda c: len(items[c.id] & uncovered))  # max keeps the first, smallest, of ties
        chosen.append(best.id)
        uncovered -= items[best.id]
    return chosen


def test_the_sample_covers_every_feature_and_dtype_of_the_library():
    ids = sample_ids()
    by_id = {c.id: c for c in load_cases(CASES_DIR)}
    library = [c for c in by_id.values() if Path(c.origin[0]).name in SAMPLED]
    want = {f for c in library for f in case_features(c)}
    got = {f for i in ids for f in case_features(by_id[i])}
    assert want <= got
    for op in ("conv", "conv_transpose"):
        of_op = [by_id[i] for i in ids if by_id[i].op == op]
        assert {d for c in of_op for d in c.dtypes} == {"float16", "bfloat16", "float32", "float64"}, op
        assert {c.ndim for c in of_op} == {1, 2, 3}, op
    assert len(ids) < 40  # a sample, not the library


def _available_targets() -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "conformance", "list"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return AVAILABLE.findall(proc.stdout)


def test_every_available_target_passes_a_sample_of_the_library(tmp_path):
    targets = _available_targets()
    if not targets:
        pytest.skip("no framework is installed")
    ids = sample_ids()
    results = tmp_path / "results.json"
    args = [sys.executable, "-m", "conformance", "run", "--no-progress", "--targets", ",".join(targets),
            "--json", str(results), "--html", "", "--cache-dir", str(tmp_path / "cache")]
    for case_id in ids:
        args += ["--case-id", case_id]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    records = RunResults.read(results).results
    ran = {f"{r.api}@{r.device}" for r in records}
    passed = {f"{r.api}@{r.device}" for r in records if r.status == "pass"}
    assert set(targets) <= ran
    assert set(targets) <= passed, sorted(set(targets) - passed)
    assert {r.case for r in records} == set(ids)
