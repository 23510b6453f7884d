"""conformance.results.diff and diff_text: each category of change between two runs, built by hand;
the gate's verdict and its --allow opt-outs; the terminal lines; the one-line environment."""
from __future__ import annotations

import copy
import itertools

import pytest

from conformance.errors import UsageError
from conformance.results.diff import Diff, diff, parse_allow
from conformance.results.diff_text import entry_lines, format_text, shorten
from conformance.results.environment_diff import describe_environment
from conformance.results.records import Result, RunResults


def rec(case="c1", status="pass", *, check="output", api="torch.functional", device="cpu", dtype="float32",
        precision="defaults", ratio=None, message="") -> Result:
    framework = {"torch": "torch", "tf": "tensorflow", "keras": "tensorflow", "jax": "jax", "flax": "jax"}[api.split(".")[0]]
    return Result(case=case, framework=framework, api=api, device=device, dtype=dtype, check=check,
                  status=status, message=message, precision=precision, error_ratio=ratio)


def run(*records) -> RunResults:
    return RunResults(list(records), environment={"python": "3.11"})


def keys(entries) -> list[str]:
    return [e.key[0] for e in entries]


def test_identical_runs_have_no_differences():
    base = run(rec("a"), rec("b", "fail"), rec("c", "unsupported"))
    d = diff(base, run(rec("a"), rec("b", "fail"), rec("c", "unsupported")))
    assert d.counts() == {"regressions": 0, "allowed": 0, "fixes": 0, "changes": 0, "added": 0, "removed": 0,
                          "unchanged": 3, "lost": 0, "environment": 0}
    assert not d.has_regressions


# ------------------------------------------------------------------------- every transition
# The rule, written here on its own: statuses from best to worst; the four failing ones are equal.
WORSE = {"pass": 0, "known": 1, "unsupported": 2, "fail": 3, "error": 3, "crashed": 3, "flaky": 3}
PAIRS = [(old, new) for old, new in itertools.permutations(WORSE, 2)]


def expected(old: str, new: str) -> tuple[str, str]:
    """(list, category) of a key that went from `old` to `new`, by the order above."""
    if WORSE[new] > WORSE[old]:
        return "regressions", {3: "newly failing", 2: "newly refused", 1: "newly known"}[WORSE[new]]
    if WORSE[new] < WORSE[old]:
        return "fixes", "fixed"
    return "changes", "still failing"


def test_the_table_holds_every_pair_and_says_what_the_users_asked_for():
    """The order gives 15 regressions, 15 fixes and 12 failing -> failing changes out of the 42
    pairs, and the three transitions that used to pass the gate are regressions now."""
    kinds = [expected(old, new)[0] for old, new in PAIRS]
    assert (len(PAIRS), kinds.count("regressions"), kinds.count("fixes"), kinds.count("changes")) == (42, 15, 15, 12)
    assert expected("pass", "unsupported") == expected("known", "unsupported") == ("regressions", "newly refused")
    assert expected("pass", "known") == ("regressions", "newly known")
    assert expected("unsupported", "known") == expected("unsupported", "pass") == ("fixes", "fixed")


@pytest.mark.parametrize("old, new", PAIRS, ids=[f"{o}->{n}" for o, n in PAIRS])
def test_every_status_transition(old, new):
    d = diff(run(rec("a", old)), run(rec("a", new, message="got 3.0, expected 2.0")))
    where, category = expected(old, new)
    lists = {name: keys(getattr(d, name)) for name in ("regressions", "fixes", "changes")}
    assert lists == {name: (["a"] if name == where else []) for name in lists}
    e = getattr(d, where)[0]
    assert (e.old_status, e.new_status, e.reason, e.category, e.allowed) == (old, new, "status", category, False)
    assert e.message == "got 3.0, expected 2.0"
    assert d.has_regressions is (where == "regressions")  # every regression fails the gate
    assert d.to_dict()[where][0]["category"] == category and d.to_dict()["failed"] is d.has_regressions


