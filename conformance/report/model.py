"""What the HTML report shows, as plain data: dataclasses with no HTML and no escaped strings in them.

`build_model(results, baseline=None)` turns a `RunResults` (and optionally the results of an earlier
run) into a `ReportModel`; `conformance.report.html` renders it with a Jinja2 template. The same
model gives the JSON the report's script reads (`ReportModel.script_data`).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from conformance.results.diff import Diff, EnvChange, Entry, Lost, diff, format_key
from conformance.results.records import FAILING, STATUSES, Result, RunResults, as_float

# Display order of statuses (summary columns, legends).
STATUS_ORDER = ("pass", "fail", "flaky", "known", "unsupported", "error", "crashed")
# Which status colours a cell that holds several: the higher, the more it matters. A numeric or shape
# failure is the finding this suite exists for, so it outranks an adapter error or a crash; a flaky
# result (attempts that disagree) is a finding about the framework too, next to it.
SEVERITY = {"pass": 0, "unsupported": 1, "known": 2, "crashed": 3, "error": 4, "flaky": 5, "fail": 6}
CHECK_ORDER = ("output_shape", "output", "weight_shape", "param_count", "grad_input", "grad_weight", "grad_bias")
_BRACKET = re.compile(r"^(?P<base>[^\[]*)\[(?P<label>.*)\]$")

assert set(STATUS_ORDER) == set(STATUSES) == set(SEVERITY)


# ------------------------------------------------------------------------------------------ helpers
def target_label(r: Result) -> str:
    """`api@device`, plus `:precision` when the profile is not 'defaults' (no spaces: a filter token)."""
    return r.target if r.precision == "defaults" else f"{r.target}:{r.precision}"


def base_id(case_id: str) -> str:
    """A matrix-expanded id `conv2d[stride=2,padding=same]` -> `conv2d`; other ids unchanged."""
    m = _BRACKET.match(case_id)
    return m.group("base") if m and m.group("base") else case_id


def id_features(case_id: str) -> list[str]:
    """The `field=value` labels of a matrix-expanded id, e.g. ['stride=2', 'padding=same']."""
    m = _BRACKET.match(case_id)
    if not m:
        return []
    parts, depth, cur = [], 0, ""
    for ch in m.group("label"):  # split on commas outside [..] (values like [0,1]x[1,0])
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    parts.append(cur)
    return [p for p in parts if "=" in p]


def filter_token(value: str, field_name: str | None = None) -> str:
    """One token of the report's text filter: `field:value` matches a row's field exactly, a bare
    token matches anywhere in the row's text; either is quoted when it holds spaces or quotes."""
    text = value if not re.search(r'[\s"]', value) else '"' + value.replace('"', "'") + '"'
    return f"{field_name}:{text}" if field_name else text


def ratio_value(value) -> float | None:
    """A ratio as written in the results (a float, or 'inf'/'nan' as a string) as a float, else None."""
    try:
        return as_float(value)
    except (TypeError, ValueError):
        return None


def format_ratio(value) -> str:
    x = ratio_value(value)
    if x is None:
        return ""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf"
    return f"{x:.3g}"


def worst_status(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda s: SEVERITY.get(s, len(SEVERITY)), default="pass")


def _json_safe(value):
    """Plain JSON for the page's script: non-finite floats as strings (JSON.parse has no Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def _text(value) -> str:
    """Any value as one readable string (environment values, expected/got that are lists)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return json.dumps(_json_safe(value), sort_keys=True)


# ------------------------------------------------------------------------------------------ counts
@dataclass
class Counts:
    """How many records of each status; `worst` is the status that colours a cell or a row."""

    by_status: dict[str, int] = field(default_factory=dict)

    def add(self, status: str) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def worst(self) -> str:
        return worst_status(self.by_status)

    @property
    def unexpected(self) -> int:
        return sum(self.by_status.get(s, 0) for s in FAILING)

    def get(self, status: str) -> int:
        return self.by_status.get(status, 0)

    def ordered(self) -> list[tuple[str, int]]:
        """(status, count) for the statuses present, in display order."""
        return [(s, self.by_status[s]) for s in STATUS_ORDER if self.by_status.get(s)]

    def describe(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in self.ordered()) or "no records"


@dataclass
class SummaryRow:
    label: str
    counts: Counts


@dataclass
class SummaryGroup:
    title: str  # 'Framework', 'Target', 'Device', ...
    rows: list[SummaryRow]


# ------------------------------------------------------------------------------------------ matrix
@dataclass
class MatrixCell:
    counts: Counts
    filter: str  # text for the discrepancy filter that shows this cell's non-pass records

    @property
    def empty(self) -> bool:
        return self.counts.total == 0


