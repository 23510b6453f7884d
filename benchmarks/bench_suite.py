"""Whole-suite wall time with one and two workers, and the peak memory of each run.

    python -m benchmarks.bench_suite [--quick] [--modes cli,pytest,floor] [--repeat N] [--json PATH]

Each run is a fresh subprocess, float32 and float64, every installed framework, CPU, every check:
- cli:    `conformance run --jobs 1` on one core vs `conformance run --jobs 2` on two (the main job),
          and `--jobs 1` free to use both cores;
- pytest: `pytest CASES --conformance-jobs 1` (one process) on one core vs `pytest CASES -n 2`
          (pytest-xdist) on two;
- floor:  the same for 22812 tests that do nothing, without this suite: what pytest and
          pytest-xdist themselves cost per item (`xdist_floor`).
The scaling ratio is wall(one worker, one core) / wall(two workers, two cores). "One core" is the
run's CPU affinity (inherited by its processes): a single worker left free on two cores already
keeps ~1.4 of them busy (the frameworks' own threads: BLAS, XLA's compiler), so `--jobs 1` alone
is not a one-core baseline; its time is reported too. JAX compiles with a cold cache (the runs get
CONFORMANCE_CACHE_DIR=none, and JAX_COMPILATION_CACHE_DIR is removed), as on a fresh CI machine. The
targets are the eager ones of the three frameworks (`EAGER`); benchmarks/bench_targets.py times the rest.

A shared virtual machine's speed drifts (here by up to 40% within an hour), which moves a ratio of
two runs taken minutes apart. `--repeat N` runs each scaling pair N times, alternating one worker
and two, and reports every pair's ratio and their median.

CPU: the user + system time of the run's whole process tree (every process is waited for), and
cores busy = CPU / wall. On a machine shared with other work a run gets fewer cores than it could
use; `load_average_after` shows it, and the CPU time, which does not depend on it, shows whether
two workers do more work than one (duplicate imports, contention) or only the same work sooner.

Memory: while a run goes, its whole process tree is sampled from /proc/PID/statm every 0.5 s (the
sampler costs well under 1% of a core): the peak of the tree's total private memory (RSS minus
resident shared pages, summed: what the run costs the machine, shared libraries aside), the peak
total RSS (shared pages counted in every process: an upper bound) and the largest single process.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

QUICK_CASES = ["cases/conv1d.yaml", "cases/seeds.yaml"]
# The eager targets of the three frameworks, which these benchmarks have always measured; the other
# paths are timed by benchmarks/bench_targets.py
EAGER = "torch.functional@*,torch.layer@*,tf.nn@*,keras.layer@*,jax.lax@*,flax.layer@*"
FULL_CASES = ["cases"]
FLOOR_ITEMS = 22812  # the conformance items of a full float32+float64 run on this machine's three frameworks
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read().decode(errors="replace")
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> list[int]:
    """pid and its descendants: from /proc/PID/task/PID/children where the kernel has it (cheap),
    else from a scan of every /proc/*/stat."""
    out, todo = [], [pid]
    try:
        while todo:
            p = todo.pop()
            out.append(p)
            # the main thread's children: every process of a run is started from a main thread
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        return out
    except FileNotFoundError:
        if out and not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
            tree, out, todo = _children(), [], [pid]
            while todo:
                p = todo.pop()
                out.append(p)
                todo.extend(tree.get(p, []))
        return out
    except (OSError, ValueError):  # a process ended while we looked
        return out


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, private RSS) of a process in bytes (private: RSS minus resident shared pages, from
    /proc/PID/statm, which is cheap; smaps_rollup's PSS costs ~20 ms a process here); zeros if gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            fields = f.read().split()
        rss, shared = int(fields[1]) * PAGE, int(fields[2]) * PAGE
        return rss, rss - shared
    except (OSError, ValueError, IndexError):
        return 0, 0


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return ""


class Sampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_private = self.peak_rss = self.peak_single = 0
        self.peak_single_name = ""
        self.peak_processes = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pids = _descendants(self.pid)
            total_rss = total_private = 0
            for p in pids:
                rss, private = _memory(p)
                total_rss += rss
                total_private += private
                if rss > self.peak_single:
                    self.peak_single, self.peak_single_name = rss, _name(p)
            self.peak_rss = max(self.peak_rss, total_rss)
            self.peak_private = max(self.peak_private, total_private)
            self.peak_processes = max(self.peak_processes, len(pids))
            self.stop.wait(self.every)


def _one_core() -> None:
    """Runs in the child before exec: this process and every process it starts get one CPU."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def timed_run(name: str, command: list[str], log_dir: Path, one_core: bool = False) -> dict:
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["CONFORMANCE_CACHE_DIR"] = "none"  # the compilers' caches: a fresh folder of the run's own
    log = log_dir / f"{name}.log"
    print(f"  running {name}: {' '.join(command)}", file=sys.stderr, flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_one_core if one_core else None)
        sampler = Sampler(proc.pid)
        sampler.start()
        code = proc.wait()
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
    return {"name": name, "command": " ".join(command), "exit_code": code, "wall_s": wall,
            "cpu_s": cpu, "cores_busy": cpu / wall, "load_average_after": os.getloadavg()[0],
            "peak_private_bytes": sampler.peak_private, "peak_rss_total_bytes": sampler.peak_rss,
            "peak_single_rss_bytes": sampler.peak_single, "peak_single_process": sampler.peak_single_name,
            "peak_processes": sampler.peak_processes, "one_core": one_core, "log": str(log), "log_tail": tail}


MODES = ("cli", "pytest", "floor")


def measure(quick: bool, modes=MODES, out_dir: Path = Path("reports/benchmarks"), repeat: int = 1) -> dict:
    """`runs` holds the first round's runs; with `repeat` > 1, `<mode>_pairs` holds every round's
    (one worker, two workers) wall times and ratio, and `<mode>_scaling` is the median ratio."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = QUICK_CASES if quick else FULL_CASES
    py = sys.executable
    runs, pairs = {}, {}

    def cli(name, jobs, one_core):
        return timed_run(name, [py, "-m", "conformance", "run", "--cases", *cases, "--dtypes", "float32,float64",
                                "--targets", EAGER,
                                "--jobs", str(jobs), "--json", str(out_dir / f"{name.replace('_', '-')}.json"),
                                "--html", "", "--no-progress"], out_dir, one_core)

    common = [py, "-m", "pytest", *cases, "-q", "-p", "no:cacheprovider", "--conformance-dtypes", "float32,float64",
              "--conformance-targets", EAGER]
    scaling_pairs = {  # each takes the round's suffix, so that every run keeps its own log
        "cli": (lambda r: cli(f"cli_1core{r}", 1, True), lambda r: cli(f"cli_jobs2{r}", 2, False)),
        "pytest": (lambda r: timed_run(f"pytest_1core{r}", common + ["--conformance-jobs", "1"], out_dir, True),
                   lambda r: timed_run(f"pytest_n2{r}", common + ["-n", "2"], out_dir)),
    }
    for mode, (one, two) in scaling_pairs.items():
        if mode not in modes:
            continue
        for round_ in range(repeat):
            suffix = f"_round{round_ + 1}" if round_ else ""
            a, b = one(suffix), two(suffix)
            if round_ == 0:
                runs[a["name"]], runs[b["name"]] = a, b
                if mode == "cli":  # --jobs 1 free to use both cores: for its time and identical records
                    runs["cli_jobs1"] = cli("cli_jobs1", 1, False)
            pairs.setdefault(mode, []).append(_pair(a, b))
    if "floor" in modes:
        runs.update(xdist_floor(FLOOR_ITEMS, out_dir))
        pairs["floor"] = [_pair(runs["floor_1core"], runs["floor_n2"])]
    result = {"quick": quick, "cases": cases, "runs": runs}
    for mode, rounds in pairs.items():
        result[f"{mode}_scaling"] = statistics.median(p["scaling"] for p in rounds)
        if len(rounds) > 1:
            result[f"{mode}_pairs"] = rounds
    if "cli_jobs1" in runs and "cli_jobs2" in runs:
        result["identical_results"] = _same_records(out_dir / "cli-jobs1.json", out_dir / "cli-jobs2.json")
    return result


def _pair(one: dict, two: dict) -> dict:
    """One scaling pair: the wall times of the one-worker and the two-worker run, and their ratio."""
    return {"one_s": one["wall_s"], "two_s": two["wall_s"], "scaling": one["wall_s"] / two["wall_s"]}


def xdist_floor(items: int, out_dir: Path) -> dict:
    """pytest's and pytest-xdist's own cost, without this suite: `items` tests that do nothing (the
    number of conformance items of a full float32+float64 run), one process on one core against
    `-n 2` on two cores. Whatever xdist costs per item here, the conformance run pays too."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="conformance-floor-") as tmp:
        test = Path(tmp) / "test_floor.py"
        test.write_text(f"import pytest\n\n\n@pytest.mark.parametrize('i', range({items}))\n"
                        "def test_nothing(i):\n    pass\n", encoding="utf-8")
        common = [sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider", "-p", "no:conformance",
                  "--rootdir", tmp]
        return {"floor_1core": timed_run("floor_1core", common, out_dir, True),
                "floor_n2": timed_run("floor_n2", common + ["-n", "2"], out_dir)}


def _same_records(a: Path, b: Path) -> dict | None:
    """Whether two runs gave the same records, timings aside. A `known` record is the framework's own
    wrong answer, and some are not even deterministic (XLA:CPU's out-of-bounds read returns whatever
    memory holds: cases/known_differences.yaml), so for those only the status must agree; every other
    record must be equal field by field."""
    try:
        ra, rb = (json.loads(p.read_text(encoding="utf-8"))["results"] for p in (a, b))
    except (OSError, ValueError, KeyError):
        return None
    key = lambda r: tuple(r.get(k) for k in ("case", "framework", "api", "device", "precision", "dtype", "check"))  # noqa: E731
    strip = lambda r: {k: v for k, v in r.items() if k != "timings"}  # noqa: E731
    by_key = {key(r): r for r in rb}
    same, known_values_differ = len(ra) == len(rb), 0
    for r in ra:
        other = by_key.get(key(r))
        if other is None or other["status"] != r["status"]:
            same = False
        elif strip(other) != strip(r):
            if r["status"] == "known":
                known_values_differ += 1
            else:
                same = False
    return {"identical": same, "known_values_differ": known_values_differ, "records": len(ra)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {' '.join(QUICK_CASES)}, not the whole library")
    parser.add_argument("--modes", default=",".join(MODES), help=f"{','.join(MODES)} (default: all)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run each scaling pair N times, alternating; the ratio is the median (default: 1)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    result = measure(args.quick, tuple(m.strip() for m in args.modes.split(",")), repeat=max(1, args.repeat))
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