# ------------------------------------------------------------------------- --allow
def refused_known_failing(failing=True) -> tuple[RunResults, RunResults]:
    """Two newly refused records (r1, r2), one newly known (k) and, with `failing`, one newly failing (f)."""
    old = [rec("r1"), rec("r2", "known"), rec("k")] + ([rec("f", "unsupported")] if failing else [])
    new = [rec("r1", "unsupported"), rec("r2", "unsupported"), rec("k", "known")] + ([rec("f", "error")] if failing else [])
    return run(*old), run(*new)


@pytest.mark.parametrize("allow, allowed_keys", [
    ((), []), (("refusals",), ["r1", "r2"]), (("known",), ["k"]), (("refusals", "known"), ["k", "r1", "r2"]),
    (("refusals", "known", "removed"), ["k", "r1", "r2"])])
def test_allow_lets_one_category_through_and_never_a_failure(allow, allowed_keys):
    d = diff(*refused_known_failing(), allow=allow)
    assert sorted(e.key[0] for e in d.regressions if e.allowed) == allowed_keys
    assert {e.key[0]: e.category for e in d.regressions} == {
        "r1": "newly refused", "r2": "newly refused", "k": "newly known", "f": "newly failing"}
    assert d.has_regressions  # f: pass, known or unsupported -> error fails whatever is allowed
    without_failure = diff(*refused_known_failing(failing=False), allow=allow)
    assert without_failure.has_regressions is (len(allowed_keys) < 3)
    data = d.to_dict()
    assert data["allow"] == sorted(allow)
    assert data["allowed_categories"] == [{"refusals": "newly refused", "known": "newly known",
                                           "removed": "removed"}[w] for w in sorted(allow)]
    assert sorted(x["case"] for x in data["regressions"] if x["allowed"]) == allowed_keys
    assert data["counts"]["allowed"] == len(allowed_keys)


def test_an_added_failing_record_is_never_allowed():
    d = diff(run(rec("kept")), run(rec("kept"), rec("brand_new", "crashed")), allow=("refusals", "known", "removed"))
    assert [(e.category, e.allowed) for e in d.regressions] == [("added failing", False)] and d.has_regressions


def test_unknown_allow_category_is_one_line_naming_the_allowed_ones():
    with pytest.raises(UsageError) as info:
        parse_allow(["refusal"])
    message = str(info.value)
    assert message.startswith("--allow 'refusal': unknown category (did you mean 'refusals'?); allowed: ")
    assert all(word in message for word in ("refusals", "known", "removed")) and "\n" not in message
    with pytest.raises(UsageError):
        diff(run(), run(), allow=["failures"])


def test_the_text_lists_allowed_regressions_under_their_category_and_says_so():
    old, new = refused_known_failing()
    old.results.append(rec("r3", check="grad_input"))
    new.results.append(rec("r3", "unsupported", check="grad_input"))
    lines = format_text(diff(old, new, allow=["refusals"])).splitlines()
    assert lines[:2] == [
        "conformance: regression: 1 record newly failing (pass, known or unsupported in the baseline; fail, error, "
        "crashed or flaky here)",
        "conformance: regression: 1 record newly known (pass in the baseline, a known difference here); pass "
        "--allow known to accept them"]
    assert ("5 regressions (3 newly refused allowed by --allow refusals), 0 fixes, 0 other changes, 0 added, "
            "0 removed, 0 unchanged") in lines
    at = lines.index("Regressions:")
    assert lines[at + 1:at + 8] == [
        "  newly failing (1 record):",
        "    f  torch.functional@cpu  float32: check output: unsupported -> error (newly failing)",
        "  newly refused (3 records, allowed by --allow refusals):",
        "    r1  torch.functional@cpu  float32: check output: pass -> unsupported (newly refused, allowed)",
        "    r2  torch.functional@cpu  float32: check output: known -> unsupported (newly refused, allowed)",
        "    r3  torch.functional@cpu  float32: check grad_input: pass -> unsupported (newly refused, allowed)",
        "  newly known (1 record):"]
    without = format_text(diff(old, new)).splitlines()
    assert "conformance: regression: 3 records newly refused (pass or known in the baseline, unsupported here); " \
           "pass --allow refusals if the new version refuses them on purpose" in without
    assert "  newly refused (3 records):" in without


