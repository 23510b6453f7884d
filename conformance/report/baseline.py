"""The report's comparison with a baseline run, as `diff.diff` makes it for the terminal too: the
runs compared, what fails the comparison, the environment differences, then the record changes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from conformance.report.values import format_ratio, target_label
from conformance.results.diff import Diff, Entry, Lost, diff, format_key
from conformance.results.diff_text import regression_lines, summary_line
from conformance.results.environment_diff import EnvChange
from conformance.results.records import Result, RunResults


@dataclass
class DiffRow:
    key: str  # readable key (diff.format_key)
    case: str
    target: str
    dtype: str
    check: str
    old_status: str | None
    new_status: str | None
    reason: str  # 'status' | 'ratio' | 'added' (diff.Entry.reason)
    message: str
    category: str  # diff.Entry.category: 'newly refused', 'fixed', ...
    detail_index: int | None  # index of the matching discrepancy in this run, when there is one
    old_ratio: str = ""  # error ratios, formatted, for a 'ratio' change
    new_ratio: str = ""
    allowed: bool = False  # a regression that --allow lets through


@dataclass
class RemovedTarget:
    """The records of one target (api@device) that the baseline has and this run lacks."""

    target: str
    records: int
    cases: int
    lost: str | None  # the lost framework, device or API that accounts for them, if one does


@dataclass
class BaselineSection:
    """The comparison with a baseline: the runs compared, what fails the comparison, the
    environment differences, then the record changes."""

    counts: dict[str, int]  # regressions, fixes, changes, added, removed, unchanged, lost, environment
    regressions: list[DiffRow]
    fixes: list[DiffRow]
    changes: list[DiffRow]
    added: int
    removed: int
    environment_changes: list[EnvChange]  # environment_diff.environment_changes: the important groups first
    baseline_total: int
    compared: dict[str, str] = field(default_factory=dict)  # {"baseline": ..., "new": ...}
    lost: list[Lost] = field(default_factory=list)  # coverage the baseline had and this run skipped
    removed_targets: list[RemovedTarget] = field(default_factory=list)
    removed_unexplained: int = 0  # removed records no lost coverage accounts for
    allow_removed: bool = False  # --allow removed: those do not fail the comparison
    failed: bool = False  # the comparison's verdict (diff.Diff.has_regressions)
    failing_regressions: int = 0  # the regressions no --allow lets through
    summary: str = ""  # the counts and what --allow let through (diff_text.summary_line)
    verdict: list[str] = field(default_factory=list)  # the categories of regressions that fail it (diff_text)


def baseline_section(baseline: RunResults, results: RunResults, detail_index: dict, *,
                     allow: Iterable[str] = ()) -> BaselineSection:
    """`results` against `baseline`; `detail_index` maps a record key to its discrepancy row's index
    (`allow`: the --allow words, the regressions the comparison lets through)."""
    d = diff(baseline, results, allow=allow)

    def row(e: Entry) -> DiffRow:
        r = e.record
        return DiffRow(key=format_key(e.key), case=r.case, target=target_label(r), dtype=r.dtype, check=r.check,
                       old_status=e.old_status, new_status=e.new_status, reason=e.reason, message=e.message,
                       category=e.category, allowed=e.allowed,
                       detail_index=detail_index.get(e.key) if e.new is not None else None,
                       old_ratio=format_ratio(e.old.error_ratio) if e.old else "",
                       new_ratio=format_ratio(e.new.error_ratio) if e.new else "")

    regressions = [e for entries in d.by_category().values() for e in entries]
    return BaselineSection(counts=d.counts(), regressions=[row(e) for e in regressions],
                           fixes=[row(e) for e in d.fixes], changes=[row(e) for e in d.changes],
                           added=len(d.added), removed=len(d.removed), environment_changes=d.environment,
                           baseline_total=len(baseline.results), compared=d.compared, lost=d.lost,
                           removed_targets=_removed_targets(d), removed_unexplained=len(d.removed_unexplained),
                           allow_removed=d.allow_removed, failed=d.has_regressions,
                           failing_regressions=len(d.failing_regressions), summary=summary_line(d),
                           verdict=regression_lines(d))


def _removed_targets(d: Diff) -> list[RemovedTarget]:
    by_target: dict[str, list[Result]] = {}
    for e in d.removed:
        by_target.setdefault(target_label(e.old), []).append(e.old)
    out = []
    for label in sorted(by_target):
        records = by_target[label]
        lost = next((x.subject for x in d.lost if x.covers(records[0])), None)
        out.append(RemovedTarget(label, len(records), len({r.case for r in records}), lost))
    return out
