"""What the HTML report shows, as plain data: dataclasses with no HTML and no escaped strings in them.

`build_model(results, baseline=None)` turns a `RunResults` (and optionally the results of an earlier
run) into a `ReportModel`; `conformance.report.html` renders it with a Jinja2 template. The same
model gives the JSON the report's script reads (`ReportModel.script_data`). Its tables are in
`report/tables.py`, the grouped unsupported records and the side-by-side case data in
`report/groups.py`, the baseline section in `report/baseline.py`, how values read in `report/values.py`.
"""
from __future__ import annotations

import base64
import gzip
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from conformance.report.baseline import BaselineSection, baseline_section
from conformance.report.groups import (CaseView, KnownGroup, UnsupportedGroup, case_view, known_groups,
                                      unsupported_groups)
from conformance.report.tables import (EnvItem, SummaryGroup, SupportTable, case_tags, environment_table,
                                       summary_groups, support_tables)
from conformance.report.values import (SEVERITY, STATUS_ORDER, Counts, as_text, format_ratio, json_safe,
                                       key_text, ratio_value, target_label)
from conformance.repro import case_files_option, command_line
from conformance.results.kernels import kernel_lines
from conformance.results.records import ORACLE_CHECKS, Result, RunResults


@dataclass
class DiscrepancyRow:
    """One non-pass record other than `unsupported` (those are grouped), with everything its detail view shows."""

    index: int  # position in ReportModel.discrepancies; the `#detail=N` fragment opens it
    key: tuple  # Result.key
    case: str
    framework: str
    api: str
    device: str
    target: str  # target label (api@device, precision when not 'defaults')
    precision: str
    dtype: str
    check: str
    status: str
    message: str
    error_ratio: float | None
    max_abs_error: float | None
    worst_index: list[int] | None
    expected: Any
    got: Any
    arithmetic: str | None
    call: str | None
    detail: dict | None
    known: dict | None
    baseline_status: str | None = None  # the status of the same key in the baseline, when one is given
    tags: list[str] = field(default_factory=list)
    story: dict = field(default_factory=dict)  # attempts, stderr, rerun, varies (run/attempts.py), kernels (run/kernel_log.py)
    repro: str = ""  # the `conformance repro` command that writes the unit's standalone script

    @property
    def ratio_text(self) -> str:
        return format_ratio(self.error_ratio)

    def to_dict(self) -> dict:
        """What the detail view's script reads (JSON-safe)."""
        return json_safe({
            "index": self.index, "case": self.case, "framework": self.framework, "target": self.target,
            "precision": self.precision, "dtype": self.dtype, "check": self.check, "status": self.status,
            "message": self.message, "error_ratio": self.error_ratio, "ratio_text": self.ratio_text,
            "max_abs_error": self.max_abs_error, "worst_index": self.worst_index,
            "expected": self.expected, "got": self.got, "arithmetic": self.arithmetic,
            "detail": self.detail, "known": self.known, "baseline_status": self.baseline_status,
            "story": self.story, "repro": self.repro,
        })


def _story(r: Result) -> dict:
    """What the attempts of a record's unit left: earlier attempts, the worker's stderr, the command
    that reruns the unit, the values that varied between repeats, and the oneDNN kernels of its
    logged re-run (only those present)."""
    story = {"attempts": r.attempts, "stderr": r.stderr, "rerun": r.rerun, "varies": r.varies,
             "kernels": r.kernels and {"rerun": r.kernels.get("rerun"), "lines": kernel_lines(r.kernels)}}
    return {k: v for k, v in story.items() if v}


def _discrepancy_order(r: Result) -> tuple:
    ratio = ratio_value(r.error_ratio)
    ratio = -math.inf if ratio is None else (math.inf if math.isnan(ratio) else ratio)
    return (-SEVERITY.get(r.status, 0), -ratio, key_text(r.key))