@dataclass
class MatrixRow:
    label: str
    kind: str  # 'case' | 'feature'
    cells: list[MatrixCell]
    counts: Counts  # over the whole row


@dataclass
class SupportMatrix:
    title: str
    row_header: str
    columns: list[str]  # target labels
    rows: list[MatrixRow]


def _matrix(title: str, row_header: str, kind: str, columns: list[str],
            groups: Mapping[str, list[Result]], filters: Mapping[str, str]) -> SupportMatrix:
    rows = []
    for label in groups:
        cells = {c: Counts() for c in columns}
        total = Counts()
        for r in groups[label]:
            cells[target_label(r)].add(r.status)
            total.add(r.status)
        rows.append(MatrixRow(label, kind, [MatrixCell(cells[c], f"{filters[label]} {filter_token(c, 'target')}") for c in columns],
                              total))
    return SupportMatrix(title, row_header, columns, rows)


# ------------------------------------------------------------------------------------------ discrepancies
@dataclass
class Discrepancy:
    """One non-pass record, with everything its detail view shows."""

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
    story: dict = field(default_factory=dict)  # attempts, stderr, rerun, varies (conformance/run/attempts.py)

    @property
    def base(self) -> str:
        return base_id(self.case)

    @property
    def ratio_text(self) -> str:
        return format_ratio(self.error_ratio)

    @property
    def ratio_sort(self) -> str:
        """A number JavaScript's Number() reads: NaN and inf sort as the worst, no ratio as -1."""
        x = self.error_ratio
        if x is None:
            return "-1"
        if math.isnan(x) or math.isinf(x):
            return "Infinity"
        return repr(x)

    @property
    def severity(self) -> int:
        return SEVERITY.get(self.status, len(SEVERITY))

    @property
    def search_text(self) -> str:
        """What the text filter matches against (lower case)."""
        known = (self.known or {}).get("id", "")
        return " ".join([self.case, self.framework, self.target, self.precision, self.dtype, self.check,
                         self.status, self.message, str(known)]).lower()

    def to_dict(self) -> dict:
        """What the detail view's script reads (JSON-safe)."""
        return _json_safe({
            "index": self.index, "case": self.case, "framework": self.framework, "target": self.target,
            "precision": self.precision, "dtype": self.dtype, "check": self.check, "status": self.status,
            "message": self.message, "error_ratio": self.error_ratio, "ratio_text": self.ratio_text,
            "max_abs_error": self.max_abs_error, "worst_index": self.worst_index,
            "expected": self.expected, "got": self.got, "arithmetic": self.arithmetic, "call": self.call,
            "detail": self.detail, "known": self.known, "baseline_status": self.baseline_status,
            "story": self.story,
        })


def _story(r: Result) -> dict:
    """What the attempts of a record's unit left: earlier attempts, the worker's stderr, the command
    that reruns the unit, and the values that varied between repeats (only those present)."""
    story = {"attempts": r.attempts, "stderr": r.stderr, "rerun": r.rerun, "varies": r.varies}
    return {k: v for k, v in story.items() if v}


def _discrepancy_order(r: Result) -> tuple:
    ratio = ratio_value(r.error_ratio)
    ratio = -math.inf if ratio is None else (math.inf if math.isnan(ratio) else ratio)
    return (-SEVERITY.get(r.status, 0), -ratio, _key_text(r.key))


def _key_text(key: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in key)


# ------------------------------------------------------------------------------------------ baseline
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
    detail_index: int | None  # index of the matching discrepancy in this run, when there is one
    old_ratio: str = ""  # error ratios, formatted, for a 'ratio' change
    new_ratio: str = ""


@dataclass
class RemovedTarget:
    """The records of one target (api@device) that the baseline has and this run lacks."""

    target: str
    records: int
    cases: int
    lost: str | None  # the lost framework, device or API that accounts for them, if one does


@dataclass
class BaselineSection:
    """The comparison with a baseline, as `diff.diff` makes it for the terminal too: the runs
    compared, what fails the comparison, the environment differences, then the record changes."""

    counts: dict[str, int]  # regressions, fixes, changes, added, removed, unchanged, lost, environment
    regressions: list[DiffRow]
    fixes: list[DiffRow]
    changes: list[DiffRow]
    added: int
    removed: int
    environment_changes: list[EnvChange]  # diff.environment_changes: the important groups first
    baseline_total: int
    compared: dict[str, str] = field(default_factory=dict)  # {"baseline": ..., "new": ...}
    lost: list[Lost] = field(default_factory=list)  # coverage the baseline had and this run skipped
    removed_targets: list[RemovedTarget] = field(default_factory=list)
    removed_unexplained: int = 0  # removed records no lost coverage accounts for
    allow_removed: bool = False  # --allow-removed: those do not fail the comparison
    failed: bool = False  # the comparison's verdict (diff.Diff.has_regressions)


