"""The comparison of two runs (results/diff.py) for the terminal, readable at a glance.

First what fails the comparison, one line each (`gate_lines`); then the two runs and their
environment differences; the counts; then the regressions by category, the fixes and the other
changes, one line per (case, target, dtype) and transition naming its checks, with the message cut
to one short line; last the removed records by target.
"""
from __future__ import annotations

from conformance.results.diff import (ADDED_FAILING, NEWLY_FAILING, NEWLY_KNOWN, NEWLY_REFUSED, Diff, Entry,
                                      allow_option, format_target, ratio_of)
from conformance.results.environment_diff import EnvChange
from conformance.results.records import KEY_FIELDS

MESSAGE_WIDTH = 100  # characters of a message an entry's line shows
# What fails the comparison, said in one line per regression category (`gate_lines`).
GATE_WORDS = {
    NEWLY_FAILING: "newly failing (pass, known or unsupported in the baseline; fail, error, crashed or flaky here)",
    ADDED_FAILING: "not in the baseline fail here (added failing)",
    NEWLY_REFUSED: "newly refused (pass or known in the baseline, unsupported here); pass --allow refusals if "
                   "the new version refuses them on purpose",
    NEWLY_KNOWN: "newly known (pass in the baseline, a known difference here); pass --allow known to accept them",
}


def format_text(d: Diff, *, limit: int | None = None, gate: bool = True) -> str:
    """For the terminal: what fails the comparison (`gate_lines`, unless `gate` is False because the
    caller printed them first), the two runs compared, their environment differences, the counts,
    then the regressions by category, the fixes and the other changes (`entry_lines`), and the
    removed records by target.

    `limit` caps the lines listed per category (None lists all); the counts are always complete.
    """
    lines = gate_lines(d) if gate else []
    lines += [f"baseline: {d.compared.get('baseline', '?')}", f"new:      {d.compared.get('new', '?')}"]
    lines += _environment_lines(d.environment)
    lines.append(summary_line(d))
    if d.regressions:
        lines += ["", "Regressions:"]
        for category, entries in d.by_category().items():
            allowed = sum(e.allowed for e in entries)
            note = f", allowed by --allow {allow_option(category)}" if allowed == len(entries) else (
                f", {allowed} allowed by --allow {allow_option(category)}" if allowed else "")
            lines.append(f"  {category} ({_records(len(entries))}{note}):")
            lines += _capped(entry_lines(entries), limit, "    ")
    for title, entries in (("Fixes", d.fixes), ("Other changes", d.changes)):
        if entries:
            lines += ["", f"{title}:"] + _capped(entry_lines(entries), limit, "  ")
    lines += _removed_lines(d, limit)
    return "\n".join(lines)


def summary_line(d: Diff) -> str:
    """The counts, and what --allow let through: `5 regressions (3 newly refused allowed by --allow
    refusals), 1 fixes, ...`."""
    c = d.counts()
    allowed = [f"{n} {category} allowed by --allow {allow_option(category)}"
               for category, entries in d.by_category().items() if (n := sum(e.allowed for e in entries))]
    regressions = f"{c['regressions']} regressions" + (f" ({'; '.join(allowed)})" if allowed else "")
    return (f"{regressions}, {c['fixes']} fixes, {c['changes']} other changes, {c['added']} added, "
            f"{c['removed']} removed, {c['unchanged']} unchanged")


def gate_lines(d: Diff) -> list[str]:
    """One line for each reason the comparison fails: a lost framework, device or API with its
    reason, each category of regressions that no --allow lets through, and records removed without
    --allow removed."""
    lines = [f"conformance: regression: {lost.describe()}" for lost in d.lost]
    lines += [f"conformance: regression: {line}" for line in regression_lines(d)]
    unexplained = len(d.removed_unexplained)
    if d.removed_fails and unexplained:
        lines.append(f"conformance: regression: {unexplained} records of the baseline are not in this run (removed); "
                     "pass --allow removed if cases or targets were removed on purpose")
    return lines


