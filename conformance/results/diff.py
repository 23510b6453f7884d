"""Compare two runs record by record: what regressed, what got fixed, what else changed.

Records are matched by `Result.key` (case, framework, api, device, precision, dtype, check).
The categories, for a key present in both runs:

- regression: was pass, known or unsupported, is now failing (fail, error, crashed: `results.FAILING`);
- fix: was fail, error or crashed (any of `results.FAILING`), is now pass or known; or was known
  (a difference the known-differences file explains) and now passes: fixed upstream;
- change: any other status change (pass -> unsupported, fail -> error, fail -> unsupported, ...),
  and a record that passes in both runs but whose error ratio grew more than `RATIO_GROWTH` times
  to at least `RATIO_FLOOR` of its bound (still inside the bound, but heading for it; tiny ratios
  that grow from 1e-6 to 1e-4 are noise and are not reported).

Keys present in one run only are `added` or `removed`. An added record that fails is a regression
too (a new case or target that does not conform is news); a removed record is never a fix.

Nothing may pass silently: a removed record fails the comparison unless the user says removals are
intended (`allow_removed`), and a framework, device or API that has records in the baseline but was
skipped in the new run (it failed to start, is not installed, sees no GPU) is `lost`, which fails
it whatever `allow_removed` says: only leaving something out of the selection is a choice.

The two runs' environments are compared first (results/environment_diff.py), so that a regression is
read next to "the baseline ran on another CPU" or "with oneDNN off".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from conformance.results.environment_diff import EnvChange, describe_environment, environment_changes
from conformance.results.records import FAILING, KEY_FIELDS, Result, RunResults, as_float

# A record was fine before (or refused, or explained) and now fails.
WAS_FINE = ("pass", "known", "unsupported")
# A record failed before and is now fine.
NOW_FINE = ("pass", "known")
RATIO_GROWTH = 10.0
RATIO_FLOOR = 0.1
FAILED_TO_START = "failed to start: "  # the prefix of the skip of a framework that did not start (run/selection.py)


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


@dataclass(frozen=True)
class Lost:
    """A framework, device or API with records in the baseline that the new run skipped."""

    subject: str  # 'jax', 'torch on gpu', 'keras.layer'
    reason: str  # the skip's reason: 'failed to start: ModuleNotFoundError: ...', 'not installed ...'
    records: int  # how many of its records in the baseline the new run lacks
    skip: dict  # the new run's skip entry

    def describe(self) -> str:
        how = (f"failed to start here: {self.reason[len(FAILED_TO_START):]}" if self.reason.startswith(FAILED_TO_START)
               else f"was skipped here: {self.reason}")
        return f"{self.subject} ran in the baseline ({self.records} records) but {how}"

    def covers(self, r: Result) -> bool:
        return _skip_covers(self.skip, r)

    def to_dict(self) -> dict:
        return {"subject": self.subject, "reason": self.reason, "records": self.records, "skip": self.skip}


@dataclass
class Diff:
    regressions: list[Entry] = field(default_factory=list)
    fixes: list[Entry] = field(default_factory=list)
    changes: list[Entry] = field(default_factory=list)
    added: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    unchanged: int = 0  # keys in both runs with nothing to report
    lost: list[Lost] = field(default_factory=list)
    environment: list[EnvChange] = field(default_factory=list)
    compared: dict = field(default_factory=dict)  # {"baseline": ..., "new": ...}: describe_environment
    allow_removed: bool = False  # removed records were intended (--allow-removed): they do not fail

    @property
    def has_regressions(self) -> bool:
        """The gate's verdict: a record that regressed, coverage lost, or records removed unasked."""
        return bool(self.regressions or self.lost) or self.removed_fails

    @property
    def removed_fails(self) -> bool:
        return bool(self.removed) and not self.allow_removed

    @property
    def removed_unexplained(self) -> list[Entry]:
        """Removed records that no lost framework, device or API accounts for."""
        return [e for e in self.removed if not any(lost.covers(e.old) for lost in self.lost)]

    def counts(self) -> dict[str, int]:
        return {"regressions": len(self.regressions), "fixes": len(self.fixes), "changes": len(self.changes),
                "added": len(self.added), "removed": len(self.removed), "unchanged": self.unchanged,
                "lost": len(self.lost), "environment": len(self.environment)}

    def to_dict(self) -> dict:
        return {"failed": self.has_regressions, "allow_removed": self.allow_removed, "counts": self.counts(),
                "compared": self.compared, "environment": [c.to_dict() for c in self.environment],
                "lost": [x.to_dict() for x in self.lost],
                **{name: [e.to_dict() for e in getattr(self, name)]
                   for name in ("regressions", "fixes", "changes", "added", "removed")}}


