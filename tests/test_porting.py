"""The porting view (`conformance show CASE_ID`): every target of one case side by side, its status per
dtype, the framework's own reason where it refuses, and the native call, read from a results file."""
from __future__ import annotations

from conformance.cli import main
from conformance.report.porting import porting_view
from conformance.results.records import Result, RunResults

REFUSAL = "RuntimeError: padding='same' is not supported for strided convolutions"


def record(api, status, *, check="output", dtype="float32", message="", call=None, case="c[stride=2]"):
    framework = {"torch": "torch", "tf": "tensorflow", "jax": "jax"}[api.split(".")[0]]
    return Result(case=case, framework=framework, api=api, device="cpu", dtype=dtype, check=check, status=status,
                  message=message, call=call)


RECORDS = [
    record("torch.functional", "unsupported", message=REFUSAL, call="torch.nn.functional.conv2d(x, w, stride=2)"),
    record("torch.functional", "unsupported", check="grad_input", message=REFUSAL),
    record("tf.nn", "pass", call="tf.nn.convolution(x, w, strides=2, padding='SAME')"),
    record("tf.nn", "fail", dtype="float64", message="error 9x its bound"),
    record("jax.lax", "pass", call="jax.lax.conv_general_dilated(x, w, (2,), 'SAME')"),
    record("jax.lax", "pass", case="other"),
]


def test_each_target_has_its_status_per_dtype_its_reason_and_its_call():
    text = porting_view(RECORDS, "c[stride=2]")
    rows = {line.split()[0]: line for line in text.splitlines() if "@cpu " in line}
    assert set(rows) == {"torch.functional@cpu", "tf.nn@cpu", "jax.lax@cpu"}  # not the other case's targets
    assert rows["torch.functional@cpu"].split()[1:3] == ["unsupported", "-"]  # no float64 record
    assert rows["torch.functional@cpu"].endswith(f"output: {REFUSAL}")  # the framework's own text
    assert rows["tf.nn@cpu"].split()[1:4] == ["pass", "fail", "output:"]  # the worst status per dtype
    assert rows["jax.lax@cpu"].split()[1:] == ["pass", "-"]
    for call in ("torch.nn.functional.conv2d(x, w, stride=2)", "tf.nn.convolution(x, w, strides=2, padding='SAME')"):
        assert call in text


def test_show_reads_a_results_file_and_takes_the_id_as_printed(tmp_path, capsys):
    path = RunResults(RECORDS, environment={}).write(tmp_path / "r.json")
    assert main(["show", "c[stride=2]", "--results", str(path)]) == 0  # brackets: the literal id, not a glob
    assert "torch.functional@cpu" in capsys.readouterr().out
    assert main(["show", "c[strid=2]", "--results", str(path)]) == 2
    assert "no case 'c[strid=2]'" in capsys.readouterr().err
