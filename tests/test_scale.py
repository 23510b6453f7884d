"""Scale: `--jobs` (concurrent workers) and `--shard I/N` + `conformance merge`, on the fake framework
of tests/fakefw.py. Nothing here is timed: speed is measured by `python -m benchmarks`."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fakefw
from conformance.errors import UsageError
from conformance.run import pool as pool_module
from conformance.run.messages import Request
from conformance.run.shard import assign, parse_shard, select_shard
from conformance.run.suite import units_for

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

# 12 cases: some slow (0.3 s each in the fake framework) so that work queues up, two dtypes on some,
# one failing case whose known difference lands in one shard only.
CASES = "cases:\n" + "".join(
    f"  - {{id: c{i:02d}, op: conv, input_shape: [1, 2, {4 + i % 3}], out_channels: 2, kernel_size: 2"
    + (", tags: [fake_slow]" if i % 4 == 0 else "")
    + (", dtypes: [float32, float64]" if i % 3 == 0 else "") + "}\n"
    for i in range(11)
) + "  - {id: z_wrong, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_wrong]}\n" \
  + "  - {id: z_set, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_set_message]}\n"

KNOWN = fakefw.known_differences("c0*")


def run_cli(cwd, *args, timeout=180):
    env = {**os.environ, **fakefw.environment_variables(TESTS)}
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def records(path):
    data = json.loads(Path(path).read_text())
    return {tuple(r[k] for k in ("case", "api", "dtype", "check")): {k: v for k, v in r.items() if k != "timings"}
            for r in data["results"]}, data


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale")
    (tmp / "cases.yaml").write_text(CASES)
    (tmp / "known.yaml").write_text(textwrap.dedent(KNOWN))
    return tmp


def run(library, name, *extra):
    proc = run_cli(library, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "known.yaml",
                   "--json", f"{name}.json", "--html", "", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return records(library / f"{name}.json")


@pytest.fixture(scope="module")
def whole(library):
    return run(library, "whole", "--jobs", "1")


# ------------------------------------------------------------------------- shards
@pytest.mark.parametrize("text, expected", [("1/1", (1, 1)), ("2/4", (2, 4)), (" 4 / 4 ", (4, 4))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "2", "a/b", "-1/2", "1/2/3", ""])
def test_parse_shard_refuses_what_is_not_a_shard(text):
    with pytest.raises(UsageError, match=r"allowed: I/N with 1 <= I <= N"):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 40])
def test_shards_are_disjoint_cover_everything_and_balanced(count):
    from conformance.spec.select import load_selected_cases

    cases = load_selected_cases([REPO / "cases"])
    parts = [select_shard(cases, (i, count)) for i in range(1, count + 1)]
    ids = [c.id for part in parts for c in part]
    assert sorted(ids) == sorted(c.id for c in cases) and len(set(ids)) == len(ids)
    loads = [sum(len(c.dtypes) for c in part) for part in parts]
    assert max(loads) - min(loads) <= max(len(c.dtypes) for c in cases)
    # each shard keeps the library's order
    order = {c.id: n for n, c in enumerate(cases)}
    assert all([order[c.id] for c in part] == sorted(order[c.id] for c in part) for part in parts)


def test_shard_assignment_ignores_input_order():
    items = [(f"case{i}", 1 + i % 3) for i in range(50)]
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    assert assign(items, 4) == assign(shuffled, 4)


def test_shard_assignment_is_the_same_in_every_process():
    """No salted hash, no machine state: another interpreter with another hash seed agrees."""
    code = ("from conformance.spec.select import load_selected_cases; from conformance.run.shard import select_shard; "
            f"cs = load_selected_cases([{str(REPO / 'cases')!r}]); "
            "print([c.id for c in select_shard(cs, (2, 3))])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outs) == 1 and len(next(iter(outs))) > 10


def test_shards_merge_into_the_whole_run(library, whole):
    whole_records, whole_data = whole
    parts = [run(library, f"shard{i}", "--shard", f"{i}/3", "--jobs", "2") for i in (1, 2, 3)]
    part_cases = [set(k[0] for k in recs) for recs, _ in parts]
    assert all(part_cases) and sum(map(len, part_cases)) == len(set().union(*part_cases)) == 13
    assert [data["environment"]["shard"] for _, data in parts] == ["1/3", "2/3", "3/3"]
    proc = run_cli(library, "merge", "shard1.json", "shard2.json", "shard3.json", "-o", "merged.json")
    assert proc.returncode == 0, proc.stderr
    merged, data = records(library / "merged.json")
    assert merged == whole_records
    assert data["cases"] == whole_data["cases"]
    assert data["skipped"] == whole_data["skipped"]
    assert "partial" not in data["environment"]
    # fake-first-element is stale in the shards without z_wrong and used in the one with it: the merge
    # drops it; fake-never is stale everywhere
    assert sum("fake-first-element" in [s["id"] for s in d["stale_known"]] for _, d in parts) == 2
    assert [s["id"] for s in data["stale_known"]] == [s["id"] for s in whole_data["stale_known"]] == ["fake-never"]
    # a missing shard makes the merge partial, and says which
    proc = run_cli(library, "merge", "shard1.json", "shard3.json", "-o", "part.json")
    assert proc.returncode == 0, proc.stderr
    assert "2/3" in json.loads((library / "part.json").read_text())["environment"]["partial"]


@pytest.mark.parametrize("args, expected", [
    (["--shard", "3/2"], "--shard '3/2' is not a shard; allowed: I/N with 1 <= I <= N"),
    (["--shard", "x"], "allowed: I/N with 1 <= I <= N"),
    (["--jobs", "0"], "--jobs must be a whole number of at least 1, got 0"),
    (["--jobs", "two"], "invalid int value"),
], ids=["shard-3-of-2", "shard-text", "jobs-0", "jobs-text"])
def test_bad_jobs_and_shards_exit_2(library, args, expected):
    proc = run_cli(library, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", *args)
    assert proc.returncode == 2
    assert expected in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------------- jobs
def test_same_records_in_every_run_even_framework_messages_that_print_sets(library, whole):
    """Workers run with a fixed hash seed: a set in a framework's message prints in the same order."""
    whole_records, _ = whole
    again, _ = run(library, "again", "--jobs", "1")
    message = whole_records[("z_set", "fakefw.layer", "float32", "output")]["message"]
    assert "{" in message and again == whole_records


