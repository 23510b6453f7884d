"""conformance.diff: each category of change between two runs, built by hand."""
from __future__ import annotations

import pytest

from conformance.diff import Diff, diff, format_text
from conformance.results import Result, RunResults


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
    assert d.counts() == {"regressions": 0, "fixes": 0, "changes": 0, "added": 0, "removed": 0, "unchanged": 3}
    assert not d.has_regressions


@pytest.mark.parametrize("old, new", [("pass", "fail"), ("pass", "error"), ("pass", "crashed"),
                                      ("known", "fail"), ("unsupported", "fail"), ("unsupported", "error")])
def test_regression(old, new):
    d = diff(run(rec("a", old)), run(rec("a", new, message="got 3.0, expected 2.0")))
    assert keys(d.regressions) == ["a"]
    e = d.regressions[0]
    assert (e.old_status, e.new_status, e.reason) == (old, new, "status")
    assert e.message == "got 3.0, expected 2.0"
    assert d.has_regressions and not d.fixes and not d.changes


@pytest.mark.parametrize("old, new", [("fail", "pass"), ("error", "pass"), ("crashed", "known"), ("fail", "known")])
def test_fix(old, new):
    d = diff(run(rec("a", old)), run(rec("a", new)))
    assert keys(d.fixes) == ["a"]
    assert (d.fixes[0].old_status, d.fixes[0].new_status) == (old, new)
    assert not d.has_regressions and not d.changes


@pytest.mark.parametrize("old, new", [("pass", "unsupported"), ("pass", "known"), ("fail", "error"),
                                      ("fail", "unsupported"), ("known", "pass"), ("unsupported", "pass")])
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
    assert lines[0] == "2 regressions, 1 fixes, 1 other changes, 1 added, 0 removed, 0 unchanged"
    assert "Regressions:" in lines
    assert "  ok_then_bad  torch.functional@cpu  float32  output: pass -> fail: error 214x its bound at [0, 1]" in lines
    assert "  added_bad  torch.functional@cpu  float32  output: (absent) -> error: boom" in lines
    assert "  bad_then_ok  torch.functional@cpu  float32  output: fail -> pass" in lines
    assert "  x  torch.functional@gpu [strict]  float32  output: pass -> unsupported" in lines


def test_format_text_limit_and_empty():
    assert format_text(Diff()).splitlines() == ["0 regressions, 0 fixes, 0 other changes, 0 added, 0 removed, 0 unchanged"]
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