# ------------------------------------------------------------------------- lines that read at a glance
def test_one_line_per_case_target_dtype_and_transition_naming_its_checks():
    """12 (case, target) pairs whose 7 checks all became unsupported: 12 lines, not 84."""
    checks = ("output_shape", "output", "weight_shape", "param_count", "grad_input", "grad_weight", "grad_bias")
    pairs = [(f"case{i}", api) for i in range(6) for api in ("torch.layer", "keras.layer")]
    reason = ("ValueError: The `kernel_size` argument must be a tuple of 2 integers. Received kernel_size=(3, 3, 3), "
              "including values {3} that do not satisfy `value > 0`")
    base = run(*[rec(c, api=api, check=k) for c, api in pairs for k in checks])
    new = run(*[rec(c, "unsupported", api=api, check=k, message=reason) for c, api in pairs for k in checks])
    d = diff(base, new, allow=["refusals"])
    lines = entry_lines(d.regressions)
    assert len(d.regressions) == 84 and len(lines) == 12
    assert lines[0] == ("case0  keras.layer@cpu  float32: checks grad_bias, grad_input, grad_weight, output, "
                        "output_shape, param_count, weight_shape: pass -> unsupported (newly refused, allowed): "
                        "ValueError: The `kernel_size` argument must be a tuple of 2 integers. Received "
                        "kernel_size=(3 ...")  # cut after a whole word, its comma dropped
    assert not d.has_regressions


def test_a_units_checks_split_only_by_transition_and_messages_are_one_line():
    base = run(rec("c", check="output"), rec("c", check="grad_input"), rec("c", "fail", check="grad_weight"),
               rec("c", check="output", precision="strict", device="gpu"), rec("c", check="output", dtype="float64"))
    new = run(rec("c", "fail", check="output", message="error 214x its bound\nat [0, 1]"),
              rec("c", "fail", check="grad_input", message="error 3x its bound"),
              rec("c", "error", check="grad_weight", message="boom"),
              rec("c", "unsupported", check="output", precision="strict", device="gpu", message="no TF32 off"),
              rec("c", "fail", check="output", dtype="float64"))
    d = diff(base, new)
    assert entry_lines(d.regressions) == [
        "c  torch.functional@cpu  float32: checks grad_input, output: pass -> fail (newly failing): error 3x its "
        "bound (+1 other messages)",
        "c  torch.functional@cpu  float64: check output: pass -> fail (newly failing)",
        "c  torch.functional@gpu [strict]  float32: check output: pass -> unsupported (newly refused): no TF32 off"]
    assert entry_lines(d.changes) == ["c  torch.functional@cpu  float32: check grad_weight: fail -> error "
                                      "(still failing): boom"]


@pytest.mark.parametrize("width", [20, 37, 60, 100])
def test_shorten_cuts_at_a_word_boundary(width):
    text = ("RuntimeError: Given groups=1, weight of size [4, 3, 3, 3], expected input[2, 6, 9, 9] to have 3 "
            "channels, but got 6 channels instead")
    short = shorten(text, width)
    assert short.endswith(" ...") and len(short) <= width
    kept = short.removesuffix(" ...").split()
    words = text.split()[:len(kept)]
    assert kept and kept[:-1] == words[:-1] and kept[-1] == words[-1].rstrip(",:")  # whole words, in order
    assert shorten("short\n  one", width) == "short one"
    assert shorten("x" * (width + 5) + " tail", width) == "x" * (width + 5) + " ..."  # never inside a word
    assert shorten("y" * (width + 5), width) == "y" * (width + 5)


