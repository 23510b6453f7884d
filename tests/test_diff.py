"""conformance.results.diff: each category of change between two runs, built by hand."""
from __future__ import annotations

import pytest

from conformance.results.diff import Diff, diff, format_text
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
    assert d.counts() == {"regressions": 0, "fixes": 0, "changes": 0, "added": 0, "removed": 0, "unchanged": 3,
                          "lost": 0, "environment": 0}
    assert not d.has_regressions


@pytest.mark.parametrize("old, new", [("pass", "fail"), ("pass", "error"), ("pass", "crashed"), ("pass", "flaky"),
                                      ("known", "fail"), ("known", "flaky"), ("unsupported", "fail"),
                                      ("unsupported", "error")])
def test_regression(old, new):
    d = diff(run(rec("a", old)), run(rec("a", new, message="got 3.0, expected 2.0")))
    assert keys(d.regressions) == ["a"]
    e = d.regressions[0]
    assert (e.old_status, e.new_status, e.reason) == (old, new, "status")
    assert e.message == "got 3.0, expected 2.0"
    assert d.has_regressions and not d.fixes and not d.changes


@pytest.mark.parametrize("old, new", [("fail", "pass"), ("error", "pass"), ("crashed", "known"), ("fail", "known"),
                                      ("flaky", "pass"), ("known", "pass")])
def test_fix(old, new):
    d = diff(run(rec("a", old)), run(rec("a", new)))
    assert keys(d.fixes) == ["a"]
    assert (d.fixes[0].old_status, d.fixes[0].new_status) == (old, new)
    assert not d.has_regressions and not d.changes


@pytest.mark.parametrize("old, new", [("pass", "unsupported"), ("pass", "known"), ("fail", "error"),
                                      ("fail", "flaky"), ("fail", "unsupported"), ("unsupported", "pass"),
                                      ("known", "unsupported")])
def test_other_status_change(old, new):
    d = diff(run(rec("a", old)), run(rec("a", new)))
    assert keys(d.changes) == ["a"]
    assert d.changes[0].reason == "status"
    assert not d.regressions and not d.fixes


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
                        "pass --allow-removed if cases or targets were removed on purpose")
    assert "  torch.functional@cpu: 2 records of 2 cases" in lines
    allowed = diff(base, new, allow_removed=True)
    assert keys(allowed.removed) == ["gone", "gone_too"] and not allowed.has_regressions
    text = format_text(allowed)
    assert "conformance: regression" not in text and "as --allow-removed says" in text
    assert allowed.to_dict()["failed"] is False and allowed.to_dict()["allow_removed"] is True


def test_new_failing_record_is_a_regression():
    d = diff(run(rec("kept")), run(rec("kept"), rec("brand_new", "crashed", message="worker died")))
    assert keys(d.added) == ["brand_new"]
    assert keys(d.regressions) == ["brand_new"]
    e = d.regressions[0]
    assert (e.old_status, e.new_status, e.reason) == (None, "crashed", "added")
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
    assert lines[:4] == ["baseline: no framework on an unrecorded CPU", "new:      no framework on an unrecorded CPU",
                         "environment: no differences",
                         "2 regressions, 1 fixes, 1 other changes, 1 added, 0 removed, 0 unchanged"]
    assert "Regressions:" in lines
    assert "  ok_then_bad  torch.functional@cpu  float32  output: pass -> fail: error 214x its bound at [0, 1]" in lines
    assert "  added_bad  torch.functional@cpu  float32  output: (absent) -> error: boom" in lines
    assert "  bad_then_ok  torch.functional@cpu  float32  output: fail -> pass" in lines
    assert "  x  torch.functional@gpu [strict]  float32  output: pass -> unsupported" in lines


def test_format_text_limit_and_empty():
    empty = format_text(Diff()).splitlines()
    assert empty[-1] == "0 regressions, 0 fixes, 0 other changes, 0 added, 0 removed, 0 unchanged"
    d = diff(run(*[rec(f"c{i}") for i in range(5)]), run(*[rec(f"c{i}", "fail") for i in range(5)]))
    text = format_text(d, limit=2)
    assert "  ... and 3 more" in text.splitlines()


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
    """An environment shaped as a run records it (runner.run_suite, hostinfo, the adapters)."""
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
        "baseline: tensorflow 2.20.0 (oneDNN on), jax 0.10.2 on AMD EPYC 7B13 [avx2 avx512f]",
        "new:      tensorflow 2.21.0 (oneDNN off), jax 0.10.2 on AMD EPYC 7B13 [avx2], gpu NVIDIA H200",
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


def test_merged_environments_are_read_as_one():
    one = environment(cache="/tmp/shard1")
    merged = {"merged_from": [{"source": "r1.json", "shard": "1/2", **one},
                              {"source": "r2.json", "shard": "2/2", **environment(cache="/tmp/shard2")}]}
    d = diff(RunResults([rec("a")], environment=one), RunResults([rec("a")], environment=merged))
    # the inputs agree on everything but their shard; the source and the cache folders are noise
    assert [(c.key, c.old, c.new) for c in d.environment] == [("shard", "(not recorded)", "1/2 | 2/2")]
    assert d.compared["new"] == d.compared["baseline"]


# ------------------------------------------------------------------------- lost coverage
def test_framework_that_failed_to_start_is_lost_coverage_even_with_allow_removed():
    jax = [rec("a", api="jax.lax"), rec("a", api="flax.layer"), rec("b", api="jax.lax")]
    base = RunResults([rec("a"), *jax], environment={"frameworks": {"jax": {"version": "0.10.2"}}})
    reason = "ModuleNotFoundError: No module named 'jaxlib.xla_extension'"
    new = RunResults([rec("a")], environment={"frameworks": {"jax": {"error": reason}}},
                     skipped=[{"framework": "jax", "reason": f"failed to start: {reason}"}])
    for allow_removed in (False, True):
        d = diff(base, new, allow_removed=allow_removed)
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
    d = diff(base, new, allow_removed=True)
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
    d = diff(base, new, allow_removed=True)
    assert [(x.subject, x.records) for x in d.lost] == [("jax", 2)] and d.has_regressions
