"""The porting view of one case: every target side by side, with the native call that computes it,
its status per dtype, and where a target refuses the case, the framework's own reason.

Someone porting a model asks "what is this convolution on the target I move to, and what do I call
there?": `conformance show CASE_ID` answers from a results file, without importing a framework.
"""
from __future__ import annotations

from collections import defaultdict

from conformance.repro import command_line
from conformance.report.values import CHECK_ORDER, SEVERITY, target_label, worst_status
from conformance.results.records import Result
from conformance.wording import plural, shorten


def porting_view(records: list[Result], case_id: str) -> str:
    """The text of the view for the records of `case_id` (any targets, dtypes, profiles)."""
    mine = [r for r in records if r.case == case_id]
    by_target: dict[str, list[Result]] = defaultdict(list)
    for r in mine:
        by_target[target_label(r)].append(r)
    dtypes = sorted({r.dtype for r in mine})
    width = max(map(len, by_target), default=6) + 2
    lines = [f"{case_id}: {plural(len(by_target), 'target')}, {'dtype' if len(dtypes) == 1 else 'dtypes'} "
             f"{', '.join(dtypes)}", "",
             "target".ljust(width) + "".join(d.ljust(13) for d in dtypes) + "why"]
    for target in sorted(by_target, key=_target_order):
        group = by_target[target]
        cells = [worst_status(r.status for r in group if r.dtype == d) if any(r.dtype == d for r in group) else "-"
                 for d in dtypes]
        lines.append(target.ljust(width) + "".join(c.ljust(13) for c in cells) + _why(group))
    lines.append("")
    for target in sorted(by_target, key=_target_order):
        call = next((r.call for r in by_target[target] if r.call), "")
        if call:
            lines += [f"--- {target}: the native call", call, ""]
    lines.append("A standalone script that reproduces one target's records exactly (the case's own data, the "
                 "oracle's values, the comparison):")
    lines.append(f"    {command_line(case_id, 'API@DEVICE', 'DTYPE')} --check")
    return "\n".join(lines)


def _target_order(label: str) -> tuple:
    """Eager APIs first within each framework family, then the paths derived from them."""
    api = label.split("@")[0]
    return (api.split(".")[0], api.count("."), label)


def _why(group: list[Result]) -> str:
    """The most telling message of the target's records: a failure's, else a refusal's (the
    framework's own text), else a known difference's id; nothing when everything passed."""
    rank = {check: i for i, check in enumerate(CHECK_ORDER)}
    worst = max(group, key=lambda r: (SEVERITY.get(r.status, 0), -rank.get(r.check, len(rank))))
    if worst.status == "pass":
        return ""
    if worst.status == "known" and worst.known:
        return f"known: {worst.known.get('id', '')}"
    return shorten(f"{worst.check}: {worst.message}", 200)
