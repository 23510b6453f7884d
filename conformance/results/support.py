"""The support table as Markdown: which target supports which case feature, from a results file.

    conformance matrix reports/results.json

A cell counts runs (case x dtype) of the feature's cases on the target by the status of their
`output` check: `all` when every run was computed and passed, `n/m` when only n of m runs were
computed (the rest `unsupported`), `none` when none was; `, k known` adds runs whose output is a
known difference, and `, k FAIL` runs that failed or errored.
"""
from __future__ import annotations

from collections import defaultdict

from conformance.spec.features import FEATURES
from conformance.results.records import FAILING, RunResults


def support_table(run: RunResults) -> str:
    cells: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    targets = sorted({r.target for r in run.results})
    for r in run.results:
        if r.check != "output":
            continue
        for feature in run.cases.get(r.case, {}).get("features", []):
            cells[feature][r.target][r.status] += 1
    rows = [f for f in FEATURES if f in cells]
    lines = ["| feature | " + " | ".join(f"`{t}`" for t in targets) + " |",
             "|---|" + "---|" * len(targets)]
    for feature in rows:
        lines.append(f"| {feature} | " + " | ".join(_cell(cells[feature][t]) for t in targets) + " |")
    return "\n".join(lines) + "\n"


def _cell(counts) -> str:
    total = sum(counts.values())
    if not total:
        return ""
    ok = counts["pass"] + counts["known"]
    failed = sum(counts[s] for s in FAILING)
    text = "all" if ok == total else ("none" if ok == 0 and not failed else f"{ok}/{total}")
    if counts["known"]:
        text += f", {counts['known']} known"
    if failed:
        text += f", {failed} FAIL"
    return text