def test_ratio_growth_while_passing_is_a_change():
    base = run(rec("grew", ratio=0.01), rec("tiny", ratio=1e-6), rec("same", ratio=0.5), rec("inf_old", ratio="inf"))
    new = run(rec("grew", ratio=0.5), rec("tiny", ratio=1e-4), rec("same", ratio=0.9), rec("inf_old", ratio=0.3))
    d = diff(base, new)
    assert keys(d.changes) == ["grew"]  # 1e-6 -> 1e-4 is under the floor; 0.5 -> 0.9 is under 10x
    assert d.changes[0].reason == "ratio"
    assert d.changes[0].to_dict()["new_ratio"] == 0.5
    assert d.unchanged == 3


def test_added_and_removed():
    base = run(rec("kept"), rec("gone"), rec("gone_failing", "fail"))
    new = run(rec("kept"), rec("new_pass"), rec("new_unsupported", "unsupported"))
    d = diff(base, new)
    assert keys(d.added) == ["new_pass", "new_unsupported"]
    assert keys(d.removed) == ["gone", "gone_failing"]
    assert not d.regressions
    assert not d.fixes  # a failing record that disappears is not fixed


def test_removed_records_fail_the_comparison_unless_allowed():
    base, new = run(rec("kept"), rec("gone"), rec("gone_too", dtype="float64")), run(rec("kept"))
    d = diff(base, new)
    assert not d.regressions and d.has_regressions and d.to_dict()["failed"] is True
    lines = format_text(d).splitlines()
    assert lines[0] == ("conformance: regression: 2 records of the baseline are not in this run (removed); "
                        "pass --allow removed if cases or targets were removed on purpose")
    assert "  torch.functional@cpu: 2 records of 2 cases" in lines
    allowed = diff(base, new, allow=["removed"])
    assert keys(allowed.removed) == ["gone", "gone_too"] and not allowed.has_regressions
    text = format_text(allowed)
    assert "conformance: regression" not in text and "as --allow removed says" in text
    assert allowed.to_dict()["failed"] is False and allowed.to_dict()["allow_removed"] is True
    assert diff(base, new, allow=["refusals", "known"]).has_regressions  # only 'removed' excuses a removal


def test_new_failing_record_is_a_regression():
    d = diff(run(rec("kept")), run(rec("kept"), rec("brand_new", "crashed", message="worker died")))
    assert keys(d.added) == ["brand_new"]
    assert keys(d.regressions) == ["brand_new"]
    e = d.regressions[0]
    assert (e.old_status, e.new_status, e.reason, e.category) == (None, "crashed", "added", "added failing")
    assert d.has_regressions


def test_every_key_field_separates_records():
    """Same case, different target/dtype/precision/check: distinct keys, compared one to one."""
    base = run(rec("a"), rec("a", api="jax.lax"), rec("a", dtype="float16"), rec("a", precision="strict"),
               rec("a", check="grad_input"), rec("a", device="gpu"))
    new = run(rec("a"), rec("a", "fail", api="jax.lax"), rec("a", dtype="float16"), rec("a", precision="strict"),
              rec("a", check="grad_input"), rec("a", "error", device="gpu"))
    d = diff(base, new)
    assert sorted((e.key[2], e.key[3]) for e in d.regressions) == [("jax.lax", "cpu"), ("torch.functional", "gpu")]
    assert d.unchanged == 4