def diff(base: RunResults, new: RunResults, *, allow_removed: bool = False) -> Diff:
    """Match the records of two runs by key and sort each difference into its category; compare
    their environments and find what the new run skipped that the baseline ran."""
    old_by_key = _by_key(base.results)
    new_by_key = _by_key(new.results)
    out = Diff(allow_removed=allow_removed, environment=environment_changes(base.environment, new.environment),
               compared={"baseline": describe_environment(base.environment),
                         "new": describe_environment(new.environment)},
               lost=lost_coverage(base, new))
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
            elif _is_fix(old.status, cur.status):
                out.fixes.append(entry)
            else:
                out.changes.append(entry)
        elif cur.status == "pass" and _ratio_grew(old, cur):
            out.changes.append(Entry(key, old, cur, "ratio"))
        else:
            out.unchanged += 1
    return out


def format_text(d: Diff, *, limit: int | None = None, gate: bool = True) -> str:
    """For the terminal: what fails the comparison (`gate_lines`, unless `gate` is False because the
    caller printed them first), the two runs compared, their environment differences, the counts,
    then one line per regression, fix and change, and the removed records by target.

    `limit` caps the lines listed per category (None lists all); the counts are always complete.
    """
    c = d.counts()
    lines = gate_lines(d) if gate else []
    lines += [f"baseline: {d.compared.get('baseline', '?')}", f"new:      {d.compared.get('new', '?')}"]
    lines += _environment_lines(d.environment)
    lines.append(f"{c['regressions']} regressions, {c['fixes']} fixes, {c['changes']} other changes, "
                 f"{c['added']} added, {c['removed']} removed, {c['unchanged']} unchanged")
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
    lines += _removed_lines(d, limit)
    return "\n".join(lines)


def gate_lines(d: Diff) -> list[str]:
    """One line for each way the new run lost coverage: a lost framework, device or API with its
    reason, and records removed without --allow-removed. These fail the comparison."""
    lines = [f"conformance: regression: {lost.describe()}" for lost in d.lost]
    unexplained = len(d.removed_unexplained)
    if d.removed_fails and unexplained:
        lines.append(f"conformance: regression: {unexplained} records of the baseline are not in this run (removed); "
                     "pass --allow-removed if cases or targets were removed on purpose")
    return lines


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
        title += f"; {unexplained} not run on purpose, as --allow-removed says"
    elif unexplained:
        title += f"; {unexplained} fail the comparison unless --allow-removed says they were removed on purpose"
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


def _is_fix(old: str, new: str) -> bool:
    # known -> pass: the difference the known-differences file explained is gone (fixed upstream)
    return (old in FAILING and new in NOW_FINE) or (old == "known" and new == "pass")


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


# ------------------------------------------------------------------------- lost coverage
def lost_coverage(base: RunResults, new: RunResults) -> list[Lost]:
    """The frameworks, devices and APIs that the new run skipped (failed to start, not installed, no
    such device) and whose records in the baseline it lacks, with the skip's reason. A skip that
    another part of a merged run made up for (the CPU job had no GPU, the GPU job ran it) loses
    nothing; one shard whose framework failed to start loses that shard's records."""
    new_keys = {r.key for r in new.results}
    out = []
    for skip in _skips(new):
        if not (skip.get("framework") or skip.get("target")):
            continue
        records = sum(_skip_covers(skip, r) and r.key not in new_keys for r in base.results)
        if records:
            out.append(Lost(skip_subject(skip), str(skip.get("reason", "skipped")), records, dict(skip)))
    return out


def _skips(run: RunResults) -> list[dict]:
    """The run's skips, plus a framework the environment says failed to start but no skip names."""
    skips = [s for s in run.skipped if isinstance(s, Mapping)]
    named = {s.get("framework") for s in skips if "target" not in s and "device" not in s}
    envs = [run.environment] + [e for e in run.environment.get("merged_from") or () if isinstance(e, Mapping)]
    for env in envs:
        for name, section in (env.get("frameworks") or {}).items():
            if isinstance(section, Mapping) and section.get("error") and name not in named:
                named.add(name)
                skips.append({"framework": name, "reason": f"{FAILED_TO_START}{section['error']}"})
    return skips


def _skip_covers(skip: Mapping, r: Result) -> bool:
    """Whether a skip entry (framework, and maybe a target API or a device) covers a record."""
    return all(value is None or value == actual for value, actual in
               ((skip.get("framework"), r.framework), (skip.get("target"), r.api), (skip.get("device"), r.device)))


def skip_subject(skip: Mapping) -> str:
    """What a skip entry skipped: `jax`, `keras.layer`, `torch on gpu`."""
    what = skip.get("target") or skip.get("framework")
    return f"{what} on {skip['device']}" if skip.get("device") else str(what)
