"""Oracle speed against PyTorch's float64 CPU convolution (the issue's target: no slower).

    python benchmarks/bench_oracle.py [--repeat 7]

Shapes: the issue's (8, 64, 56, 56) input with 128 3x3 filters, padding 1, plus a strided, a
grouped and a transposed case. Prints the median of `--repeat` runs after one warm-up; timings are
not asserted anywhere (a timed test would flake), this script is where they are measured.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from conformance import Case, oracle

CASES = [
    {"id": "issue_target", "op": "conv", "input_shape": [8, 64, 56, 56], "out_channels": 128, "kernel_size": 3, "padding": 1},
    {"id": "strided", "op": "conv", "input_shape": [8, 64, 56, 56], "out_channels": 128, "kernel_size": 3, "stride": 2, "padding": 1},
    {"id": "grouped_g4", "op": "conv", "input_shape": [8, 64, 56, 56], "out_channels": 128, "kernel_size": 3, "padding": 1, "groups": 4},
    {"id": "transposed", "op": "conv_transpose", "input_shape": [8, 64, 28, 28], "out_channels": 64, "kernel_size": 4, "stride": 2, "padding": 1},
]


def median_time(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_call(case, x, w, b):
    import torch
    import torch.nn.functional as F

    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    pads = [p[0] for p in case.pads]
    if case.op == "conv":
        return lambda: F.conv2d(tx, tw, tb, stride=case.stride, padding=pads, groups=case.groups)
    return lambda: F.conv_transpose2d(tx, tw, tb, stride=case.stride, padding=pads, groups=case.groups)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:
        torch, threads = None, None
    print(f"{'case':14} {'oracle fwd':>11} {'oracle grads':>13} {'torch f64 fwd':>14} {'ratio':>6}   (median of {args.repeat}, torch threads={threads})")
    rng = np.random.default_rng(0)
    for d in CASES:
        case = Case.from_dict(d)
        x, w = rng.standard_normal(case.input_shape), rng.standard_normal(case.weight_shape)
        b, g = rng.standard_normal(case.out_channels), rng.standard_normal(case.output_shape)
        fwd = median_time(lambda: oracle.forward(case, x, w, b), args.repeat)
        grads = median_time(lambda: oracle.gradients(case, x, w, b, g), max(3, args.repeat // 2))
        ref = median_time(torch_call(case, x, w, b), args.repeat) if torch else float("nan")
        print(f"{case.id:14} {fwd * 1e3:9.1f}ms {grads * 1e3:11.1f}ms {ref * 1e3:12.1f}ms {fwd / ref:6.2f}")


if __name__ == "__main__":
    main()