def test_format_text_lists_counts_and_regressions():
    base = run(rec("ok_then_bad"), rec("bad_then_ok", "fail"), rec("x", precision="strict", device="gpu"))
    new = run(rec("ok_then_bad", "fail", message="error 214x its bound\nat [0, 1]"), rec("bad_then_ok"),
              rec("x", "unsupported", precision="strict", device="gpu"), rec("added_bad", "error", message="boom"))
    text = format_text(diff(base, new))
    lines = text.splitlines()
    assert lines[3:7] == ["baseline: no framework on an unrecorded CPU", "new:      no framework on an unrecorded CPU",
                          "environment: no differences",
                          "3 regressions, 1 fixes, 0 other changes, 1 added, 0 removed, 0 unchanged"]
    assert lines[:3] == [  # what fails the gate first, one line per category
        "conformance: regression: 1 record newly failing (pass, known or unsupported in the baseline; fail, error, "
        "crashed or flaky here)",
        "conformance: regression: 1 record not in the baseline fail here (added failing)",
        "conformance: regression: 1 record newly refused (pass or known in the baseline, unsupported here); pass "
        "--allow refusals if the new version refuses them on purpose"]
    assert lines[7:] == [
        "", "Regressions:",
        "  newly failing (1 record):",
        "    ok_then_bad  torch.functional@cpu  float32: check output: pass -> fail (newly failing): error 214x its "
        "bound at [0, 1]",
        "  added failing (1 record):",
        "    added_bad  torch.functional@cpu  float32: check output: (absent) -> error (added failing): boom",
        "  newly refused (1 record):",
        "    x  torch.functional@gpu [strict]  float32: check output: pass -> unsupported (newly refused)",
        "", "Fixes:",
        "  bad_then_ok  torch.functional@cpu  float32: check output: fail -> pass (fixed)"]


def test_format_text_limit_and_empty():
    empty = format_text(Diff()).splitlines()
    assert empty[-1] == "0 regressions, 0 fixes, 0 other changes, 0 added, 0 removed, 0 unchanged"
    d = diff(run(*[rec(f"c{i}") for i in range(5)]), run(*[rec(f"c{i}", "fail") for i in range(5)]))
    lines = format_text(d, limit=2).splitlines()
    assert lines[-4:] == ["  newly failing (5 records):",
                          "    c0  torch.functional@cpu  float32: check output: pass -> fail (newly failing)",
                          "    c1  torch.functional@cpu  float32: check output: pass -> fail (newly failing)",
                          "    ... and 3 more"]
    ratio = diff(run(rec("u", ratio=0.01), rec("u", ratio=0.001, check="grad_input")),
                 run(rec("u", ratio=0.5), rec("u", ratio=0.2, check="grad_input")))
    assert format_text(ratio).splitlines()[-1] == ("  u  torch.functional@cpu  float32: checks grad_input, output: "
                                                   "pass, error ratio grad_input 0.001 -> 0.2, output 0.01 -> 0.5")


def test_diff_of_results_read_back_from_json(tmp_path):
    """Ratios written as 'inf' strings read back fine; the diff works on files."""
    base = run(rec("a", ratio=0.001), rec("b", "fail", ratio=float("inf")))
    new = run(rec("a", ratio=0.5), rec("b", ratio=0.2))
    d = diff(RunResults.read(base.write(tmp_path / "base.json")), RunResults.read(new.write(tmp_path / "new.json")))
    assert keys(d.fixes) == ["b"]
    assert keys(d.changes) == ["a"]
    assert d.to_dict()["counts"]["fixes"] == 1


# ------------------------------------------------------------------------- environments
def environment(*, tf="2.21.0", avx512f=True, onednn=True, started="2026-01-01T00:00:00", cache="/tmp/a",
                gpu=None) -> dict:
    """An environment shaped as a run records it (run/suite.py run_suite, hostinfo, the adapters)."""
    tensorflow = {"version": tf, "keras": "3.15.0", "onednn": {"enabled": onednn, "TF_ENABLE_ONEDNN_OPTS": None},
                  "threads": 0, "devices": ["cpu"] + (["gpu"] if gpu else [])}
    if gpu:
        tensorflow["gpu"] = gpu
    return {"host": {"python": "3.11.7", "machine": "x86_64", "cpu_count": 2,
                     "cpu": {"model": "AMD EPYC 7B13", "vendor": "AuthenticAMD",
                             "isa": {"avx2": True, "avx512f": avx512f, "amx_tile": False}}},
            "seed": 0, "started": started, "finished": started, "command": f"conformance run {cache}", "jobs": 2,
            "workers_started": {"tensorflow": 2},
            "frameworks": {"tensorflow": tensorflow,
                           "jax": {"version": "0.10.2",
                                   "compilation_cache": {"dir": cache, "min_compile_time_secs": 1}}}}


