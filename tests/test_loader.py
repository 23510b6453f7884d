"""Case files: matrix expansion, defaults, and errors that name the file, the line, the case and the field."""
from __future__ import annotations

import textwrap

import pytest

from conformance import CaseError, load_cases
from conformance.spec.loader import load_file


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_matrix_expands_to_cartesian_product_with_readable_ids(tmp_path):
    path = write(tmp_path, "m.yaml", """
        cases:
          - id: conv2d_basic
            op: conv
            input_shape: [1, 2, 8, 8]
            out_channels: 2
            kernel_size: 3
            matrix:
              stride: [1, [2, 1]]
              padding: [valid, same, [[0, 1], [1, 0]]]
        """)
    ids = [c.id for c in load_file(path)]
    assert ids == [
        "conv2d_basic[stride=1,padding=valid]", "conv2d_basic[stride=1,padding=same]",
        "conv2d_basic[stride=1,padding=[0,1]x[1,0]]", "conv2d_basic[stride=2x1,padding=valid]",
        "conv2d_basic[stride=2x1,padding=same]", "conv2d_basic[stride=2x1,padding=[0,1]x[1,0]]",
    ]
    assert load_file(path)[4].stride == (2, 1)


def test_defaults_apply_and_cases_override(tmp_path):
    path = write(tmp_path, "d.yaml", """
        defaults: {dtypes: [float64], bias: false}
        cases:
          - {id: a, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}
          - {id: b, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, bias: true}
        """)
    a, b = load_file(path)
    assert (a.dtypes, a.bias, b.bias) == (("float64",), False, True)


def test_error_names_file_line_case_and_field(tmp_path):
    path = write(tmp_path, "bad.yaml", """
        cases:
          - {id: fine, op: conv, input_shape: [1, 3, 4, 4], out_channels: 3, kernel_size: 2}

          - id: broken
            op: conv
            input_shape: [1, 3, 4, 4]
            out_channels: 4
            kernel_size: 2
            groups: 2
        """)
    with pytest.raises(CaseError) as info:
        load_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:5: case 'broken', field 'groups': ")
    assert "not divisible by groups" in message


def test_error_in_an_expanded_case_names_the_expanded_id(tmp_path):
    path = write(tmp_path, "bad.yaml", """
        cases:
          - id: k
            op: conv
            input_shape: [1, 2, 4]
            out_channels: 2
            kernel_size: 3
            matrix: {groups: [2, 3]}
        """)
    with pytest.raises(CaseError, match=r"bad.yaml:3: case 'k\[groups=3\]', field 'groups': input channels \(2\) are not divisible"):
        load_file(path)


def test_duplicate_ids_name_both_places(tmp_path):
    write(tmp_path, "a.yaml", """
        cases:
          - {id: same_id, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}
        """)
    write(tmp_path, "b.yaml", """
        cases:
          - {id: other, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}
          - {id: same_id, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 3}
        """)
    with pytest.raises(CaseError) as info:
        load_cases(tmp_path)
    message = str(info.value)
    assert f"{tmp_path / 'b.yaml'}:4: case 'same_id'" in message
    assert f"also declared at {tmp_path / 'a.yaml'}:3" in message


@pytest.mark.parametrize("text, expected", [
    ("cases:\n  - {id: a, op: conv\n", "not valid YAML"),
    ("- just a list\n", "top-level 'cases:' list"),
    ("casses: []\n", "top-level 'cases:' list"),
    ("cases: []\nextra: 1\n", "unknown top-level key 'extra'"),
    ("cases: {a: 1}\n", "'cases' must be a list"),
    ("defaults: {id: x}\ncases: []\n", "'defaults' cannot set 'id'"),
    ("cases:\n  - {id: a, id: b}\n", "key 'id' appears twice"),
    ("cases:\n  - {id: a, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, matrix: {stride: 2}}\n",
     "field 'matrix.stride': expected a non-empty list"),
    ("cases:\n  - {id: a, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, matrix: {kernel_size: [1]}}\n",
     "set both directly and in 'matrix'"),
    ("cases:\n  - {id: a, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, matrix: {strides: [1]}}\n",
     "did you mean 'stride'"),
    ("cases:\n  - 42\n", "must be a mapping"),
], ids=["yaml-syntax", "not-a-mapping", "no-cases-key", "unknown-top-key", "cases-not-list", "defaults-id",
        "duplicate-key", "matrix-not-list", "matrix-conflict", "matrix-typo", "case-not-mapping"])
def test_bad_files_give_one_clear_line(tmp_path, text, expected):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(CaseError) as info:
        load_file(path)
    message = str(info.value)
    assert expected in message
    assert message.startswith(str(path))
    assert "\n" not in message


def test_folder_skips_known_differences_and_unknown_ids_are_reported(tmp_path):
    write(tmp_path, "a.yaml", """
        cases:
          - {id: only, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}
        """)
    write(tmp_path, "known_differences.yaml", "known_differences: []\n")
    assert [c.id for c in load_cases(tmp_path)] == ["only"]
    with pytest.raises(CaseError, match="did you mean 'only'"):
        load_cases(tmp_path, ids=["onyl"])


def test_missing_path():
    with pytest.raises(CaseError, match="no such file or folder"):
        load_cases("does/not/exist.yaml")