# ------------------------------------------------------------------------------------------ the model
@dataclass
class EnvItem:
    key: str
    value: str
    group: str = ""  # the environment table's section: "run", "host", "frameworks.torch", ...


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
    matrices: list[SupportMatrix]
    discrepancies: list[Discrepancy]
    baseline: BaselineSection | None = None
    statuses: tuple[str, ...] = STATUS_ORDER
    partial: str | None = None  # why the run is incomplete (interrupted), shown above the verdict
    varied: list[EnvItem] = field(default_factory=list)  # records whose values differed between --repeat attempts

    @property
    def verdict(self) -> str:
        return "fail" if self.unexpected else "pass"

    def script_data(self) -> dict:
        """The JSON the page's script reads: the detail of every discrepancy row, by index."""
        return {"discrepancies": [d.to_dict() for d in self.discrepancies], "statuses": list(STATUS_ORDER)}


def build_model(results: RunResults, baseline: RunResults | None = None, *,
                title: str = "Convolution conformance report",
                tags: Mapping[str, Iterable[str]] | None = None, allow_removed: bool = False) -> ReportModel:
    """The report's data for one run; `baseline` adds the 'against baseline' section
    (`allow_removed`: the baseline's records this run lacks were removed on purpose).

    `tags` (case id -> tags, e.g. from the loaded case files) adds one matrix row per tag; the
    results file records case ids only, so without it the feature rows come from the ids and records.
    """
    records = sorted(results.results, key=lambda r: _key_text(r.key))
    counts = Counts()
    for r in records:
        counts.add(r.status)

    targets = sorted({target_label(r) for r in records})
    frameworks = sorted({r.framework for r in records})
    summary = [
        _summary("Framework", records, lambda r: r.framework),
        _summary("Target", records, target_label),
        _summary("Device", records, lambda r: r.device),
        _summary("Dtype", records, lambda r: r.dtype),
        _summary("Check", records, lambda r: r.check, order=CHECK_ORDER),
    ]

    # Support matrices: one row per case (base id), and one per derived feature.
    by_case: dict[str, list[Result]] = {}
    for r in records:
        by_case.setdefault(base_id(r.case), []).append(r)
    by_case = dict(sorted(by_case.items()))
    by_feature: dict[str, list[Result]] = {}
    feature_filter: dict[str, str] = {}
    # Rows per tag: the case's own tags and its derived features (conformance.spec.features), as the
    # results file records them, plus any `tags` the caller adds.
    tag_map: dict[str, list[str]] = {}
    for case_id, info in results.cases.items():
        tag_map[case_id] = sorted(set(info.get("features", [])) | set(info.get("tags", [])))
    for k, v in (tags or {}).items():
        tag_map[k] = sorted(set(tag_map.get(k, [])) | set(v))
    for r in records:
        feats = [f"check={r.check}", f"dtype={r.dtype}"] + id_features(r.case)
        feats += [f"tag={t}" for t in tag_map.get(r.case, ())]
        for f in feats:
            by_feature.setdefault(f, []).append(r)
            # check=, dtype=, tag= rows filter on the row's field; an id feature on the id's text
            field_name, _, value = f.partition("=")
            feature_filter[f] = (filter_token(value, field_name) if field_name in ("check", "dtype", "tag")
                                 else filter_token(f))
    by_feature = dict(sorted(by_feature.items(), key=lambda kv: (_feature_rank(kv[0]), kv[0])))
    matrices = [
        _matrix("By case", "case", "case", targets, by_case, {k: filter_token(k, "base") for k in by_case}),
        _matrix("By feature", "feature", "feature", targets, by_feature, feature_filter),
    ]

    d: Diff | None = diff(baseline, results, allow_removed=allow_removed) if baseline is not None else None
    base_status = {r.key: r.status for r in baseline.results} if baseline is not None else {}
    discrepancies = []
    for r in sorted((r for r in records if r.status != "pass"), key=_discrepancy_order):
        discrepancies.append(Discrepancy(
            index=len(discrepancies), key=r.key, case=r.case, framework=r.framework, api=r.api, device=r.device,
            target=target_label(r), precision=r.precision, dtype=r.dtype, check=r.check, status=r.status,
            message=r.message or "", error_ratio=ratio_value(r.error_ratio),
            max_abs_error=ratio_value(r.max_abs_error), worst_index=r.worst_index,
            expected=r.expected, got=r.got, arithmetic=r.arithmetic, call=r.call, detail=r.detail,
            known=r.known, baseline_status=base_status.get(r.key) if baseline is not None else None,
            tags=tag_map.get(r.case, []), story=_story(r),
        ))

    return ReportModel(
        title=title, total=len(records), counts=counts, unexpected=counts.unexpected, summary=summary,
        environment=_environment_table(results.environment),
        partial=results.partial,
        varied=[EnvItem(f"{r.case} [{target_label(r)} {r.dtype} {r.check}]",
                        f"{r.status}; " + "; ".join(f"{k}: {', '.join(map(_text, v))}" for k, v in r.varies.items()))
                for r in records if r.varies],
        skipped=[EnvItem(str(s.get("target") or s.get("framework") or "?"), str(s.get("reason", "")))
                 for s in results.skipped],
        stale_known=[EnvItem(str(s.get("id", "?")), _text({k: v for k, v in s.items() if k != "id"}))
                     for s in results.stale_known],
        targets=targets, frameworks=frameworks, matrices=matrices, discrepancies=discrepancies,
        baseline=_baseline_section(d, baseline, results, discrepancies) if d is not None else None,
    )


