"""Terminal text shared by the command line and the pytest plugin."""
from __future__ import annotations

from conformance.results.diff import skip_subject
from conformance.results.kernels import kernel_summary
from conformance.results.records import Result


def describe_skip(skip: dict) -> str:
    """One line for a skip record: `torch on gpu: no gpu visible to torch`."""
    return f"{skip_subject(skip)}: {skip['reason']}"


def format_discrepancy(case, r) -> str:
    """What a failed pytest item shows: the check, the case, the worst element, the reproducer."""
    lines = [f"{r.status.upper()}: {r.check} of {case.id} on {r.api}@{r.device} ({r.precision}), {r.dtype}",
             f"  case:     {case.describe()}"]
    if case.origin:
        lines.append(f"  declared: {case.origin[0]}:{case.origin[1]}")
    lines.append(f"  message:  {r.message}")
    for number, attempt in enumerate(r.attempts or (), 1):  # the last attempt is this record
        lines.append(f"  attempt {number}: {attempt['status']}: {attempt['message']}")
    if r.worst_index is not None:
        lines.append(f"  worst element {r.worst_index}: got {r.got!r}, but should be {r.expected!r}"
                     f" (|error| {r.max_abs_error!r}, {r.error_ratio!r}x its bound)")
    elif r.expected is not None or r.got is not None:
        lines.append(f"  {r.check}={r.got!r}, but should be {r.expected!r}")
    if r.detail:
        lines.append(f"  around the worst element (last two axes, from {r.detail['window_origin']}):")
        lines.append(f"    expected {r.detail['window_expected']}")
        lines.append(f"    got      {r.detail['window_got']}")
    if r.call:
        lines.append("  reproducer:")
        lines.extend(f"    {line}" for line in r.call.splitlines())
    if r.stderr:
        lines.append("  the worker's stderr ended with:")
        lines.extend(f"    {line}" for line in r.stderr.splitlines())
    if r.rerun:
        lines.append(f"  rerun:    {r.rerun}")
    return "\n".join(lines)


def unexpected_lines(unexpected: list[Result], limit: int = 20) -> list[str]:
    """The run's unexpected records for the terminal, one line per unit, status and message (the
    checks of a crashed unit share theirs); under each unit, the last line its worker wrote before
    the failure and the command that reruns it."""
    groups: dict = {}
    for r in unexpected:
        unit = (r.case, r.framework, r.api, r.device, r.precision, r.dtype, r.threads)
        groups.setdefault((unit, r.status, r.message), []).append(r)
    lines, seen = [], set()
    for (unit, status, message), records in list(groups.items())[:limit]:
        r = records[0]
        checks = ", ".join(x.check for x in records)
        threads = f" {r.threads} threads" if r.threads != 1 else ""
        lines.append(f"  {status.upper():8} {r.case} [{r.api}@{r.device} {r.precision} {r.dtype}{threads} {checks}] "
                     f"{message}")
        if unit in seen:
            continue
        seen.add(unit)
        if r.stderr:
            lines.append(f"           stderr: {telling_line(r.stderr)}")
        if r.rerun:
            lines.append(f"           rerun:  {r.rerun}")
        kernels = kernel_summary(r.kernels)
        if kernels:
            lines.append(f"           kernels: {kernels}")
    if len(groups) > limit:
        lines.append(f"  ... and {len(groups) - limit} more (see the report)")
    return lines


def telling_line(stderr: str) -> str:
    """The line of a worker's output that says most: the last one before Python's own report of a
    fatal signal (faulthandler's 'Fatal Python error'), or that report and its innermost frame when
    nothing came before it, else the last line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    fatal = next((i for i, line in enumerate(lines) if line.startswith("Fatal Python error")), None)
    if fatal is None:
        return lines[-1] if lines else ""
    if fatal > 0:
        return lines[fatal - 1]
    frame = next((line.strip() for line in lines if line.strip().startswith("File ")), "")  # the innermost
    return f"{lines[0]}, {frame}" if frame else lines[0]


def varied_lines(results, limit: int = 20) -> list[str]:
    """The checks whose values differed between --repeat attempts (not a failure: worth a look)."""
    varied = [r for r in results if r.varies]
    if not varied:
        return []
    checks = f"{len(varied)} check" + ("s" if len(varied) != 1 else "")
    lines = [f"values varied between repeats: {checks} (same status in every attempt)"]
    for r in varied[:limit]:
        what = "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in r.varies.items())
        lines.append(f"  VARIES   {r.case} [{r.api}@{r.device} {r.precision} {r.dtype} {r.check}] {r.status}: {what}")
    if len(varied) > limit:
        lines.append(f"  ... and {len(varied) - limit} more (see the report)")
    return lines
