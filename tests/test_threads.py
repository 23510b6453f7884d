"""Threads (issue 23): a case with `threads: [1, all]` runs each unit in a worker at one thread and in
one started with os.cpu_count() threads; each record says which; a verdict that differs between the
two is `flaky`; the thread count reaches the framework in its worker. The runs use the fake framework
of tests/fakefw.py, whose `fake_wrong_with_threads` tag gets the first output element wrong in a
worker with more than one thread."""
from __future__ import annotations

import importlib.util
import json
import os

import pytest

import fakefw
from conformance.errors import CaseError
from conformance.results.diff import diff, format_key
from conformance.results.records import Result, RunResults
from conformance.run.pool import WorkerPool
from conformance.run.thread_verdicts import compare_thread_counts
from conformance.run.worker_process import THREADS_VARIABLE, worker_variables
from conformance.spec.case import Case
from conformance.spec.threads import thread_counts
from test_retries import TESTS, case_line, run

CORES = os.cpu_count() or 1
needs_cores = pytest.mark.skipif(CORES < 2, reason="one core: 'all' threads is one thread")
BASE = {"id": "t", "op": "conv", "input_shape": [1, 1, 4], "out_channels": 1, "kernel_size": 2}


# ------------------------------------------------------------------------- the case field
def test_threads_default_to_one_and_resolve_per_machine():
    assert Case.from_dict(BASE).threads == (1,)
    case = Case.from_dict({**BASE, "threads": [1, "all"]})
    assert case.threads == (1, "all")
    assert thread_counts(case, cores=8) == [1, 8]
    assert thread_counts(case, cores=1) == [1]  # on one core, 'all' is the same worker
    assert thread_counts(Case.from_dict({**BASE, "threads": ["all"]}), cores=4) == [4]
    assert Case.from_dict(case.to_dict()) == case and "threads" not in Case.from_dict(BASE).to_dict()


@pytest.mark.parametrize("value, says", [([2], "unknown thread setting 2"), ([], "expected a non-empty list"),
                                         (["all", "all"], "listed twice"), ([True], "unknown thread setting True")])
def test_a_bad_threads_value_names_the_field_and_what_is_allowed(value, says):
    with pytest.raises(CaseError) as err:
        Case.from_dict({**BASE, "threads": value})
    text = str(err.value)
    assert "field 'threads'" in text and says in text and "1 and 'all'" in text


# ------------------------------------------------------------------------- verdicts
def _record(threads, status, check="output", message=""):
    return Result(case="c", framework="f", api="f.functional", device="cpu", dtype="float32", check=check,
                  status=status, message=message, threads=threads)


def test_differing_statuses_are_flaky_at_every_count_and_named():
    one = [_record(1, "pass"), _record(1, "pass", "grad_input")]
    many = [_record(4, "fail", message="worst element 1.0 off"), _record(4, "pass", "grad_input")]
    out = compare_thread_counts({4: many, 1: one})
    assert [(r.threads, r.check, r.status) for r in out] == [
        (1, "output", "flaky"), (1, "grad_input", "pass"), (4, "output", "flaky"), (4, "grad_input", "pass")]
    assert out[0].message == "flaky: the verdict depends on the thread count (pass at 1 thread, fail at 4 threads); " \
                             "at 1 thread"
    assert out[2].message.endswith("at 4 threads: worst element 1.0 off")


def test_records_at_two_thread_counts_are_distinct_keys_in_the_gate():
    base = RunResults(results=[_record(1, "pass"), _record(2, "pass")])
    new = RunResults(results=[_record(1, "pass"), _record(2, "fail")])
    out = diff(base, new)
    assert [format_key(e.key) for e in out.regressions] == ["c  f.functional@cpu  float32 [2 threads]  output"]
    assert out.unchanged == 1
    # a results file written before thread counts were recorded reads as one thread
    assert Result.from_dict({k: v for k, v in _record(1, "pass").to_dict().items() if k != "threads"}).key == \
        _record(1, "pass").key


# ------------------------------------------------------------------------- a run
@pytest.fixture(scope="module")
def threads_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("threads")
    cases = (case_line("a_threads", extra=", threads: [1, all]")
             + case_line("b_race", "fake_wrong_with_threads", extra=", threads: [1, all]")
             + case_line("c_plain", "fake_wrong_with_threads"))
    (tmp / "cases.yaml").write_text("cases:\n" + cases)
    proc, _, data = run(tmp, cases)
    return proc, RunResults.read(tmp / "r.json").results, data


