"""Oracle speed against PyTorch's float64 CPU convolution, forward and gradients (target: no slower),
and the oracle's time per library case (target: under 1 ms for a small case).

    python benchmarks/bench_oracle.py [--repeat 7]         (or: python -m benchmarks oracle)

Large shapes: the issue's (8, 64, 56, 56) input with 128 3x3 filters, padding 1, plus a strided, a
grouped and a transposed case. Each time is the median of `--repeat` runs after one warm-up, the
oracle's and PyTorch's runs alternating (see `paired_median_times`); torch runs with its default
thread count. The oracle's gradients are `oracle.gradients` (input, weight and
bias); PyTorch's are `torch.autograd.grad` of the same output with respect to the same three.
Timings are not asserted anywhere (a timed test would flake); this script is where they are measured.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from conformance import Case
from conformance.check import oracle

LARGE = [
    {"id": "issue_target", "op": "conv", "input_shape": [8, 64, 56, 56], "out_channels": 128, "kernel_size": 3, "padding": 1},
    {"id": "strided", "op": "conv", "input_shape": [8, 64, 56, 56], "out_channels": 128, "kernel_size": 3, "stride": 2, "padding": 1},
    {"id": "grouped_g4", "op": "conv", "input_shape": [8, 64, 56, 56], "out_channels": 128, "kernel_size": 3, "padding": 1, "groups": 4},
    {"id": "transposed", "op": "conv_transpose", "input_shape": [8, 64, 28, 28], "out_channels": 64, "kernel_size": 4, "stride": 2, "padding": 1},
]
QUICK_LARGE = ("issue_target",)


def median_time(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_median_times(fn_a, fn_b, repeat, settle=0.25):
    """Medians of `repeat` timings of each, taken in alternating rounds (a b, b a, a b, ...): this
    2-core virtual machine's speed drifts by 20-30% over seconds, which timing all of a and then all
    of b turns into a bias of the ratio. Each call starts after `settle` seconds of sleep, so that
    neither pays for the other's idle threads: OpenBLAS's and PyTorch's OpenMP threads spin for a
    while after a call, and back to back that slowed PyTorch's forward by ~30%."""
    fn_a(), fn_b()
    times = ([], [])
    for i in range(repeat):
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            fn = (fn_a, fn_b)[which]
            time.sleep(settle)
            t0 = time.perf_counter()
            fn()
            times[which].append(time.perf_counter() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def torch_calls(case, x, w, b, g):
    """(forward, gradients) closures of PyTorch float64 CPU on the same arrays."""
    import torch
    import torch.nn.functional as F

    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tg = torch.from_numpy(g)
    pads = [p[0] for p in case.pads]
    fn = F.conv2d if case.op == "conv" else F.conv_transpose2d

    def forward():
        with torch.no_grad():
            return fn(tx, tw, tb, stride=case.stride, padding=pads, groups=case.groups)

    y = fn(tx, tw, tb, stride=case.stride, padding=pads, groups=case.groups)

    def gradients():
        return torch.autograd.grad(y, (tx, tw, tb), tg, retain_graph=True)

    return forward, gradients


def large_shapes(repeat: int, quick: bool = False) -> list[dict]:
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        torch, threads = None, None
    rng = np.random.default_rng(0)
    rows = []
    for d in LARGE:
        if quick and d["id"] not in QUICK_LARGE:
            continue
        case = Case.from_dict(d)
        x, w = rng.standard_normal(case.input_shape), rng.standard_normal(case.weight_shape)
        b, g = rng.standard_normal(case.out_channels), rng.standard_normal(case.output_shape)
        row = {"case": case.id, "input": list(case.input_shape), "weight": list(case.weight_shape),
               "torch_threads": threads}
        oracle_forward = lambda: oracle.forward(case, x, w, b)  # noqa: E731
        oracle_gradients = lambda: oracle.gradients(case, x, w, b, g)  # noqa: E731
        if torch is None:
            row["oracle_forward_s"] = median_time(oracle_forward, repeat)
            row["oracle_gradients_s"] = median_time(oracle_gradients, repeat)
        else:
            fwd, grads = torch_calls(case, x, w, b, g)
            row["oracle_forward_s"], row["torch_forward_s"] = paired_median_times(oracle_forward, fwd, repeat)
            row["oracle_gradients_s"], row["torch_gradients_s"] = paired_median_times(oracle_gradients, grads, repeat)
            row["ratio_forward"] = row["oracle_forward_s"] / row["torch_forward_s"]
            row["ratio_gradients"] = row["oracle_gradients_s"] / row["torch_gradients_s"]
        rows.append(row)
    return rows


def library_cases(limit: int | None = None) -> dict:
    """The oracle (forward + all gradients, float64) on each library case: mean, median, max per case."""
    from conformance.spec.inputs import make_inputs
    from conformance.spec.select import load_selected_cases

    cases = sorted(load_selected_cases(["cases"]), key=lambda c: c.id)
    if limit and limit < len(cases):
        cases = cases[:: max(1, len(cases) // limit)][:limit]
    times, worst = [], ("", 0.0)
    for case in cases:
        x, w, b, g = make_inputs(case, "float64")
        t0 = time.perf_counter()
        oracle.forward(case, x, w, b)
        oracle.gradients(case, x, w, b, g)
        t = time.perf_counter() - t0
        times.append(t)
        if t > worst[1]:
            worst = (case.id, t)
    return {"cases": len(times), "mean_s": statistics.fmean(times), "median_s": statistics.median(times),
            "p95_s": sorted(times)[int(0.95 * (len(times) - 1))], "max_s": worst[1], "max_case": worst[0],
            "under_1ms": sum(t < 1e-3 for t in times)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="only the issue's shape, and 60 library cases")
    parser.add_argument("--json", metavar="PATH", help="also write the measurements here")
    args = parser.parse_args(argv)
    rows = large_shapes(args.repeat, args.quick)
    print(f"{'case':14} {'oracle fwd':>11} {'torch fwd':>10} {'ratio':>6} {'oracle grads':>13} {'torch grads':>12} "
          f"{'ratio':>6}   (median of {args.repeat}, torch float64, threads={rows[0].get('torch_threads')})")
    for r in rows:
        print(f"{r['case']:14} {r['oracle_forward_s'] * 1e3:9.1f}ms {r.get('torch_forward_s', float('nan')) * 1e3:8.1f}ms "
              f"{r.get('ratio_forward', float('nan')):6.2f} {r['oracle_gradients_s'] * 1e3:11.1f}ms "
              f"{r.get('torch_gradients_s', float('nan')) * 1e3:10.1f}ms {r.get('ratio_gradients', float('nan')):6.2f}")
    small = library_cases(60 if args.quick else None)
    print(f"library cases ({small['cases']}): oracle forward+gradients mean {small['mean_s'] * 1e3:.2f} ms, "
          f"median {small['median_s'] * 1e3:.2f} ms, p95 {small['p95_s'] * 1e3:.2f} ms, max {small['max_s'] * 1e3:.1f} ms "
          f"({small['max_case']}); {small['under_1ms']} under 1 ms")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"large": rows, "library": small}, f, indent=1)
    return {"large": rows, "library": small}


if __name__ == "__main__":
    main()