def test_environment_differences_most_important_first_and_noise_left_out():
    base = RunResults([rec("a")], environment=environment(tf="2.20.0", avx512f=True, onednn=True))
    new = RunResults([rec("a")], environment=environment(tf="2.21.0", avx512f=False, onednn=False,
                                                         started="2026-02-02T00:00:00", cache="/tmp/b",
                                                         gpu="NVIDIA H200"))
    d = diff(base, new)
    # started/finished/command/jobs and the JAX cache folder differ too, and are not listed
    assert [(c.group, c.key, c.old, c.new) for c in d.environment] == [
        ("versions", "frameworks.tensorflow.version", "2.20.0", "2.21.0"),
        ("cpu", "host.cpu.isa.avx512f", "true", "false"),
        ("onednn", "frameworks.tensorflow.onednn.enabled", "true", "false"),
        ("gpu", "frameworks.tensorflow.devices", '["cpu"]', '["cpu", "gpu"]'),
        ("gpu", "frameworks.tensorflow.gpu", "(not recorded)", "NVIDIA H200"),
    ]
    assert not d.has_regressions  # another environment alone is news, not a failure
    lines = format_text(d).splitlines()
    assert lines[:4] == [
        "baseline: tensorflow 2.20.0 (oneDNN on), jax 0.10.2; keras 3.15.0 on AMD EPYC 7B13 [avx2 avx512f]",
        "new:      tensorflow 2.21.0 (oneDNN off), jax 0.10.2; keras 3.15.0 on AMD EPYC 7B13 [avx2], gpu NVIDIA H200",
        "Environment differences (5):",
        "  versions  frameworks.tensorflow.version: 2.20.0 -> 2.21.0",
    ]
    assert lines.index("  cpu       host.cpu.isa.avx512f: true -> false") < lines.index(
        "0 regressions, 0 fixes, 0 other changes, 0 added, 0 removed, 1 unchanged")  # above the record changes
    data = d.to_dict()
    assert data["environment"][2] == {"key": "frameworks.tensorflow.onednn.enabled", "group": "onednn",
                                      "old": "true", "new": "false"}
    assert data["compared"]["new"].startswith("tensorflow 2.21.0 (oneDNN off)")
    assert data["counts"]["environment"] == 5


def cpu_only_run_environment(**torch_extra) -> dict:
    """The frameworks' sections as the adapters' `environment()` write them on a machine without a
    GPU (a real run's shape, trimmed): torch.onnx's static providers setting names the CUDA provider."""
    torch = {"version": "2.13.0+cpu", "cuda": None, "devices": ["cpu"], "keras": "3.15.1",
             "onnx": {"onnx": "1.23.2", "onnxscript": "0.7.2", "onnxruntime": "1.32.0", "opset": 20,
                      "providers": {"cpu": "CPUExecutionProvider", "gpu": "CUDAExecutionProvider, no CPU fallback"}},
             **torch_extra}
    tensorflow = {"version": "2.21.0", "keras": "3.15.1", "cuda": None, "devices": ["cpu"],
                  "onednn": {"enabled": False, "TF_ENABLE_ONEDNN_OPTS": "0"},
                  "litert": {"ai_edge_litert": "2.3.0", "interpreter": "ai_edge_litert.interpreter.Interpreter"}}
    return {"host": {"cpu": {"model": "AMD EPYC", "isa": {"avx2": True}}},
            "frameworks": {"torch": torch, "tensorflow": tensorflow,
                           "jax": {"version": "0.10.2", "jaxlib": "0.10.2", "flax": "0.12.8", "keras": "3.15.1",
                                   "devices": ["cpu"], "gpu": None, "device_kinds": ["cpu"]},
                           "tensorflow-onednn": {**copy.deepcopy(tensorflow), "onednn": {"enabled": True}},
                           "onnx": {"version": "1.23.2", "onnx": "1.23.2", "onnxruntime": "1.32.0", "devices": ["cpu"],
                                    "providers": ["AzureExecutionProvider", "CPUExecutionProvider"]}}}


