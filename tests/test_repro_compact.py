"""`conformance repro --compact`: a script without the case's arrays, which draws its inputs again
(verified by their sha256) and recomputes the expected values with an embedded copy of the oracle;
its verdicts are the records', a changed generator or oracle is caught, and every library case fits
in 60 KB."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conformance.cli import main
from conformance.repro.compact import compact_parts
from conformance.repro.script import runtime_code
from conformance.spec.loader import load_cases

LIMIT = 60 * 1024
# What a script holds besides the compact part and the comparison: header, variables, constants, the
# native call. Measured on the script below, and asserted there, so the library-wide bound rests on it.
REST = 8 * 1024


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compact")
    path = tmp / "c.py"
    code = main(["repro", "dtypes_convT2d_k3_s2_p1_op1", "--target", "torch.functional@cpu", "--dtype", "bfloat16",
                 "--compact", "--check", "-o", str(path), "--cache-dir", str(tmp / "cache")])
    return code, path


def run(path):
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)


def test_the_compact_script_reproduces_the_records_and_holds_no_arrays(script):
    code, path = script
    assert code == 0  # --check: every verdict equals the record's
    text = path.read_text()
    assert 'INPUTS = ""' in text and 'EXPECTED = ""' in text and "def gradients(" in text
    compact = "\n".join(compact_parts(*case_and_args("dtypes_convT2d_k3_s2_p1_op1", "bfloat16")))
    assert len(text.encode()) - len(compact.encode()) - len(runtime_code().encode()) <= REST
    assert len(text.encode()) <= LIMIT


def test_another_generator_is_caught_by_the_digests(script, tmp_path):
    _, path = script
    changed = tmp_path / "seed.py"
    changed.write_text(re.sub(r"^SEED = (\d+)", lambda m: f"SEED = {int(m.group(1)) + 1}", path.read_text(), flags=re.M))
    proc = run(changed)
    assert proc.returncode == 3 and "the generator gave another array" in proc.stdout


def test_a_changed_oracle_fails_the_comparison(script, tmp_path):
    _, path = script
    text = path.read_text()
    marker = "def forward(case: Case, x, w, b=None) -> np.ndarray:\n"
    assert marker in text
    changed = tmp_path / "oracle.py"  # the embedded oracle's output doubled: the output check must fail
    changed.write_text(text.replace(marker, marker + "    return 2 * _forward_once(case, x, w, b)\n\n\n"
                                    "def _forward_once(case: Case, x, w, b=None) -> np.ndarray:\n", 1))
    proc = run(changed)
    assert proc.returncode == 1 and "output: fail" in proc.stdout


def case_and_args(case_id, dtype):
    case = next(c for c in load_cases() if c.id == case_id)
    return case, 0, dtype


def test_every_library_case_fits_in_60_kb():
    worst = max((len("\n".join(compact_parts(c, 0, c.dtypes[0])).encode()), c.id) for c in load_cases())
    assert worst[0] + len(runtime_code().encode()) + REST <= LIMIT, worst
