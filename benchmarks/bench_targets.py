"""Whole-library wall time per group of targets, with the compilers' caches cold and then warm.

    python -m benchmarks.bench_targets [--groups eager,all] [--cases PATH ...] [--json PATH]

Each group is `conformance run --targets GLOBS` in a fresh subprocess with every core (`--jobs`
default), every check, each case's own dtypes:
- cold: a new, empty `--cache-dir` (Inductor's FX-graph/AOTAutograd/kernel caches and JAX's
  compilation cache start empty, as on a fresh CI machine);
- warm: the same run again with the cache the cold run filled (as on the next CI run, or after a
  change to the case library only).
A cold run can only come first, so the pair is sequential, not alternating: the load average after
each run is recorded to show whether the machine was busy.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_suite import EAGER

# name -> --targets globs. `eager` is what the suite ran before the compiled and exported paths.
GROUPS = {
    "eager": EAGER,
    # the eager targets and the compiled and kernel-switch paths of the same frameworks: no exporter,
    # converter or other runtime
    "compiled": EAGER + ",torch.compile*,torch.channels_last*,torch.no_mkldnn*,tf.xla*,keras.xla*,tf.onednn*,keras.onednn*",
    "all": "*",
}


def run_group(name: str, globs: str, cases, cache: str, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "conformance", "run", "--no-progress", "--targets", globs,
               "--cache-dir", cache, "--json", str(out / f"{name}.json"), "--html", str(out / f"{name}.html"),
               "--cases", *cases]
    start = time.perf_counter()
    before = os.times()
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    after = os.times()
    wall = time.perf_counter() - start
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    summary = [line for line in proc.stdout.splitlines() if line.split(" ", 1)[0].isdigit() and " results:" in line]
    return {"group": name, "targets": globs, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "exit_code": proc.returncode, "summary": summary[-1] if summary else proc.stdout[-400:],
            "load_average_after": os.getloadavg()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_targets", description=__doc__.splitlines()[0])
    p.add_argument("--groups", default="eager,all", help=f"comma-separated, of: {', '.join(GROUPS)}")
    p.add_argument("--cases", nargs="+", default=["cases"])
    p.add_argument("--json", default="reports/benchmarks-targets.json")
    args = p.parse_args(argv)
    rows = []
    out = Path("reports/benchmarks")
    for name in [g for g in args.groups.split(",") if g]:
        with tempfile.TemporaryDirectory(prefix="conformance-bench-cache-") as cache:
            for state in ("cold", "warm"):
                row = {"cache": state, **run_group(f"{name}-{state}", GROUPS[name], args.cases, cache, out)}
                rows.append(row)
                print(f"| {name} | {state} | {row['wall_s']:.0f} s | {row['cpu_s']:.0f} s | {row['exit_code']} | "
                      f"{row['summary']} |", flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"runs": rows, "cores": len(os.sched_getaffinity(0))}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