def _repro_command(r: Result, seed: int, origins: Mapping[str, str]) -> str:
    """`conformance repro` of the record's unit; `--cases` names the case's file where it is not
    in the library (its origin, as the results file records it, is outside cases/)."""
    return command_line(r.case, f"{r.api}@{r.device}", r.dtype, profile=r.precision, seed=seed,
                        cases=case_files_option(origins.get(r.case)))


def discrepancy_rows(records: list[Result], baseline: RunResults | None,
                     tag_map: Mapping[str, list[str]], *, seed: int = 0,
                     origins: Mapping[str, str] | None = None) -> list[DiscrepancyRow]:
    """Every record that is neither a pass nor unsupported, the most severe and the largest ratio first.
    `seed` and `origins` (case id -> its file:line) make each row's `conformance repro` command."""
    base_status = {r.key: r.status for r in baseline.results} if baseline is not None else {}
    rows = []
    for r in sorted((r for r in records if r.status not in ("pass", "unsupported")), key=_discrepancy_order):
        rows.append(DiscrepancyRow(
            index=len(rows), key=r.key, case=r.case, framework=r.framework, api=r.api, device=r.device,
            target=target_label(r), precision=r.precision, dtype=r.dtype, check=r.check, status=r.status,
            message=r.message or "", error_ratio=ratio_value(r.error_ratio),
            max_abs_error=ratio_value(r.max_abs_error), worst_index=r.worst_index,
            expected=r.expected, got=r.got, arithmetic=r.arithmetic, call=r.call, detail=r.detail,
            known=r.known, baseline_status=base_status.get(r.key) if baseline is not None else None,
            tags=tag_map.get(r.case, []), story=_story(r),
            repro="" if r.check not in ORACLE_CHECKS else _repro_command(r, seed, origins or {}),
        ))
    return rows


@dataclass
class ReportModel:
    title: str
    total: int
    counts: Counts
    unexpected: int  # fail + flaky + error + crashed (results.FAILING)
    summary: list[SummaryGroup]
    environment: list[EnvItem]
    skipped: list[EnvItem]  # (framework or target, reason)
    stale_known: list[EnvItem]  # (entry id, the rest of the entry)
    targets: list[str]
    frameworks: list[str]
    support_tables: list[SupportTable]
    discrepancies: list[DiscrepancyRow]  # every record neither pass nor unsupported: the detail views' data
    unsupported: list[UnsupportedGroup]
    case_view: CaseView
    calls: str = ""  # packed_calls()
    baseline: BaselineSection | None = None
    statuses: tuple[str, ...] = STATUS_ORDER
    partial: str | None = None  # why the run is incomplete (interrupted), shown above the verdict
    varied: list[EnvItem] = field(default_factory=list)  # records whose values differed between --repeat attempts
    # the tags of the cases in `discrepancies` and `unsupported` (the filter's tag:)
    case_tags: dict[str, list[str]] = field(default_factory=dict)
    known: list[KnownGroup] = field(default_factory=list)  # the `known` discrepancies, grouped

    @property
    def failing_rows(self) -> list[DiscrepancyRow]:
        """The discrepancies with a row of their own in the table: all but the known ones (grouped)."""
        return [d for d in self.discrepancies if d.status != "known"]

    @property
    def verdict(self) -> str:
        return "fail" if self.unexpected else "pass"

    def script_data(self) -> dict:
        """The JSON the page's script reads: the detail of every discrepancy row, by index; the tags of
        the discrepancies' and the grouped unsupported records' cases; every case's records side by side. A row's `known` is
        an index into `known`: the records of one known difference share its entry, which would
        otherwise repeat hundreds of times. The page carries it packed (`pack_json`); the native calls
        travel in a block of their own (`packed_calls`), unpacked only when one is shown."""
        known = _Interned()
        rows = []
        for d in self.discrepancies:
            row = d.to_dict()
            row["known"] = known.index(row["known"])
            rows.append(row)
        return {"discrepancies": rows, "known": known.items, "statuses": list(STATUS_ORDER), "severity": SEVERITY,
                "case_tags": self.case_tags, "case_view": self.case_view.to_dict()}


