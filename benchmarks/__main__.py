"""Every benchmark of issue 6, one command; prints a table (Markdown) and writes the JSON.

    python -m benchmarks                 the whole library (about 20 minutes on 2 cores)
    python -m benchmarks --quick         samples: the issue's oracle shape, 40 cases per framework,
                                         2 case files for the suite runs (a few minutes)
    python -m benchmarks --only oracle,overhead,jax,suite   [--suite-modes cli,pytest,floor]
                         [--suite-repeat N] [--json PATH]

Parts: oracle (benchmarks/bench_oracle.py), overhead and jax (benchmarks/bench_frameworks.py, one
process per framework), suite: wall time with 1 and 2 workers and peak memory
(benchmarks/bench_suite.py). Default JSON: reports/benchmarks.json. Timings are measurements of the
machine they ran on; nothing here is asserted in a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_suite import FLOOR_ITEMS, MODES  # light: no framework, no conformance import

PARTS = ("oracle", "overhead", "jax", "suite")


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    mem = 0
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    versions = {}
    for dist in ("numpy", "torch", "tensorflow-cpu", "keras", "jax", "jaxlib", "flax"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:  # not installed
            pass
    return {"cpu": model, "cores": cores, "memory_gib": round(mem / 2**30, 1), "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions,
            "load_average_at_start": os.getloadavg()}


def framework_part(framework: str, limit: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.json"
        command = [sys.executable, "-m", "benchmarks.bench_frameworks", framework, "--json", str(path)]
        if limit:
            command += ["--limit", str(limit)]
        print(f"  measuring {framework}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
        proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            return {"framework": framework, "error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
        return json.loads(path.read_text(encoding="utf-8"))


def installed(framework: str) -> bool:
    from conformance import adapters

    return adapters.installed(framework)


def run(parts, quick: bool, suite_modes, suite_repeat: int = 1) -> dict:
    result = {"machine": machine(), "quick": quick, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if "oracle" in parts:
        from benchmarks import bench_oracle

        print("oracle ...", file=sys.stderr, flush=True)
        result["oracle"] = {"large": bench_oracle.large_shapes(3 if quick else 7, quick),
                            "library": bench_oracle.library_cases(60 if quick else None)}
    if "overhead" in parts or "jax" in parts:
        result["frameworks"] = {}
        wanted = [fw for fw in ("torch", "tensorflow", "jax")
                  if installed(fw) and ("overhead" in parts or fw == "jax")]
        for fw in wanted:
            result["frameworks"][fw] = framework_part(fw, 40 if quick else None)
    if "suite" in parts:
        from benchmarks import bench_suite

        print("suite runs ...", file=sys.stderr, flush=True)
        result["suite"] = bench_suite.measure(quick, suite_modes, repeat=suite_repeat)
    return result


def _ms(s):
    return f"{s * 1e3:.1f} ms"


def _gib(b):
    return f"{b / 2**30:.2f} GiB"


def table(r: dict) -> str:
    rows = []
    m = r["machine"]
    if "oracle" in r:
        for row in r["oracle"]["large"]:
            if "ratio_forward" in row:
                rows.append((f"oracle / torch float64, {row['case']} {row['input']} x {row['weight']}: forward",
                             f"{_ms(row['oracle_forward_s'])} / {_ms(row['torch_forward_s'])} = {row['ratio_forward']:.2f}",
                             "<= 1" if row["case"] == "issue_target" else "-",
                             _met(row["ratio_forward"] <= 1) if row["case"] == "issue_target" else ""))
                rows.append((f"oracle / torch float64, {row['case']}: gradients (input, weight, bias)",
                             f"{_ms(row['oracle_gradients_s'])} / {_ms(row['torch_gradients_s'])} = {row['ratio_gradients']:.2f}",
                             "<= 1" if row["case"] == "issue_target" else "-",
                             _met(row["ratio_gradients"] <= 1) if row["case"] == "issue_target" else ""))
        lib = r["oracle"]["library"]
        rows.append((f"oracle per library case, forward + gradients ({lib['cases']} cases)",
                     f"mean {_ms(lib['mean_s'])}, p95 {_ms(lib['p95_s'])}, max {_ms(lib['max_s'])}",
                     "< 1 ms", _met(lib["mean_s"] < 1e-3) + f" ({lib['under_1ms']}/{lib['cases']} under 1 ms)"))
    for fw, d in r.get("frameworks", {}).items():
        if "error" in d:
            rows.append((f"{fw}", f"benchmark failed: {d['error']}", "", ""))
            continue
        for api, t in d["targets"].items():
            limit = 1.5 if fw in ("torch", "tensorflow") else None
            rows.append((f"harness overhead {api}: ours / bare framework call ({t['units']} units)",
                         f"{t['ms_per_unit_ours']:.1f} / {t['ms_per_unit_bare']:.1f} ms = {t['ratio']:.2f}",
                         f"<= {limit}" if limit else "-", _met(t["ratio"] <= limit) if limit else ""))
        if "jax" in d:
            j = d["jax"]
            hist = ", ".join(f"{n} compilation{'s' if int(n) != 1 else ''}: {c}" for n, c in
                             j["compilations_histogram"].items())
            ones = all(int(n) <= 1 for n in j["compilations_histogram"])
            rows.append((f"JAX compilations per (case, dtype, device), forward + gradients, both targets "
                         f"({j['case_dtype_device']})", hist, "1", _met(ones)))
            rows.append(("JAX compile time / JAX run time", f"{j['compile_s']:.1f} s / {j['jax_evaluate_s']:.1f} s "
                         f"= {j['compile_share']:.0%} ({j['cache_hits']} of {j['requests']} requests served by the "
                         f"cache)", "-", ""))
        rows.append((f"{fw} import (once per worker)", f"{d['import_s']:.1f} s", "-", ""))
    s = r.get("suite")
    if s:
        what = "sample " + " ".join(s["cases"]) if s["quick"] else "whole default library"
        for key, label in (("cli_1core", "conformance run --jobs 1, one core"),
                           ("cli_jobs1", "conformance run --jobs 1, free to use both cores"),
                           ("cli_jobs2", "conformance run --jobs 2, two cores"),
                           ("pytest_1core", "pytest, one process (--conformance-jobs 1), one core"),
                           ("pytest_n2", "pytest -n 2, two cores"),
                           ("floor_1core", "pytest alone, one process, one core"),
                           ("floor_n2", "pytest alone, -n 2, two cores")):
            if key in s["runs"]:
                run = s["runs"][key]
                target = "<= 180 s" if key in ("cli_jobs2", "pytest_n2") and not s["quick"] else "-"
                met = _met(run["wall_s"] <= 180) if target != "-" else ""
                if key.startswith("floor"):  # no conformance work: the per-item cost of pytest and xdist
                    what_ran = f"{FLOOR_ITEMS} tests that do nothing, no conformance plugin"
                else:
                    what_ran = f"{what}, float32+float64"
                rows.append((f"{label}, {what_ran}",
                             f"{run['wall_s']:.0f} s wall, {run['cpu_s']:.0f} s CPU ({run['cores_busy']:.2f} cores busy; "
                             f"load average after {run['load_average_after']:.1f}; exit {run['exit_code']})",
                             target, met))
                rows.append((f"peak memory of that run ({run['peak_processes']} processes)",
                             f"private {_gib(run['peak_private_bytes'])} (RSS sum {_gib(run['peak_rss_total_bytes'])}, "
                             f"largest process {_gib(run['peak_single_rss_bytes'])})", "-", ""))
        for mode in ("cli", "pytest"):
            if f"{mode}_scaling" in s:
                measured = f"{s[f'{mode}_scaling']:.2f}x"
                if f"{mode}_pairs" in s:  # repeated, alternating: the median, then each round
                    measured = f"median {measured} of " + ", ".join(
                        f"{p['one_s']:.0f}/{p['two_s']:.0f} s = {p['scaling']:.2f}x" for p in s[f"{mode}_pairs"])
                rows.append((f"scaling one worker on one core -> two workers on two cores ({mode})", measured,
                             ">= 1.7", _met(s[f"{mode}_scaling"] >= 1.7)))
        if "floor_scaling" in s:
            rows.append(("scaling of pytest alone, one process -> -n 2 (what xdist gives tests that cost nothing)",
                         f"{s['floor_scaling']:.2f}x", "-", ""))
        same = s.get("identical_results")
        if same is not None:
            rows.append(("--jobs 2 records identical to --jobs 1 (timings aside; `known` records: status)",
                         f"{same['identical']} ({same['records']} records; values differ in "
                         f"{same['known_values_differ']} known records)", "True", _met(same["identical"])))
    head = (f"Machine: {m['cpu'] or 'unknown CPU'}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}, "
            f"Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
            + f"; load average at start {m['load_average_at_start'][0]:.1f}\n\n")
    lines = ["| benchmark | measured | target | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return head + "\n".join(lines) + "\n"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="samples instead of the whole library (minutes)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {','.join(PARTS)} (default: all)")
    parser.add_argument("--suite-modes", default=",".join(MODES),
                        help=f"suite runs: {','.join(MODES)} (default: all; floor: pytest and xdist alone, "
                             "no conformance work)")
    parser.add_argument("--suite-repeat", type=int, default=1, metavar="N",
                        help="run each suite scaling pair N times, one worker and two alternating; the ratio "
                             "reported is the median (default: 1; the machine's speed drifts between runs)")
    parser.add_argument("--json", default="reports/benchmarks.json", metavar="PATH",
                        help="where the measurements go (default: %(default)s)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    modes = tuple(m.strip() for m in args.suite_modes.split(",") if m.strip())
    if bad or not parts or any(m not in MODES for m in modes) or args.suite_repeat < 1:
        print(f"python -m benchmarks: error: --only takes {','.join(PARTS)}; --suite-modes takes {','.join(MODES)}; "
              f"--suite-repeat takes a whole number of at least 1", file=sys.stderr)
        return 2
    result = run(parts, args.quick, modes, args.suite_repeat)
    text = table(result)
    result["table"] = text
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(text)
    print(f"benchmarks: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
