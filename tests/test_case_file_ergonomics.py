"""Case-file ergonomics: every bad case of a file reported at once, the in_channels hint, the run's
summary per target, counts with the right noun form, and shortened texts cut at a word."""
from __future__ import annotations

import pytest

from conformance import CaseError, load_cases
from conformance.wording import plural, shorten
from test_cli import run_cli, write

THREE_BAD = """
cases:
  - {id: fine, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}
  - {id: bad_groups, op: conv, input_shape: [1, 3, 4], out_channels: 2, kernel_size: 2, groups: 2}
  - {id: bad_field, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, paddng: 1}
  - {id: bad_channels, op: conv, input_shape: [1, 3, 8], in_channels: 3, out_channels: 4, kernel_size: 3}
"""
EXPECTED = [
    "bad.yaml:4: case 'bad_groups', field 'groups': input channels (3) are not divisible by groups (2)",
    "bad.yaml:5: case 'bad_field', field 'paddng': unknown field (did you mean 'padding'?); allowed fields: ",
    "bad.yaml:6: case 'bad_channels', field 'in_channels': unknown field; in_channels is input_shape[1]",
]


def test_the_loader_reports_every_bad_case_of_a_file(tmp_path):
    write(tmp_path, "bad.yaml", THREE_BAD)
    with pytest.raises(CaseError) as info:
        load_cases(tmp_path / "bad.yaml")
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    for line, expected in zip(lines, EXPECTED):
        assert line.startswith(f"{tmp_path}/{expected}"), line


@pytest.mark.parametrize("command", ["run", "list"])
def test_run_and_list_print_one_line_per_bad_case_and_exit_2(tmp_path, command):
    write(tmp_path, "bad.yaml", THREE_BAD)
    extra = ["--html", ""] if command == "run" else []
    proc = run_cli(tmp_path, command, "--cases", "bad.yaml", "--frameworks", "fakefw", *extra)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3, proc.stderr
    for line, expected in zip(lines, EXPECTED):
        assert line.startswith("conformance: error: " + expected), line
    assert "Traceback" not in proc.stderr


def test_in_channels_is_not_taken_for_out_channels(tmp_path):
    write(tmp_path, "c.yaml", "cases:\n  - {id: c, op: conv, input_shape: [1, 3, 8], in_channels: 3, "
                              "out_channels: 4, kernel_size: 3}\n")
    with pytest.raises(CaseError) as info:
        load_cases(tmp_path / "c.yaml")
    assert "in_channels is input_shape[1]" in str(info.value)
    assert "out_channels'?" not in str(info.value)


def test_the_run_summary_is_per_target_and_counts_read_right(tmp_path):
    write(tmp_path, "one.yaml", "cases:\n  - {id: one, op: conv, input_shape: [1, 1, 4], out_channels: 1, "
                                "kernel_size: 2}\n")
    proc = run_cli(tmp_path, "run", "--cases", "one.yaml", "--frameworks", "fakefw", "--known", "none",
                   "--json", "r.json", "--html", "")
    assert proc.returncode == 0, proc.stderr
    # fakefw.functional: output, grad_input, grad_weight, grad_bias, output_shape (5 checks; layer adds 2)
    lines = proc.stdout.splitlines()
    head = next(line for line in lines if " results on " in line)
    assert head.startswith("12 results on 2 targets: 12 pass"), head
    assert any(line.split() == ["fakefw.functional@cpu", "5", "pass"] for line in lines), proc.stdout
    assert any(line.split() == ["fakefw.layer@cpu", "7", "pass"] for line in lines), proc.stdout
    listed = run_cli(tmp_path, "list", "--cases", "one.yaml", "--frameworks", "fakefw")
    assert "\n1 case\n" in listed.stdout and "1 cases" not in listed.stdout


def test_plural_and_shorten():
    assert [plural(n, "case") for n in (0, 1, 2)] == ["0 cases", "1 case", "2 cases"]
    assert plural(1, "match", "matches") == "1 match" and plural(3, "match", "matches") == "3 matches"
    text = "the converter could not lower the operation tfl.transpose_conv"
    cut = shorten(text, 30)
    assert cut == "the converter could not..."  # 'lower' does not fit: cut before it, not inside it
    assert len(cut) <= 30 and shorten(text, 200) == text
    assert shorten("x" * 50, 10) == "xxxxxxx..."  # one long word: no boundary to cut at