def pack_json(value) -> str:
    """`value` as compact JSON, compressed with gzip and encoded in base64: how the page carries its
    data. A whole-library report's data is megabytes of JSON that repeat the same few names, ids and
    messages; gzip makes it about a tenth, which the page's script unpacks (DecompressionStream) on
    load. The same value always gives the same text (no time stamp in the gzip header)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)).decode("ascii")


def packed_calls(records: list[Result]) -> str:
    """Every unit's native call, {case: {target label: {dtype: call}}}, as JSON compressed with gzip
    and encoded in base64, for the porting view and the discrepancies' detail. A whole-library report
    holds about ten thousand calls, megabytes of text that differ in a few arguments: gzip makes them
    a few hundred kilobytes, which the page's script unpacks (DecompressionStream) when a case or a
    detail is first shown. The same records always give the same text (no time stamp in the header)."""
    calls: dict = {}
    for r in records:
        if r.call:
            calls.setdefault(r.case, {}).setdefault(target_label(r), {})[r.dtype] = r.call
    return pack_json(calls)


class _Interned:
    """Distinct values in the order first seen; `index(None)` and `index("")` stay as they are."""

    def __init__(self):
        self.items: list = []
        self._at: dict[str, int] = {}

    def index(self, value):
        if not value:
            return value
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in self._at:
            self._at[key] = len(self.items)
            self.items.append(value)
        return self._at[key]


def build_model(results: RunResults, baseline: RunResults | None = None, *,
                title: str = "Convolution conformance report",
                tags: Mapping[str, Iterable[str]] | None = None, allow: Iterable[str] = ()) -> ReportModel:
    """The report's data for one run; `baseline` adds the 'against baseline' section (`allow`: the
    --allow words, the regressions that comparison lets through).

    `tags` (case id -> tags, e.g. from the loaded case files) adds one support-table row per tag; the
    results file records case ids only, so without it the feature rows come from the ids and records.
    """
    records = sorted(results.results, key=lambda r: key_text(r.key))
    counts = Counts()
    for r in records:
        counts.add(r.status)
    targets = sorted({target_label(r) for r in records})
    tag_map = case_tags(results.cases, tags)
    origins = {case: str((facts or {}).get("origin", "")) for case, facts in (results.cases or {}).items()
               if isinstance(facts, dict)}
    discrepancies = discrepancy_rows(records, baseline, tag_map, seed=int(results.environment.get("seed") or 0),
                                     origins=origins)
    view = case_view(records, targets)
    groups = unsupported_groups(records, view)
    section = None
    if baseline is not None:
        section = baseline_section(baseline, results, {x.key: x.index for x in discrepancies}, allow=allow)
    return ReportModel(
        title=title, total=len(records), counts=counts, unexpected=counts.unexpected,
        summary=summary_groups(records), environment=environment_table(results.environment),
        partial=results.partial, varied=_varied(records),
        skipped=[EnvItem(str(s.get("target") or s.get("framework") or "?"), str(s.get("reason", "")))
                 for s in results.skipped],
        stale_known=[EnvItem(str(s.get("id", "?")), as_text({k: v for k, v in s.items() if k != "id"}))
                     for s in results.stale_known],
        targets=targets, frameworks=sorted({r.framework for r in records}),
        support_tables=support_tables(records, targets, tag_map), discrepancies=discrepancies,
        unsupported=groups, known=known_groups(discrepancies), case_view=view, calls=packed_calls(records), baseline=section,
        case_tags={c: tag_map[c] for c in sorted({c for g in groups for c in g.cases} | {d.case for d in discrepancies})
                   if tag_map.get(c)},
    )


def _varied(records: list[Result]) -> list[EnvItem]:
    """The records whose values differed between --repeat attempts, and what differed."""
    return [EnvItem(f"{r.case} [{target_label(r)} {r.dtype} {r.check}]",
                    f"{r.status}; " + "; ".join(f"{k}: {', '.join(map(as_text, v))}" for k, v in r.varies.items()))
            for r in records if r.varies]
