"""Compare two runs record by record: what regressed, what got fixed, what else changed.

Records are matched by `Result.key` (case, framework, api, device, precision, dtype, check).
The categories, for a key present in both runs:

- regression: was pass, known or unsupported, is now fail, error or crashed;
- fix: was fail, error or crashed, is now pass or known;
- change: any other status change (pass -> unsupported, fail -> error, fail -> unsupported, ...),
  and a record that passes in both runs but whose error ratio grew more than `RATIO_GROWTH` times
  to at least `RATIO_FLOOR` of its bound (still inside the bound, but heading for it; tiny ratios
  that grow from 1e-6 to 1e-4 are noise and are not reported).

Keys present in one run only are `added` or `removed`. An added record that fails is a regression
too (a new case or target that does not conform is news); a removed record is never a fix.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .results import FAILING, KEY_FIELDS, Result, RunResults, as_float

# A record was fine before (or refused, or explained) and now fails.
WAS_FINE = ("pass", "known", "unsupported")
# A record failed before and is now fine.
NOW_FINE = ("pass", "known")
RATIO_GROWTH = 10.0
RATIO_FLOOR = 0.1


@dataclass(frozen=True)
class Entry:
    """One key of the diff: its record in each run (None where the run has no such record)."""

    key: tuple
    old: Result | None
    new: Result | None
    reason: str = "status"  # 'status' | 'ratio' | 'added' | 'removed'

    @property
    def old_status(self) -> str | None:
        return self.old.status if self.old else None

    @property
    def new_status(self) -> str | None:
        return self.new.status if self.new else None

    @property
    def record(self) -> Result:
        """The newest record there is for this key."""
        return self.new if self.new is not None else self.old

    @property
    def message(self) -> str:
        return self.record.message or ""

    def describe_key(self) -> str:
        return format_key(self.key)

    def to_dict(self) -> dict:
        d = dict(zip(KEY_FIELDS, self.key))
        d.update(old_status=self.old_status, new_status=self.new_status, reason=self.reason,
                 message=self.message)
        if self.reason == "ratio":
            d.update(old_ratio=_ratio(self.old), new_ratio=_ratio(self.new))
        return d


@dataclass
class Diff:
    regressions: list[Entry] = field(default_factory=list)
    fixes: list[Entry] = field(default_factory=list)
    changes: list[Entry] = field(default_factory=list)
    added: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    unchanged: int = 0  # keys in both runs with nothing to report

    @property
    def has_regressions(self) -> bool:
        return bool(self.regressions)

    def counts(self) -> dict[str, int]:
        return {"regressions": len(self.regressions), "fixes": len(self.fixes), "changes": len(self.changes),
                "added": len(self.added), "removed": len(self.removed), "unchanged": self.unchanged}

    def to_dict(self) -> dict:
        return {"counts": self.counts(),
                **{name: [e.to_dict() for e in getattr(self, name)]
                   for name in ("regressions", "fixes", "changes", "added", "removed")}}


def diff(base: RunResults, new: RunResults) -> Diff:
    """Match the records of two runs by key and sort each difference into its category."""
    old_by_key = _by_key(base.results)
    new_by_key = _by_key(new.results)
    out = Diff()
    for key in sorted(old_by_key.keys() | new_by_key.keys(), key=_sort_key):
        old, cur = old_by_key.get(key), new_by_key.get(key)
        if old is None:
            entry = Entry(key, None, cur, "added")
            out.added.append(entry)
            if cur.status in FAILING:
                out.regressions.append(entry)
        elif cur is None:
            out.removed.append(Entry(key, old, None, "removed"))
        elif old.status != cur.status:
            entry = Entry(key, old, cur, "status")
            if old.status in WAS_FINE and cur.status in FAILING:
                out.regressions.append(entry)
            elif old.status in FAILING and cur.status in NOW_FINE:
                out.fixes.append(entry)
            else:
                out.changes.append(entry)
        elif cur.status == "pass" and _ratio_grew(old, cur):
            out.changes.append(Entry(key, old, cur, "ratio"))
        else:
            out.unchanged += 1
    return out


def format_text(d: Diff, *, limit: int | None = None) -> str:
    """For the terminal: the counts, then one line per regression, fix and change.

    `limit` caps the lines listed per category (None lists all); the counts are always complete.
    """
    c = d.counts()
    lines = [f"{c['regressions']} regressions, {c['fixes']} fixes, {c['changes']} other changes, "
             f"{c['added']} added, {c['removed']} removed, {c['unchanged']} unchanged"]
    for title, entries in (("Regressions", d.regressions), ("Fixes", d.fixes), ("Other changes", d.changes)):
        if not entries:
            continue
        lines.append("")
        lines.append(f"{title}:")
        shown = entries if limit is None else entries[:limit]
        for e in shown:
            lines.append(f"  {_format_entry(e)}")
        if len(shown) < len(entries):
            lines.append(f"  ... and {len(entries) - len(shown)} more")
    return "\n".join(lines)


def format_key(key: tuple) -> str:
    """`case  api@device [precision]  dtype  check`, the same order as KEY_FIELDS."""
    k = dict(zip(KEY_FIELDS, key))
    precision = f" [{k['precision']}]" if k["precision"] != "defaults" else ""
    return f"{k['case']}  {k['api']}@{k['device']}{precision}  {k['dtype']}  {k['check']}"


def _format_entry(e: Entry) -> str:
    old = e.old_status or "(absent)"
    new = e.new_status or "(absent)"
    if e.reason == "ratio":
        status = f"pass, error ratio {_fmt(_ratio(e.old))} -> {_fmt(_ratio(e.new))}"
    else:
        status = f"{old} -> {new}"
    message = " ".join(e.message.split())
    return f"{e.describe_key()}: {status}" + (f": {message}" if message and e.reason != "ratio" else "")


def _by_key(results) -> dict[tuple, Result]:
    out: dict[tuple, Result] = {}
    for r in results:
        out[r.key] = r  # a repeated key keeps the last record, as a merge would
    return out


def _sort_key(key: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in key)


def _ratio(r: Result | None) -> float | None:
    try:
        return as_float(r.error_ratio) if r is not None else None
    except (TypeError, ValueError):
        return None


def _ratio_grew(old: Result, new: Result) -> bool:
    a, b = _ratio(old), _ratio(new)
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return False
    return b >= RATIO_FLOOR and b > RATIO_GROWTH * a


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"
