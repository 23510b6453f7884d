"""How a record's values read in the report: status order and severity, target labels, the parts of
an expanded case id, filter tokens, ratios, JSON-safe values, and status counts."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Iterable

from conformance.results.records import FAILING, ORACLE_CHECKS, STATUSES, Result, as_float
from conformance.results.records import json_safe as records_json_safe

# Display order of statuses (summary columns, legends).
STATUS_ORDER = ("pass", "fail", "flaky", "known", "unsupported", "error", "crashed")
# Which status colours a cell that holds several: the higher, the more it matters. A numeric or shape
# failure is the finding this suite exists for, so it outranks an adapter error or a crash; a flaky
# result (attempts that disagree) is a finding about the framework too, next to it.
SEVERITY = {"pass": 0, "unsupported": 1, "known": 2, "crashed": 3, "error": 4, "flaky": 5, "fail": 6}
CHECK_ORDER = ORACLE_CHECKS  # the oracle's checks, in the order the results declare them
_BRACKET = re.compile(r"^(?P<base>[^\[]*)\[(?P<label>.*)\]$")

assert set(STATUS_ORDER) == set(STATUSES) == set(SEVERITY)


def target_label(r: Result) -> str:
    """`api@device`, plus `:precision` when the profile is not 'defaults' and `:Nthreads` when the
    worker ran more than the suite's one thread (a case's `threads`); no spaces: a filter token."""
    label = r.target if r.precision == "defaults" else f"{r.target}:{r.precision}"
    return label if r.threads == 1 else f"{label}:{r.threads}threads"


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


def json_safe(value):
    """Plain JSON for the page's script: the results file's rule (`records.json_safe`), keys and
    values JSON has no type for as text."""
    return records_json_safe(value, text=True)


def as_text(value) -> str:
    """Any value as one readable string (environment values, expected/got that are lists)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return json.dumps(json_safe(value), sort_keys=True)


def key_text(key: tuple) -> tuple:
    """A record key as strings, for sorting (None first)."""
    return tuple("" if v is None else str(v) for v in key)


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
