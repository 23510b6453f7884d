"""The report's tables of counts and facts: the summary by framework, target, device, dtype and
check; the support tables (cases and features against targets); the environment."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from conformance.report.values import CHECK_ORDER, Counts, as_text, base_id, filter_token, id_features, target_label
from conformance.results.environment_diff import environment_items
from conformance.results.records import Result


# ------------------------------------------------------------------------------------------ summary
@dataclass
class SummaryRow:
    label: str
    counts: Counts


@dataclass
class SummaryGroup:
    title: str  # 'Framework', 'Target', 'Device', ...
    rows: list[SummaryRow]


def summary_groups(records: list[Result]) -> list[SummaryGroup]:
    """Counts by framework, target, device, dtype and check."""
    return [
        _summary("Framework", records, lambda r: r.framework),
        _summary("Target", records, target_label),
        _summary("Device", records, lambda r: r.device),
        _summary("Dtype", records, lambda r: r.dtype),
        _summary("Check", records, lambda r: r.check, order=CHECK_ORDER),
    ]


def _summary(title, records, key, order=()) -> SummaryGroup:
    groups: dict[str, Counts] = {}
    for r in records:
        groups.setdefault(key(r), Counts()).add(r.status)
    rank = {v: i for i, v in enumerate(order)}
    labels = sorted(groups, key=lambda g: (rank.get(g, len(rank)), g))
    return SummaryGroup(title, [SummaryRow(g, groups[g]) for g in labels])


# ------------------------------------------------------------------------------------------ support tables
@dataclass
class SupportCell:
    counts: Counts
    filter: str  # text for the discrepancy filter that shows this cell's non-pass records

    @property
    def empty(self) -> bool:
        return self.counts.total == 0


@dataclass
class SupportRow:
    label: str
    kind: str  # 'case' | 'feature'
    cells: list[SupportCell]
    counts: Counts  # over the whole row
    filter: str = ""  # the row's part of its cells' filter text (the column adds the target's)


@dataclass
class SupportTable:
    title: str
    row_header: str
    columns: list[str]  # target labels
    rows: list[SupportRow]

    @property
    def column_filters(self) -> list[str]:
        """Each column's part of its cells' filter text."""
        return [column_filter(c) for c in self.columns]


def case_tags(cases: Mapping[str, dict], tags: Mapping[str, Iterable[str]] | None) -> dict[str, list[str]]:
    """Case id -> its tags: the case's own tags and its derived features (conformance.spec.features),
    as the results file records them, plus any `tags` the caller adds."""
    tag_map: dict[str, list[str]] = {}
    for case_id, info in cases.items():
        tag_map[case_id] = sorted(set(info.get("features", [])) | set(info.get("tags", [])))
    for k, v in (tags or {}).items():
        tag_map[k] = sorted(set(tag_map.get(k, [])) | set(v))
    return tag_map


def support_tables(records: list[Result], targets: list[str], tag_map: Mapping[str, list[str]]) -> list[SupportTable]:
    """One row per case (base id), and one table with one row per derived feature."""
    by_case: dict[str, list[Result]] = {}
    for r in records:
        by_case.setdefault(base_id(r.case), []).append(r)
    by_case = dict(sorted(by_case.items()))
    by_feature, feature_filter = _feature_rows(records, tag_map)
    return [
        support_table("By case", "case", "case", targets, by_case, {k: filter_token(k, "base") for k in by_case}),
        support_table("By feature", "feature", "feature", targets, by_feature, feature_filter),
    ]


def _feature_rows(records: list[Result], tag_map: Mapping[str, list[str]]) -> tuple[dict, dict]:
    """The records of each feature row (check=, dtype=, the id's field=value labels, tag=), tag rows
    first, and the filter text of each row."""
    by_feature: dict[str, list[Result]] = {}
    feature_filter: dict[str, str] = {}
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
    return by_feature, feature_filter


def _feature_rank(name: str) -> int:
    return 0 if name.startswith("tag=") else 2 if name.startswith(("check=", "dtype=")) else 1


def support_table(title: str, row_header: str, kind: str, columns: list[str],
                  groups: Mapping[str, list[Result]], filters: Mapping[str, str]) -> SupportTable:
    rows = []
    for label in groups:
        cells = {c: Counts() for c in columns}
        total = Counts()
        for r in groups[label]:
            cells[target_label(r)].add(r.status)
            total.add(r.status)
        rows.append(SupportRow(label, kind, [SupportCell(cells[c], f"{filters[label]} {column_filter(c)}")
                                             for c in columns], total, filters[label]))
    return SupportTable(title, row_header, columns, rows)


def column_filter(target: str) -> str:
    """The column's part of its cells' filter text."""
    return filter_token(target, "target")


# ------------------------------------------------------------------------------------------ environment
@dataclass
class EnvItem:
    key: str
    value: str
    group: str = ""  # the environment table's section: "run", "host", "frameworks.torch", ...


def _flatten(env: Mapping) -> list[EnvItem]:
    """The leaves in key order (the nested keys sorted level by level, as a reader looks them up)."""
    return [EnvItem(key, _env_text(value, key)) for key, value in environment_items(_sorted(env))]


def _sorted(env: Mapping) -> dict:
    return {k: _sorted(env[k]) if isinstance(env[k], Mapping) else env[k] for k in sorted(env, key=str)}


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
        return ", ".join(as_text(v) for v in value)
    return as_text(value)


def environment_table(env: Mapping) -> list[EnvItem]:
    """The environment's rows in sections: the run's own facts, the host, then each framework."""
    def group(key: str) -> str:
        parts = key.split(".")
        if parts[0] == "frameworks" and len(parts) > 2:
            return ".".join(parts[:2])
        return parts[0] if parts[0] == "host" and len(parts) > 1 else "run"

    items = [EnvItem(i.key, i.value, group(i.key)) for i in _flatten(env)]
    rank = {"run": 0, "host": 1}
    return sorted(items, key=lambda i: (rank.get(i.group, 2), i.group))  # stable: keys stay sorted within