def regression_lines(d: Diff) -> list[str]:
    """For each category of regressions that no --allow lets through: how many records, what the
    category means, and the --allow that would let it through, if any."""
    return [f"{_records(len(failing))} {GATE_WORDS[category]}" for category, entries in d.by_category().items()
            if (failing := [e for e in entries if not e.allowed])]


def entry_lines(entries: list[Entry]) -> list[str]:
    """One line per (case, target, dtype) and transition: `case  target  dtype: checks grad_input,
    grad_weight: pass -> unsupported (newly refused): <the message, shortened>`."""
    groups: dict[tuple, list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.key[:-1], e.old_status, e.new_status, e.reason, e.category, e.allowed), []).append(e)
    return [_group_line(group) for group in groups.values()]


def shorten(text: str, width: int = MESSAGE_WIDTH) -> str:
    """`text` on one line, at most about `width` characters, cut at a word boundary (never inside a
    word: a first word longer than `width` is kept whole) and marked with '...'."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width - 3)
    if cut <= 0:
        cut = text.find(" ")
        if cut < 0:
            return text
    return text[:cut].rstrip(" ,;:") + " ..."


def _group_line(group: list[Entry]) -> str:
    first = group[0]
    k = dict(zip(KEY_FIELDS, first.key))
    checks = [e.key[-1] for e in group]
    noun = "check" if len(checks) == 1 else "checks"
    head = f"{k['case']}  {format_target(k)}  {k['dtype']}: {noun} {', '.join(checks)}"
    if first.reason == "ratio":
        each = [f"{_fmt(ratio_of(e.old))} -> {_fmt(ratio_of(e.new))}" for e in group]
        if len(group) > 1:
            each = [f"{check} {ratios}" for check, ratios in zip(checks, each)]
        return f"{head}: pass, error ratio {', '.join(each)}"
    marks = first.category + (", allowed" if first.allowed else "")
    status = f"{first.old_status or '(absent)'} -> {first.new_status or '(absent)'} ({marks})"
    messages = list(dict.fromkeys(" ".join(e.message.split()) for e in group if e.message.strip()))
    if not messages:
        return f"{head}: {status}"
    others = f" (+{len(messages) - 1} other messages)" if len(messages) > 1 else ""
    return f"{head}: {status}: {shorten(messages[0])}{others}"


def _capped(lines: list[str], limit: int | None, indent: str) -> list[str]:
    shown = lines if limit is None else lines[:limit]
    out = [indent + line for line in shown]
    if len(shown) < len(lines):
        out.append(f"{indent}... and {len(lines) - len(shown)} more")
    return out


def _records(n: int) -> str:
    return f"{n} record" + ("" if n == 1 else "s")


def _environment_lines(changes: list[EnvChange]) -> list[str]:
    if not changes:
        return ["environment: no differences"]
    lines = [f"Environment differences ({len(changes)}):"]
    lines += [f"  {c.group:9} {c.key}: {c.old} -> {c.new}" for c in changes]
    return lines


def _removed_lines(d: Diff, limit: int | None) -> list[str]:
    if not d.removed:
        return []
    by_target: dict[str, list[Entry]] = {}
    for e in d.removed:
        by_target.setdefault(f"{e.old.api}@{e.old.device}", []).append(e)
    unexplained = len(d.removed_unexplained)
    title = f"Removed ({len(d.removed)} records of the baseline"
    if unexplained and d.allow_removed:
        title += f"; {unexplained} not run on purpose, as --allow removed says"
    elif unexplained:
        title += f"; {unexplained} fail the comparison unless --allow removed says they were removed on purpose"
    lines = ["", title + "):"]
    targets = sorted(by_target)
    for t in targets if limit is None else targets[:limit]:
        entries = by_target[t]
        lost = next((x for x in d.lost if x.covers(entries[0].old)), None)
        lines.append(f"  {t}: {len(entries)} records of {len({e.old.case for e in entries})} cases"
                     + (f" (with {lost.subject}, above)" if lost else ""))
    if limit is not None and len(targets) > limit:
        lines.append(f"  ... and {len(targets) - limit} more targets")
    return lines


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"
