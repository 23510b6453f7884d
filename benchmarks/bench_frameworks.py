"""Per framework, in its own process: harness overhead, and for JAX the compilations per case.

    python -m benchmarks.bench_frameworks FRAMEWORK [--limit N] [--json PATH]

Harness overhead. For each (case, target, dtype) of a sample of library cases, float32 and float64,
`evaluate()` runs as the worker runs it, with the oracle computed beforehand (`Reference`, shared by
the targets, so it is not ours per target). Every framework call of an adapter is made inside
`Adapter.native()` (layer construction, forward, backward, and for JAX the jitted forward+backward
with `block_until_ready`); the benchmark times those blocks: that is the bare framework call, made
exactly as the adapter makes it, on inputs already native. Ours is the whole `evaluate()`:
conversions to and from the native layout and dtype, the comparisons, the records. Ratio = ours /
bare, summed over the units where the framework was called (units refused before any call are
counted apart).

JAX compilations. JAX's monitoring events (`jax.monitoring`, documented in
https://docs.jax.dev/en/latest/profiling.html#monitoring): every XLA compilation request reports
`/jax/core/compile/backend_compile_duration`; one served by the persistent compilation cache also
reports `/jax/compilation_cache/cache_hits` first. Compilations = requests - hits, counted per
(case, dtype, device) over both JAX targets (jax.lax and flax.layer); compile time is the duration
of the requests that compiled, as a share of the JAX targets' `evaluate()` time. Runs with a cold,
private cache (JAX_COMPILATION_CACHE_DIR unset), as a fresh CI machine would.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import statistics
import sys
import time

DTYPES = ("float32", "float64")


def sample_cases(limit: int | None):
    from conformance.spec.select import load_selected_cases

    cases = sorted(load_selected_cases(["cases"]), key=lambda c: c.id)
    if limit and limit < len(cases):
        cases = cases[:: max(1, len(cases) // limit)][:limit]  # spread over the library, not its first file
    return cases


def measure(framework: str, limit: int | None) -> dict:
    if framework == "jax":
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)  # cold, as on a fresh machine
    from conformance import adapters
    from conformance.adapters.base import Adapter, Target
    from conformance.spec import frameworks
    from conformance.check.evaluate import Reference, evaluate

    t0 = time.perf_counter()
    adapter = adapters.load_adapter(framework)
    import_s = time.perf_counter() - t0

    native_time = [0.0]
    original = Adapter.native

    @contextlib.contextmanager
    def timed(self):
        start = time.perf_counter()
        try:
            with original(self):
                yield
        finally:
            native_time[0] += time.perf_counter() - start

    Adapter.native = timed

    jax_events = {"requests": 0, "hits": 0, "compile_s": 0.0, "pending_hit": False}
    if framework == "jax":
        from jax import monitoring

        def on_event(event, **kwargs):
            if event == "/jax/compilation_cache/cache_hits":
                jax_events["pending_hit"] = True

        def on_duration(event, duration, **kwargs):
            if event == "/jax/core/compile/backend_compile_duration":
                jax_events["requests"] += 1
                if jax_events["pending_hit"]:
                    jax_events["hits"] += 1
                else:
                    jax_events["compile_s"] += duration
                jax_events["pending_hit"] = False

        monitoring.register_event_listener(on_event)
        monitoring.register_event_duration_secs_listener(on_duration)

    per_target = collections.defaultdict(lambda: {"ours_s": 0.0, "bare_s": 0.0, "units": 0, "refused": 0})
    ratios = collections.defaultdict(list)
    compiles = collections.Counter()  # (case, dtype, device) -> compilations
    jax_eval_s = 0.0
    cases = sample_cases(limit)
    for case in cases:
        for dtype in (d for d in case.dtypes if d in DTYPES):
            ref = Reference(case, dtype, 0)
            for api in frameworks.kind_apis(framework):
                target = Target(framework, api, "cpu")
                native_time[0] = 0.0
                before = jax_events["requests"] - jax_events["hits"]
                start = time.perf_counter()
                records = evaluate(adapter, target, case, dtype, ref=ref)
                ours = time.perf_counter() - start
                bare = native_time[0]
                compiles[(case.id, dtype, "cpu")] += jax_events["requests"] - jax_events["hits"] - before
                jax_eval_s += ours
                row = per_target[api]
                if bare == 0.0 or records[0].status == "unsupported" and bare < 1e-4:
                    row["refused"] += 1  # refused before any framework call: nothing to compare
                    continue
                row["units"] += 1
                row["ours_s"] += ours
                row["bare_s"] += bare
                ratios[api].append(ours / bare)
    out = {"framework": framework, "import_s": import_s, "cases": len(cases), "targets": {}}
    for api, row in per_target.items():
        row["ratio"] = row["ours_s"] / row["bare_s"] if row["bare_s"] else None
        row["median_unit_ratio"] = statistics.median(ratios[api]) if ratios[api] else None
        row["ms_per_unit_ours"] = 1e3 * row["ours_s"] / max(row["units"], 1)
        row["ms_per_unit_bare"] = 1e3 * row["bare_s"] / max(row["units"], 1)
        out["targets"][api] = row
    if framework == "jax":
        counts = collections.Counter(compiles.values())
        out["jax"] = {"case_dtype_device": len(compiles), "compilations_histogram": dict(sorted(counts.items())),
                      "compilations_total": sum(compiles.values()), "requests": jax_events["requests"],
                      "cache_hits": jax_events["hits"], "compile_s": jax_events["compile_s"],
                      "jax_evaluate_s": jax_eval_s,
                      "compile_share": jax_events["compile_s"] / jax_eval_s if jax_eval_s else None,
                      "more_than_one": sorted(f"{c}/{d}" for (c, d, _), n in compiles.items() if n > 1)[:20]}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework")
    parser.add_argument("--limit", type=int, default=None, help="cases sampled evenly from the library (default: all)")
    parser.add_argument("--json", metavar="PATH", help="write the measurements here ('-': stdout)")
    args = parser.parse_args(argv)
    result = measure(args.framework, args.limit)
    text = json.dumps(result, indent=1)
    if args.json == "-":
        print(text)
    elif args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text, file=sys.stderr)


if __name__ == "__main__":
    main()
