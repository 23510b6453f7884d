"""The case-file JSON Schema (`conformance schema`) and the loader read the same examples alike:
what the loader accepts the schema accepts, and what breaks the schema's rules the loader refuses
(the loader checks more than a schema can say: channels that groups divide, sizes)."""
from __future__ import annotations

import pytest
import yaml

from json_schema_check import errors
from conformance.errors import CaseError
from conformance.spec.loader import load_file
from conformance.spec.schema import case_file_schema

BASE = "{id: c, op: conv, input_shape: [1, 2, 6], out_channels: 2, kernel_size: 3"
ACCEPTED = {
    "padding-upper-case": BASE + ", padding: SAME}",
    "padding-mixed-case": BASE + ", padding: Same_Lower}",
    "padding-keyword": BASE + ", padding: valid}",
    "padding-int": BASE + ", padding: 1}",
    "padding-pairs": BASE + ", padding: [[1, 0]]}",
    "dtypes-one-name": BASE + ", dtypes: float32}",
    "dtypes-list": BASE + ", dtypes: [float32, float64]}",
    "kernel-per-dim": BASE.replace("kernel_size: 3", "kernel_size: [3]") + "}",
    "matrix": BASE + ", matrix: {stride: [1, 2], padding: [SAME, valid]}}",
}
REFUSED = {
    "padding-unknown": BASE + ", padding: full}",
    "padding-negative": BASE + ", padding: -1}",
    "dtypes-unknown": BASE + ", dtypes: float8}",
    "dtypes-empty": BASE + ", dtypes: []}",
    "dtypes-twice": BASE + ", dtypes: [float32, float32]}",
    "unknown-field": BASE + ", in_channels: 2}",
    "op": BASE.replace("op: conv", "op: deconv") + "}",
}


def judge(tmp_path, case: str) -> tuple[bool, bool]:
    """(the loader accepts it, the schema accepts it) for a file holding the one case."""
    path = tmp_path / "c.yaml"
    path.write_text(f"cases:\n  - {case}\n")
    try:
        load_file(path)
        loaded = True
    except CaseError:
        loaded = False
    return loaded, not errors(yaml.safe_load(path.read_text()), case_file_schema())


@pytest.mark.parametrize("case", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_the_loader_accepts_the_schema_accepts(tmp_path, case):
    assert judge(tmp_path, case) == (True, True)


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_what_the_schema_refuses_the_loader_refuses(tmp_path, case):
    assert judge(tmp_path, case) == (False, False)