def test_the_environment_line_names_every_deciding_version_and_no_gpu_it_did_not_see():
    line = describe_environment(cpu_only_run_environment())
    assert line == ("torch 2.13.0+cpu, tensorflow 2.21.0 (oneDNN off), jax 0.10.2, tensorflow-onednn 2.21.0 "
                    "(oneDNN on), onnx 1.23.2; ai-edge-litert 2.3.0, flax 0.12.8, keras 3.15.1, onnxruntime 1.32.0, "
                    "onnxscript 0.7.2 on AMD EPYC [avx2]")
    assert "gpu" not in line.lower() and "CUDA" not in line
    # A GPU is named where a framework saw one, whatever the static settings say; two versions of one
    # package (e.g. merged runs) are both named.
    env = cpu_only_run_environment(devices=["cpu", "gpu"], gpu="NVIDIA H100 80GB HBM3", cuda="12.8")
    env["frameworks"]["jax"].update(keras="3.14.1", jaxlib="0.10.1")
    assert describe_environment(env) == (
        "torch 2.13.0+cpu, tensorflow 2.21.0 (oneDNN off), jax 0.10.2, tensorflow-onednn 2.21.0 (oneDNN on), "
        "onnx 1.23.2; ai-edge-litert 2.3.0, flax 0.12.8, jaxlib 0.10.1, keras 3.15.1, keras 3.14.1, onnxruntime 1.32.0, "
        "onnxscript 0.7.2 on AMD EPYC [avx2], gpu NVIDIA H100 80GB HBM3")
    merged = {"merged_from": [cpu_only_run_environment(), env]}  # a CPU job and a GPU job
    assert describe_environment(merged).endswith(", gpu NVIDIA H100 80GB HBM3")


def test_package_versions_are_versions_among_the_environment_differences():
    old, new = cpu_only_run_environment(), cpu_only_run_environment()
    new["frameworks"]["torch"]["onnx"]["onnxruntime"] = "1.33.0"
    new["frameworks"]["tensorflow"]["litert"]["ai_edge_litert"] = "2.4.0"
    d = diff(RunResults([rec("a")], environment=old), RunResults([rec("a")], environment=new))
    assert [(c.group, c.key) for c in d.environment] == [
        ("versions", "frameworks.tensorflow.litert.ai_edge_litert"), ("versions", "frameworks.torch.onnx.onnxruntime")]
    assert "onnxruntime 1.33.0" in d.compared["new"] and "ai-edge-litert 2.4.0" in d.compared["new"]


def test_merged_environments_are_read_as_one():
    one = environment(cache="/tmp/shard1")
    merged = {"merged_from": [{"source": "r1.json", "shard": "1/2", **one},
                              {"source": "r2.json", "shard": "2/2", **environment(cache="/tmp/shard2")}]}
    d = diff(RunResults([rec("a")], environment=one), RunResults([rec("a")], environment=merged))
    # the inputs agree on everything but their shard; the source and the cache folders are noise
    assert [(c.key, c.old, c.new) for c in d.environment] == [("shard", "(not recorded)", "1/2 | 2/2")]
    assert d.compared["new"] == d.compared["baseline"]