def test_jobs_give_the_same_records_and_use_more_workers(library, whole):
    whole_records, whole_data = whole
    assert whole_data["environment"]["jobs"] == 1
    assert whole_data["environment"]["workers_started"] == {"fakefw": 1}
    recs, data = run(library, "jobs3", "--jobs", "3")
    assert recs == whole_records
    assert data["environment"]["jobs"] == 3
    # the slow cases queue up work: the pool starts more workers of the one framework, up to --jobs
    assert 2 <= data["environment"]["workers_started"]["fakefw"] <= 3


def test_pytest_jobs_and_shard_options(library):
    env = {**os.environ, **fakefw.environment_variables(TESTS)}
    base = [sys.executable, "-m", "pytest", "cases.yaml", "-q", "-p", "no:cacheprovider", "--conformance-frameworks",
            "fakefw", "--conformance-known", "known.yaml"]
    ran = []
    for i in (1, 2):
        proc = subprocess.run(base + ["--conformance-shard", f"{i}/2", "--conformance-jobs", "2", "--collect-only"],
                              cwd=library, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ran.append({line.split("[")[0] for line in proc.stdout.splitlines() if "::" in line})
    whole = subprocess.run(base + ["--collect-only"], cwd=library, env=env, capture_output=True, text=True, timeout=120)
    every = {line.split("[")[0] for line in whole.stdout.splitlines() if "::" in line}
    assert ran[0] and ran[1] and not ran[0] & ran[1] and ran[0] | ran[1] == every
    bad = subprocess.run(base + ["--conformance-shard", "0/2"], cwd=library, env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 4 and "allowed: I/N with 1 <= I <= N" in bad.stderr


# ------------------------------------------------------------------------- stopping workers
def _pool_with_fake_framework(monkeypatch, **kwargs):
    from conformance.run.pool import WorkerPool

    fakefw.enable(monkeypatch)  # read by the spawned workers
    return WorkerPool(["fakefw"], timeout=60, **kwargs)


def _case(case_id, tags=()):
    from conformance.spec.case import Case

    return Case.from_dict({"id": case_id, "op": "conv", "input_shape": [1, 1, 4], "out_channels": 1,
                           "kernel_size": 2, "tags": list(tags)})


def _request(request_id, case) -> Request:
    """A pool request for one float64 unit of `case` on the fake framework's functional API."""
    units = units_for("fakefw", [("fakefw.functional", "cpu", "defaults")], ["float64"])
    return Request(request_id, case.to_dict(), tuple(units), seed=0)


def test_retired_and_closed_workers_are_all_gone(monkeypatch):
    """Workers are asked to stop without waiting for each in turn; none is left running or unreaped."""
    pool = _pool_with_fake_framework(monkeypatch, jobs=2, retire_idle=True)
    spawn, processes = pool._spawn, []

    def spawn_and_keep(framework, threads=1):  # a retired worker that exited is reaped (and forgotten) at once
        w = spawn(framework, threads)
        processes.append(w.process)
        return w

    monkeypatch.setattr(pool, "_spawn", spawn_and_keep)
    pool.start()
    for i in range(4):
        pool.submit("fakefw", _request(i, _case(f"c{i}", ["fake_slow"])))
    while pool.pending:
        pool.collect(block=0.5)
    assert sorted(pool.done) == [0, 1, 2, 3] and all(not r.failures for r in pool.done.values())
    assert pool.spawned["fakefw"] == 2  # the second worker was started for the queued work
    scratch = Path(pool.scratch)
    assert len(list(scratch.glob("fakefw-*/kept"))) == 2  # each worker kept a file there
    assert len(list(scratch.glob("fakefw-cache/*"))) == 2  # and both used the one shared cache folder
    pool.close()
    assert len(processes) == 2 and not any(p.is_alive() for p in processes)
    assert all(p.exitcode == 0 for p in processes)  # they exited when asked, none was killed
    assert not scratch.exists()


def test_workers_share_the_cache_folder_they_are_given_and_leave_it_to_its_owner(monkeypatch, tmp_path):
    """Under pytest-xdist each xdist worker has its own pool; the controller gives them all one
    folder for the caches their framework workers share (JAX's compilation cache)."""
    pool = _pool_with_fake_framework(monkeypatch, jobs=1, shared_cache=str(tmp_path))
    pool.start()
    pool.close()
    assert [p.parent.name for p in tmp_path.glob("*/*")] == ["fakefw-cache"]
    assert tmp_path.exists()  # the pool removes its own scratch folder, not the caller's


def test_close_kills_a_worker_that_does_not_stop(monkeypatch):
    monkeypatch.setattr(pool_module, "STOP_GRACE", 0.5)
    pool = _pool_with_fake_framework(monkeypatch, jobs=1)
    pool.start()
    pool.submit("fakefw", _request("hang", _case("h", ["fake_hang"])))
    pool.collect(block=0.5)
    process = pool.workers[0].process
    scratch = Path(pool.scratch)
    assert process.is_alive() and list(scratch.glob("fakefw-*/kept"))
    pool.close()  # the worker sleeps in the case and never reads "stop"
    assert not process.is_alive() and process.exitcode != 0
    assert not scratch.exists()  # what the killed worker kept is gone too


@pytest.mark.parametrize("user_set", [None, "3"])
def test_workers_start_with_one_openmp_thread_unless_the_user_chose(monkeypatch, user_set):
    import os

    if user_set is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", user_set)
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    pool = _pool_with_fake_framework(monkeypatch, jobs=1)
    try:
        info = pool.start()["fakefw"]
    finally:
        pool.close()
    # the suite's own thread variable says one thread to the pools OpenMP does not set (spec/threads.py)
    assert info["environment"]["started_with"] == {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": user_set or "1",
                                                   "CONFORMANCE_WORKER_THREADS": "1"}
    assert os.environ.get("OMP_NUM_THREADS") == user_set and "PYTHONHASHSEED" not in os.environ  # parent unchanged
