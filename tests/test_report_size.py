"""The HTML report's size grows with the records by a fixed budget per record (issue 25: a whole-library
report stays at most 5 MB and opens in under 3 s). Bytes, never seconds: a timed test flakes."""
from __future__ import annotations

import random

from conformance.report.html import render
from conformance.report.model import build_model
from conformance.results.records import Result, RunResults

# The budget, in bytes of the rendered page. A pass is a few bytes of packed data (its cell in the case
# view, its unit's native call); an `unsupported` record adds its reason to a group row (one per target
# and reason) and its case to that group's packed list; a `known` record its detail in the packed data
# (the values around its worst element, its heatmap) and its share of its group row (one per target and
# known-difference entry); a failing record (fail, flaky, error, crashed) a row of its own in the
# discrepancy table and its detail. The support matrices cost by their cells: (cases + features) x
# target columns, whatever the records.
# The main job's run of the library (644 cases, 28 targets, 152946 records: 84776 pass, 66228
# unsupported, 1942 known; 23256 matrix cells) comes to 3.97 MB, 0.94 of this budget's 4.23 MB.
PAGE_BYTES = 80_000  # style, script, headings, the summary and environment tables
CELL_BYTES = 45
PASS_BYTES = 8
UNSUPPORTED_BYTES = 22
KNOWN_BYTES = 500
FAILING_BYTES = 1_500


def budget(passes: int, unsupported: int, known: int, failing: int, cells: int) -> int:
    return (PAGE_BYTES + CELL_BYTES * cells + PASS_BYTES * passes + UNSUPPORTED_BYTES * unsupported
            + KNOWN_BYTES * known + FAILING_BYTES * failing)


def budget_of(results: RunResults, model) -> int:
    kinds = [r.status for r in results.results]
    passes, unsupported, known = kinds.count("pass"), kinds.count("unsupported"), kinds.count("known")
    cells = sum(len(t.rows) * len(t.columns) for t in model.support_tables)
    return budget(passes, unsupported, known, len(kinds) - passes - unsupported - known, cells)


def test_the_budget_leaves_the_library_room_under_the_issues_bound():
    assert budget(84_776, 66_228, 1_942, 0, 23_256) <= 4_300_000 < 5_000_000  # the main job's records


APIS = [("torch", "torch.functional"), ("torch", "torch.layer"), ("tensorflow", "tf.nn"), ("tensorflow", "keras.layer"),
        ("jax", "jax.lax"), ("jax", "flax.layer"), ("onnx", "onnxruntime"), ("onnx", "onnx.reference"),
        ("litert", "litert.interpreter"), ("keras", "keras.ops")]
DTYPES = ["float32", "float64", "float16", "bfloat16"]
CHECKS = ["output", "grad_input", "grad_weight", "grad_bias", "output_shape"]


def library_like_run(n_cases: int = 150, seed: int = 0) -> RunResults:
    """Records shaped like a whole-library run: matrix-expanded case ids on ten targets, every dtype and
    check; a target refuses about 40% of the cases with a reason that names the case's own numbers
    (so that the groups are many, as they are), about 2% of the records fail or (four in five) are known
    differences, each with a message and the detail of its worst values, and the rest pass, each unit with
    its native call."""
    rng = random.Random(seed)
    records = []
    for i in range(n_cases):
        stride, dilation, padding = 1 + i % 3, 1 + i // 3 % 3, ("same", "valid", "causal")[i // 9 % 3]
        case = f"conv{1 + i % 3}d_{i // 27}[stride={stride},dilation={dilation},padding={padding}]"
        for framework, api in APIS:
            refused = rng.random() < 0.4
            for dtype in DTYPES:
                call = f"{api}.conv(x, w, strides={stride}, dilation={dilation}, padding='{padding}')  # {dtype}"
                for check in CHECKS:
                    r = Result(case=case, framework=framework, api=api, device="cpu", dtype=dtype, check=check,
                               status="pass", error_ratio=rng.random() / 10, call=call)
                    if refused:
                        r.status = "unsupported"
                        r.message = (f"{api} cannot combine stride {stride} with dilation {dilation} in {padding} "
                                     f"padding (the framework's own text: ValueError, strides > 1 not supported "
                                     f"in conjunction with dilation_rate > 1, received {stride} and {dilation})")
                        r.error_ratio = None
                    elif rng.random() < 0.02:
                        r.status = "fail" if rng.random() < 0.2 else "known"
                        r.error_ratio = 1 + rng.random() * 100
                        r.message = (f"error {r.error_ratio:.3g}x its bound ({dtype} arithmetic, K=27) at [0, 1, 2]: "
                                     f"got {rng.random():.17g}, expected {rng.random():.17g}")
                        r.worst_index, r.expected, r.got = [0, 1, 2], rng.random(), rng.random()
                        # 3 x 3 windows and heatmap, the whole library's commonest (half of its known
                        # records have none: an error or a shape has no values to show)
                        r.detail = {"window_expected": [[rng.random() for _ in range(3)] for _ in range(3)],
                                    "window_got": [[rng.random() for _ in range(3)] for _ in range(3)],
                                    "window_origin": [0, 0], "heatmap_shape": [3, 3],
                                    "heatmap": [[rng.random() for _ in range(3)] for _ in range(3)]}
                        if r.status == "known":  # a runtime's documented difference, one entry per dtype
                            r.message = f"known difference {api}-{dtype}-rounding: " + r.message
                            r.known = {"id": f"{api}-{dtype}-rounding", "link": "https://example.org/issues/1",
                                       "reason": f"{api} rounds {dtype} products before it sums them " * 4}
                    records.append(r)
    return RunResults(records, environment={"seed": seed})


def test_a_library_sized_report_stays_within_its_per_record_budget():
    results = library_like_run()
    kinds = {s: sum(r.status == s for r in results.results) for s in ("pass", "unsupported", "fail", "known")}
    assert len(results.results) == 30_000 and min(kinds.values()) > 0, kinds
    model = build_model(results)
    size = len(render(model).encode())
    assert size <= budget_of(results, model), (size, budget_of(results, model), kinds)