def _feature_rank(name: str) -> int:
    return 0 if name.startswith("tag=") else 2 if name.startswith(("check=", "dtype=")) else 1


def _summary(title, records, key, order=()) -> SummaryGroup:
    groups: dict[str, Counts] = {}
    for r in records:
        groups.setdefault(key(r), Counts()).add(r.status)
    rank = {v: i for i, v in enumerate(order)}
    labels = sorted(groups, key=lambda g: (rank.get(g, len(rank)), g))
    return SummaryGroup(title, [SummaryRow(g, groups[g]) for g in labels])


def _flatten(env: Mapping, prefix: str = "") -> list[EnvItem]:
    out = []
    for k in sorted(env, key=str):
        v = env[k]
        name = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out += _flatten(v, name + ".")
        else:
            out.append(EnvItem(name, _env_text(v, name)))
    return out


def _env_text(value, key: str = "") -> str:
    """An environment value as read: flags `yes`/`no`, lists comma-separated, and a null as what it
    means there: an ISA flag that could not be read is `unknown`, a variable (upper case) `not set`."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        last = key.rsplit(".", 1)[-1]
        return "unknown" if ".isa." in key else "not set" if last.isupper() else "none"
    if value == [] or value == {}:
        return "none"
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(_text(v) for v in value)
    return _text(value)


def _environment_table(env: Mapping) -> list[EnvItem]:
    """The environment's rows in sections: the run's own facts, the host, then each framework."""
    def group(key: str) -> str:
        parts = key.split(".")
        if parts[0] == "frameworks" and len(parts) > 2:
            return ".".join(parts[:2])
        return parts[0] if parts[0] == "host" and len(parts) > 1 else "run"

    items = [EnvItem(i.key, i.value, group(i.key)) for i in _flatten(env)]
    rank = {"run": 0, "host": 1}
    return sorted(items, key=lambda i: (rank.get(i.group, 2), i.group))  # stable: keys stay sorted within


def _baseline_section(d: Diff, baseline: RunResults, results: RunResults,
                      discrepancies: list[Discrepancy]) -> BaselineSection:
    index = {x.key: x.index for x in discrepancies}

    def row(e: Entry) -> DiffRow:
        r = e.record
        return DiffRow(key=format_key(e.key), case=r.case, target=target_label(r), dtype=r.dtype, check=r.check,
                       old_status=e.old_status, new_status=e.new_status, reason=e.reason, message=e.message,
                       detail_index=index.get(e.key) if e.new is not None else None,
                       old_ratio=format_ratio(e.old.error_ratio) if e.old else "",
                       new_ratio=format_ratio(e.new.error_ratio) if e.new else "")

    return BaselineSection(counts=d.counts(), regressions=[row(e) for e in d.regressions],
                           fixes=[row(e) for e in d.fixes], changes=[row(e) for e in d.changes],
                           added=len(d.added), removed=len(d.removed), environment_changes=d.environment,
                           baseline_total=len(baseline.results), compared=d.compared, lost=d.lost,
                           removed_targets=_removed_targets(d), removed_unexplained=len(d.removed_unexplained),
                           allow_removed=d.allow_removed, failed=d.has_regressions)


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