@needs_cores
def test_a_threads_case_has_records_at_one_thread_and_at_every_core(threads_run):
    proc, records, data = threads_run
    a = [r for r in records if r.case == "a_threads"]
    assert sorted({r.threads for r in a}) == [1, CORES]
    assert len([r for r in a if r.threads == 1]) == len([r for r in a if r.threads == CORES]) == 12  # 5 + 7 checks
    assert {r.status for r in a} == {"pass"}
    assert data["environment"]["threads"] == [1, CORES]
    assert all(r["threads"] in (1, CORES) for r in data["results"])  # written on every record
    # the rest of the suite keeps one thread, and its one-thread records are not compared with anything
    assert {(r.threads, r.status) for r in records if r.case == "c_plain"} == {(1, "pass")}


@needs_cores
def test_a_verdict_that_depends_on_the_thread_count_is_flaky(threads_run):
    proc, records, data = threads_run
    assert proc.returncode == 1
    b = {(r.api, r.threads, r.check): r for r in records if r.case == "b_race"}
    for api in ("fakefw.functional", "fakefw.layer"):
        for n in (1, CORES):
            r = b[(api, n, "output")]
            assert r.status == "flaky"
            assert f"(pass at 1 thread, fail at {CORES} threads)" in r.message
        assert b[(api, 1, "grad_input")].status == b[(api, CORES, "grad_input")].status == "pass"
    assert data["summary"]["by_status"]["flaky"] == 4


# ------------------------------------------------------------------------- the count reaches the framework
def test_worker_variables_at_one_thread_leave_a_users_setting_and_force_a_count(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    with worker_variables(1):
        assert os.environ["OMP_NUM_THREADS"] == "3" and os.environ[THREADS_VARIABLE] == "1"
        assert "--xla_cpu_multi_thread_eigen=false" in os.environ["XLA_FLAGS"]
    with worker_variables(5):
        assert os.environ["OMP_NUM_THREADS"] == os.environ[THREADS_VARIABLE] == "5"
    assert os.environ["OMP_NUM_THREADS"] == "3" and THREADS_VARIABLE not in os.environ


def _hello(framework, threads, monkeypatch):
    """The environment a worker of `framework` started at `threads` reports in its hello."""
    fakefw.enable(monkeypatch, TESTS)
    pool = WorkerPool([framework], timeout=300)
    try:
        w = pool._spawn(framework, threads)
        pool._handshake(w)
        assert w.info is not None, w.fatal
        return w.info["environment"]
    finally:
        pool.close()


def test_the_fake_worker_starts_with_its_thread_count(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = _hello("fakefw", 3, monkeypatch)
    assert env["started_with"]["OMP_NUM_THREADS"] == env["started_with"][THREADS_VARIABLE] == "3"
    assert env["variables"]["OMP_NUM_THREADS"] == "3"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_in_its_worker_runs_at_the_workers_thread_count(monkeypatch):
    assert _hello("torch", 3, monkeypatch)["threads"] == 3  # torch.get_num_threads() in the worker
    assert _hello("torch", 1, monkeypatch)["threads"] == 1


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tensorflow is not installed")
def test_tensorflow_in_its_worker_runs_at_the_workers_thread_count(monkeypatch):
    env = _hello("tensorflow", 3, monkeypatch)
    assert env["threads"] == 3  # tf.config.threading.get_intra_op_parallelism_threads() in the worker
    assert env["litert"]["num_threads"] == 3
    assert json.loads(json.dumps(env))["variables"]["OMP_NUM_THREADS"] == "3"


def test_reports_show_the_thread_count_of_a_record():
    from conformance.report.porting import porting_view
    from conformance.report.text import unexpected_lines

    records = [_record(1, "pass"), _record(8, "fail", message="worst element 1.0 off")]
    view = porting_view(records, "c")
    assert "f.functional@cpu:8threads" in view and "\nf.functional@cpu " in view
    assert unexpected_lines([records[1]])[0].startswith("  FAIL     c [f.functional@cpu defaults float32 8 threads output]")
