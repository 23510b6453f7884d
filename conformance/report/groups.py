"""The report's compact views of many records: `unsupported` records grouped by (target, reason),
`known` records grouped by (target, known-difference entry), and every case's records on every target
side by side (data the page's script draws a table from).

A whole-library run has tens of thousands of `unsupported` records that repeat a few reasons per
target, and thousands of `known` ones that one entry explains per target (an inference runtime's
lower precision makes every float32 record of it known). One row per group, with its counts, keeps
the page small and readable; the page lists a group's cases or records, from its packed data, when
the group is opened. Every failing record (fail, flaky, error, crashed) keeps its own row
(report/model.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from conformance.report.values import CHECK_ORDER, STATUS_ORDER, format_ratio, json_safe, key_text, target_label
from conformance.results.records import Result

if TYPE_CHECKING:  # report/model.py builds its rows before the groups, and imports this module
    from conformance.report.model import DiscrepancyRow


@dataclass
class UnsupportedGroup:
    """The `unsupported` records of one target that give the same reason."""

    target: str  # target label (api@device, precision when not 'defaults')
    framework: str
    reason: str
    count: int  # records
    cases: list[str]  # distinct case ids, sorted
    dtypes: list[str]
    checks: list[str]
    # The reason's index in the case view's messages: the page lists the group's cases from the case
    # view's records (target, 'unsupported', this reason) rather than the page carrying them twice.
    reason_index: int = 0


def unsupported_groups(records: list[Result], view: "CaseView") -> list[UnsupportedGroup]:
    """One group per (target, reason) of the `unsupported` records: by target, the largest first.
    `view`: the case view of the same records, whose messages the groups' reasons index."""
    members: dict[tuple[str, str], list[Result]] = {}
    for r in records:
        if r.status == "unsupported":
            members.setdefault((target_label(r), r.message or ""), []).append(r)
    index = {m: i for i, m in enumerate(view.messages)}
    groups = [UnsupportedGroup(target=target, framework=rs[0].framework, reason=reason, count=len(rs),
                               cases=sorted({r.case for r in rs}), dtypes=sorted({r.dtype for r in rs}),
                               checks=_check_sorted({r.check for r in rs}), reason_index=index[reason])
              for (target, reason), rs in members.items()]
    return sorted(groups, key=lambda g: (g.target, -g.count, g.reason))


@dataclass
class KnownGroup:
    """The `known` records of one target that one known-difference entry explains."""

    target: str
    framework: str
    entry: str  # the entry's id (conformance/known)
    reason: str  # the entry's reason, as it reads
    count: int
    cases: int  # distinct case ids
    dtypes: list[str]
    checks: list[str]
    worst_ratio: str  # the largest error ratio of its records, as read


def known_groups(rows: list[DiscrepancyRow]) -> list[KnownGroup]:
    """One group per (target, entry) of the `known` discrepancy rows (report/model.py, most severe and
    largest ratio first, so a group's first row is its worst): by target, the largest first. The page
    lists a group's records from the same rows (each row's target and entry id)."""
    members: dict[tuple[str, str], list[DiscrepancyRow]] = {}
    for d in rows:
        if d.status == "known":
            members.setdefault((d.target, str((d.known or {}).get("id", ""))), []).append(d)
    groups = [KnownGroup(target=target, framework=ds[0].framework, entry=entry,
                         reason=str((ds[0].known or {}).get("reason", "")), count=len(ds),
                         cases=len({d.case for d in ds}), dtypes=sorted({d.dtype for d in ds}),
                         checks=_check_sorted({d.check for d in ds}), worst_ratio=ds[0].ratio_text)
              for (target, entry), ds in members.items()]
    return sorted(groups, key=lambda g: (g.target, -g.count, g.entry))


def _check_sorted(checks: set[str]) -> list[str]:
    rank = {c: i for i, c in enumerate(CHECK_ORDER)}
    return sorted(checks, key=lambda c: (rank.get(c, len(rank)), c))


@dataclass
class CaseView:
    """Every record of every case, indexed so that each record is a few small numbers.

    `cases[case_id]` is a list of `[row, target, status, message, ratio]`: indexes into `rows`
    ('check dtype' labels, checks in CHECK_ORDER), `targets`, `statuses` and `messages`, and the error
    ratio of a record that did not pass, as read. What is left out reads as the default: message 0
    (always ""), no ratio; a pass keeps no ratio (a whole-library report is otherwise megabytes of
    them). The script draws one case's table on demand.
    """

    targets: list[str]
    rows: list[str]
    messages: list[str]
    cases: dict[str, list[list]]
    statuses: tuple[str, ...] = STATUS_ORDER

    def to_dict(self) -> dict:
        return json_safe({"targets": self.targets, "rows": self.rows, "statuses": list(self.statuses),
                          "messages": self.messages, "cases": self.cases})


def case_view(records: list[Result], targets: list[str]) -> CaseView:
    """The side-by-side data of every case (records in key order; `targets` as the columns)."""
    rank = {c: i for i, c in enumerate(CHECK_ORDER)}
    rows = sorted({(r.check, r.dtype) for r in records}, key=lambda cd: (rank.get(cd[0], len(rank)), cd))
    row_index = {cd: i for i, cd in enumerate(rows)}
    target_index = {t: i for i, t in enumerate(targets)}
    status_index = {s: i for i, s in enumerate(STATUS_ORDER)}
    messages: dict[str, int] = {"": 0}
    cases: dict[str, list[list]] = {}
    for r in sorted(records, key=lambda r: key_text(r.key)):
        record = [row_index[(r.check, r.dtype)], target_index[target_label(r)], status_index[r.status],
                  messages.setdefault(r.message or "", len(messages)),
                  "" if r.status == "pass" else format_ratio(r.error_ratio)]
        while len(record) > 3 and not record[-1]:  # the defaults: message 0, no ratio
            record.pop()
        cases.setdefault(r.case, []).append(record)
    return CaseView(targets=list(targets), rows=[f"{c} {d}" for c, d in rows], messages=list(messages),
                    cases=cases)
