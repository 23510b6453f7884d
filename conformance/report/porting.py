"""The porting view of one case: every target side by side, with the native call that computes it,
its status per check and dtype, and where a target refuses the case, the framework's own reason.

Someone porting a model asks "what is this convolution on the target I move to, and what do I call
there?": `conformance show CASE_ID` answers from a results file, without importing a framework.
The dtype columns hold the `output` check's status, as `conformance matrix` counts it; under each
target, one line per kind of check (output, gradients, shapes), never only the worst of them: a
target that computes the output and refuses its gradients is usable for inference.
"""
from __future__ import annotations

from collections import defaultdict

from conformance.repro import case_files_option, command_line
from conformance.report.values import SEVERITY, target_label, worst_status
from conformance.results.kernels import kernel_lines
from conformance.results.records import Result
from conformance.wording import plural, shorten

# The kinds of check a porting answer names, each with its checks (conformance/check/evaluate.py).
CHECK_KINDS = (("output", ("output",)), ("gradients", ("grad_input", "grad_weight", "grad_bias")),
               ("shapes", ("output_shape", "weight_shape", "param_count")))
REASON_WIDTH = 160


def porting_view(records: list[Result], case_id: str, *, seed: int = 0, origin: str | None = None,
                 cases: list[str] | None = None) -> str:
    """The text of the view for the records of `case_id` (any targets, dtypes, profiles). `seed` and
    `origin` (the case's 'file:line', from the results file) make each target's repro command one
    that works as printed for a case outside the library; `cases`, where given, are the files it names."""
    mine = [r for r in records if r.case == case_id]
    by_target: dict[str, list[Result]] = defaultdict(list)
    for r in mine:
        by_target[target_label(r)].append(r)
    dtypes = sorted({r.dtype for r in mine})
    width = max(map(len, by_target), default=6) + 2
    lines = [f"{case_id}: {plural(len(by_target), 'target')}, {'dtype' if len(dtypes) == 1 else 'dtypes'} "
             f"{', '.join(dtypes)}", "",
             ("target".ljust(width) + "".join(f"output {d}".ljust(20) for d in dtypes)).rstrip()]
    for target in sorted(by_target, key=_target_order):
        group = by_target[target]
        lines.append((target.ljust(width) + "".join(_output_cell(group, d).ljust(20) for d in dtypes)).rstrip())
        lines += [f"    {line}" for line in check_lines(group) + kernel_view_lines(group)]
    lines.append("")
    for target in sorted(by_target, key=_target_order):
        call = next((r.call for r in by_target[target] if r.call), "")
        if call:
            lines += [f"--- {target}: the native call", call]
        command = _repro_command(by_target[target], seed, origin, cases)
        if command:
            lines.append(f"    reproduce it standalone: {command} --check")
        if call or command:
            lines.append("")
    lines.append("`conformance repro ... --check` writes a standalone script that reproduces one target's records "
                 "exactly (the case's own data, the oracle's values, the comparison) and runs it.")
    return "\n".join(lines)


def _output_cell(group: list[Result], dtype: str) -> str:
    statuses = [r.status for r in group if r.dtype == dtype and r.check == "output"]
    return worst_status(statuses) if statuses else "-"


def check_lines(group: list[Result]) -> list[str]:
    """One line per kind of check the target has records of: its status, per dtype where the dtypes
    differ, and the reason of what is not a pass (a refusal's or failure's text, a known id)."""
    kinds = [(kind, [r for r in group if r.check in checks]) for kind, checks in CHECK_KINDS]
    kinds = [(kind, mine) for kind, mine in kinds if mine]
    if all(r.status == "pass" for _, mine in kinds for r in mine):
        return [f"{', '.join(kind for kind, _ in kinds)}: pass"] if kinds else []
    return [f"{kind}: {kind_text(mine)}" for kind, mine in kinds]


def kernel_view_lines(group: list[Result]) -> list[str]:
    """The oneDNN kernels that the logged re-run of a failing unit ran, per dtype and profile
    (conformance/run/kernel_log.py): a heading, then one line per primitive."""
    units: dict = defaultdict(list)
    for r in group:
        if r.kernels:
            units[(r.dtype, r.precision)].append(r)
    lines = []
    for (dtype, _), mine in sorted(units.items()):
        gave = sorted({r.kernels["rerun"] for r in mine if r.kernels.get("rerun")}, key=lambda s: SEVERITY.get(s, 0))
        said = f"; its failing checks gave {', '.join(gave)} there" if gave else ""
        lines.append(f"oneDNN kernels, {dtype} (one re-run of the unit with ONEDNN_VERBOSE{said}):")
        lines += [f"    {line}" for line in kernel_lines(mine[0].kernels)]
    return lines


def kind_text(records: list[Result]) -> str:
    """'pass'; 'pass in float32, fail in float64: <why>'; 'unsupported: <the framework's words>'."""
    per_dtype = {d: worst_status(r.status for r in records if r.dtype == d) for d in sorted({r.dtype for r in records})}
    statuses = sorted(set(per_dtype.values()), key=lambda s: SEVERITY.get(s, 0))
    if len(statuses) == 1:
        text = statuses[0]
    else:
        text = ", ".join(f"{s} in {', '.join(d for d, x in per_dtype.items() if x == s)}" for s in statuses)
    worst = max(records, key=lambda r: SEVERITY.get(r.status, 0))
    return text if worst.status == "pass" else f"{text}: {_why(worst)}"


def _why(r: Result) -> str:
    if r.status == "known" and r.known:
        return f"known difference {r.known.get('id', '')}"
    return shorten(f"{r.check}: {' '.join((r.message or '').split())}", REASON_WIDTH)


def _repro_command(group: list[Result], seed: int, origin: str | None, cases: list[str] | None) -> str | None:
    """The repro command of the target's first dtype whose output it computed (a refused unit has no
    native computation to reproduce)."""
    computed = sorted((r for r in group if r.check == "output" and r.status != "unsupported"),
                      key=lambda r: r.dtype != "float32")
    if not computed:
        return None
    r = computed[0]
    return command_line(r.case, r.target, r.dtype, profile=r.precision, seed=seed,
                        cases=cases or case_files_option(origin))


def _target_order(label: str) -> tuple:
    """Eager APIs first within each framework family, then the paths derived from them."""
    api = label.split("@")[0]
    return (api.split(".")[0], api.count("."), label)