# ------------------------------------------------------------------------- lost coverage
def test_framework_that_failed_to_start_is_lost_coverage_whatever_is_allowed():
    jax = [rec("a", api="jax.lax"), rec("a", api="flax.layer"), rec("b", api="jax.lax")]
    base = RunResults([rec("a"), *jax], environment={"frameworks": {"jax": {"version": "0.10.2"}}})
    reason = "ModuleNotFoundError: No module named 'jaxlib.xla_extension'"
    new = RunResults([rec("a")], environment={"frameworks": {"jax": {"error": reason}}},
                     skipped=[{"framework": "jax", "reason": f"failed to start: {reason}"}])
    for allow in ((), ("removed", "refusals", "known")):
        d = diff(base, new, allow=allow)
        assert [(x.subject, x.records) for x in d.lost] == [("jax", 3)]
        assert d.has_regressions and not d.regressions
        lines = format_text(d).splitlines()
        assert lines[0] == ("conformance: regression: jax ran in the baseline (3 records) but failed to start here: "
                            + reason)
        assert not any("--allow-removed if" in line for line in lines[:2])  # the removal is explained
        assert d.to_dict()["lost"][0]["reason"] == f"failed to start: {reason}"
    assert "new:      jax (failed to start) on an unrecorded CPU" in lines


def test_lost_coverage_from_the_environment_alone_and_skips_that_lose_nothing():
    base = RunResults([rec("a", api="jax.lax"), rec("a", device="gpu"), rec("a", api="keras.layer")])
    new = RunResults([rec("x")], environment={"frameworks": {"jax": {"error": "RuntimeError: no backend"}}},
                     skipped=[{"framework": "torch", "device": "gpu", "reason": "no gpu visible to torch"},
                              {"framework": "tensorflow", "target": "keras.layer",
                               "reason": "not installed (missing: keras)"},
                              {"framework": "tensorflow", "device": "gpu", "reason": "no gpu visible to tensorflow"}])
    d = diff(base, new, allow=["removed"])
    # tensorflow on gpu had no records in the baseline: nothing lost there
    assert [(x.subject, x.reason) for x in d.lost] == [
        ("torch on gpu", "no gpu visible to torch"), ("keras.layer", "not installed (missing: keras)"),
        ("jax", "failed to start: RuntimeError: no backend")]
    assert d.has_regressions
    assert format_text(d).splitlines()[1] == ("conformance: regression: keras.layer ran in the baseline (1 records) "
                                              "but was skipped here: not installed (missing: keras)")


def test_a_skip_made_up_for_by_records_is_not_lost_and_a_shard_that_failed_is():
    """A merged CPU job and GPU job: one skipped the GPU, the other ran it. Merged shards: the
    framework failed to start in one shard only, whose records are lost."""
    base = RunResults([rec("a", device="gpu")])
    new = RunResults([rec("a", device="gpu")], skipped=[{"framework": "torch", "device": "gpu", "reason": "no gpu"}])
    d = diff(base, new)
    assert not d.lost and not d.has_regressions
    base = RunResults([rec("a", api="jax.lax"), rec("b", api="jax.lax"), rec("c", api="jax.lax")])
    shards = {"merged_from": [{"frameworks": {"jax": {"version": "0.10.2"}}},
                              {"frameworks": {"jax": {"error": "ImportError: x"}}}]}
    new = RunResults([rec("a", api="jax.lax")], environment=shards,
                     skipped=[{"framework": "jax", "reason": "failed to start: ImportError: x"}])
    d = diff(base, new, allow=["removed"])
    assert [(x.subject, x.records) for x in d.lost] == [("jax", 2)] and d.has_regressions


def test_the_allow_options_help_names_every_category_it_takes():
    from conformance import options
    from conformance.results.diff import ALLOWABLE

    assert all(f"'{word}'" in options.ALLOW.help for word in ALLOWABLE)
    assert options.ALLOW.repeatable and options.GATE == (options.ALLOW, options.ALLOW_REMOVED)
