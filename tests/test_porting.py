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


def test_each_target_has_its_output_status_per_dtype_its_reason_per_check_and_its_call():
    text = porting_view(RECORDS, "c[stride=2]")
    lines = text.splitlines()
    rows = {line.split()[0]: i for i, line in enumerate(lines) if "@cpu" in line and not line.startswith(("---", " "))}
    assert set(rows) == {"torch.functional@cpu", "tf.nn@cpu", "jax.lax@cpu"}  # not the other case's targets
    torch, tf, jax = (rows[t] for t in ("torch.functional@cpu", "tf.nn@cpu", "jax.lax@cpu"))
    assert lines[torch].split()[1:] == ["unsupported", "-"]  # no float64 record
    assert lines[torch + 1] == f"    output: unsupported: output: {REFUSAL}"  # the framework's own text
    assert lines[torch + 2] == f"    gradients: unsupported: grad_input: {REFUSAL}"
    assert lines[tf].split()[1:] == ["pass", "fail"]  # the output's status per dtype
    assert lines[tf + 1] == "    output: pass in float32, fail in float64: output: error 9x its bound"
    assert lines[jax].split()[1:] == ["pass", "-"] and lines[jax + 1] == "    output: pass"
    for call in ("torch.nn.functional.conv2d(x, w, stride=2)", "tf.nn.convolution(x, w, strides=2, padding='SAME')"):
        assert call in text


def test_a_target_that_computes_the_output_but_not_its_gradients_says_both():
    records = [record("tf.nn", "pass", case="l"),
               record("tf.nn", "unsupported", check="grad_input", case="l", message="LiteRT runs inference only"),
               record("tf.nn", "unsupported", check="grad_weight", case="l", message="LiteRT runs inference only"),
               record("tf.nn", "pass", check="output_shape", case="l")]
    lines = porting_view(records, "l").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("tf.nn@cpu"))
    assert lines[at].split()[1:] == ["pass"]  # not the worst check's 'unsupported'
    assert lines[at + 1:at + 4] == ["    output: pass", "    gradients: unsupported: grad_input: LiteRT runs inference only",
                                    "    shapes: pass"]


def test_the_matrix_and_the_porting_view_agree(tmp_path):
    """A case whose output passes in float32 and is refused in float64 on one target, and passes with its
    gradients refused on another: the matrix's cell and the view's output columns say the same."""
    from conformance.results.support import support_table

    records = [record("tf.nn", "pass", case="m"), record("tf.nn", "unsupported", dtype="float64", case="m"),
               record("jax.lax", "pass", case="m"), record("jax.lax", "unsupported", check="grad_input", case="m"),
               record("torch.functional", "unsupported", case="m")]
    run = RunResults(records, environment={}, cases={"m": {"features": ["conv"]}})
    matrix = support_table(run).splitlines()
    header = [c.strip(" `") for c in matrix[0].split("|")[2:-1]]
    cells = dict(zip(header, [c.strip() for c in matrix[2].split("|")[2:-1]]))
    assert cells == {"jax.lax@cpu": "all", "tf.nn@cpu": "1/2", "torch.functional@cpu": "none"}
    view = {line.split()[0]: line.split()[1:] for line in porting_view(records, "m").splitlines()
            if "@cpu" in line and not line.startswith(("---", " "))}
    assert view == {"jax.lax@cpu": ["pass", "-"], "tf.nn@cpu": ["pass", "unsupported"],
                    "torch.functional@cpu": ["unsupported", "-"]}  # '-': no float64 run on that target
    # the same answer, read by rule: 'all' = every dtype run passes, 'none' = none computed, 'n/m' = n of m
    for target, cells_of_view in view.items():
        statuses = [c for c in cells_of_view if c != "-"]
        passed = statuses.count("pass")
        expected = "all" if passed == len(statuses) else "none" if passed == 0 else f"{passed}/{len(statuses)}"
        assert cells[target] == expected


def test_show_reads_a_results_file_and_takes_the_id_as_printed(tmp_path, capsys):
    path = RunResults(RECORDS, environment={}).write(tmp_path / "r.json")
    assert main(["show", "c[stride=2]", "--results", str(path)]) == 0  # brackets: the literal id, not a glob
    assert "torch.functional@cpu" in capsys.readouterr().out
    assert main(["show", "c[strid=2]", "--results", str(path)]) == 2
    assert "no case 'c[strid=2]'" in capsys.readouterr().err


def test_the_printed_repro_command_works_as_printed_for_a_case_file_outside_the_library(tmp_path):
    """A user's own case file: `show` prints, per target, a repro command that carries `--cases`; run as
    printed, it finds the case and reproduces the records; `repro --results` finds the file by itself."""
    import shlex

    from test_cli import run_cli, write

    (tmp_path / "mine").mkdir()
    write(tmp_path, "mine/layers.yaml", "cases:\n  - {id: stem, op: conv, input_shape: [1, 2, 6, 6], out_channels: 3, "
                                        "kernel_size: 3, stride: 2, padding: 1}\n")
    cache = ["--cache-dir", str(tmp_path / "cache")]
    ran = run_cli(tmp_path, "run", "--cases", "mine/layers.yaml", "--targets", "torch.functional@cpu", "--json",
                  "r.json", "--html", "", *cache)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    shown = run_cli(tmp_path, "show", "stem", "--results", "r.json")
    assert shown.returncode == 0, shown.stderr
    printed = [line.split("reproduce it standalone: ", 1)[1] for line in shown.stdout.splitlines()
               if "reproduce it standalone: " in line]
    assert printed == ["conformance repro stem --target torch.functional@cpu --dtype float32 --cases "
                       "mine/layers.yaml --check"]
    argv = shlex.split(printed[0])
    assert argv[0] == "conformance"
    reproduced = run_cli(tmp_path, *argv[1:], *cache)
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr
    assert "output pass" in reproduced.stdout
    by_results = run_cli(tmp_path, "repro", "stem", "--target", "torch.functional@cpu", "--dtype", "float32",
                         "--results", "r.json", "-o", "again.py", *cache)
    assert by_results.returncode == 0, by_results.stderr
    assert (tmp_path / "again.py").read_text() == (tmp_path / "repro_stem_torch_functional_float32.py").read_text()


def test_show_without_a_results_file_names_the_command_that_makes_it(tmp_path, capsys):
    assert main(["show", "stem", "--results", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no results file" in err
    assert "`conformance run --case-id stem --json " in err and "`conformance port stem`" in err


def test_show_names_the_case_files_given(tmp_path, capsys):
    records = [record("tf.nn", "pass", case="x")]
    path = RunResults(records, environment={}, cases={"x": {"origin": "old/place.yaml:3"}}).write(tmp_path / "r.json")
    assert main(["show", "x", "--results", str(path)]) == 0
    assert "--cases old/place.yaml --check" in capsys.readouterr().out  # the file the results file records
    assert main(["show", "x", "--results", str(path), "--cases", "new/place.yaml"]) == 0
    assert "--cases new/place.yaml --check" in capsys.readouterr().out
