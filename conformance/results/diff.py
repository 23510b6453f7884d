"""Compare two runs record by record: what regressed, what got fixed, what else changed.

Records are matched by `Result.key` (case, framework, api, device, precision, dtype, threads, check).
Statuses are ordered from best to worst: `pass` < `known` < `unsupported` < failing (`fail`, `error`,
`crashed`, `flaky`: `records.FAILING`, all equally bad). For a key present in both runs:

- worse is a regression, and every regression fails the comparison, in one of these categories:
  `newly failing` (anything not failing -> failing), `newly refused` (pass or known -> unsupported:
  the new version refuses what the old one computed or explained), `newly known` (pass -> known: the
  upgrade walked into a documented difference);
- better is a fix (known -> pass, unsupported -> pass or known, failing -> pass, known or unsupported);
- a change is one failing status to another (fail -> error: it failed in the baseline already), or a
  record that passes in both runs but whose error ratio grew more than `RATIO_GROWTH` times to at
  least `RATIO_FLOOR` of its bound (still inside the bound, but heading for it; tiny ratios that grow
  from 1e-6 to 1e-4 are noise and are not reported).

Keys present in one run only are `added` or `removed`. An added record that fails is a regression
too (`added failing`: a new case or target that does not conform is news); a removed record is never
a fix.

Nothing may pass silently: a removed record fails the comparison, and a framework, device or API
that has records in the baseline but was skipped in the new run (it failed to start, is not
installed, sees no GPU) is `lost`, which fails it whatever the user allows: only leaving something
out of the selection is a choice. The user opts out explicitly and narrowly (`--allow`, `ALLOWABLE`):
`refusals` (newly refused records do not fail), `known` (newly known ones do not), `removed`
(removed records do not). An allowed regression is still listed, marked allowed.

The two runs' environments are compared first (results/environment_diff.py), so that a regression is
read next to "the baseline ran on another CPU" or "with oneDNN off". The terminal text is
results/diff_text.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from conformance.errors import UsageError, did_you_mean
from conformance.results.environment_diff import EnvChange, describe_environment, environment_changes
from conformance.results.records import KEY_FIELDS, Result, RunResults, as_float

# From best to worst; every status of records.FAILING (and any status this version does not know)
# ranks as the last, "failing".
STATUS_ORDER = ("pass", "known", "unsupported", "failing")
FAILING_RANK = len(STATUS_ORDER) - 1
# The categories of an entry. Regressions, in the order the terminal lists them:
NEWLY_FAILING = "newly failing"  # anything not failing -> fail, error, crashed or flaky
ADDED_FAILING = "added failing"  # a key only in the new run, whose record fails
NEWLY_REFUSED = "newly refused"  # pass or known -> unsupported
NEWLY_KNOWN = "newly known"  # pass -> known
REGRESSION_CATEGORIES = (NEWLY_FAILING, ADDED_FAILING, NEWLY_REFUSED, NEWLY_KNOWN)
FIXED = "fixed"  # better: failing -> anything else, unsupported -> pass or known, known -> pass
STILL_FAILING = "still failing"  # one failing status to another: a change
RATIO_GREW = "ratio grew"  # passes in both, its error ratio grew (RATIO_GROWTH, RATIO_FLOOR): a change
ADDED, REMOVED = "added", "removed"
# What `--allow WORD` lets through: the word -> the category that then does not fail the comparison.
ALLOWABLE = {"refusals": NEWLY_REFUSED, "known": NEWLY_KNOWN, "removed": REMOVED}
RATIO_GROWTH = 10.0
RATIO_FLOOR = 0.1
FAILED_TO_START = "failed to start: "  # the prefix of the skip of a framework that did not start (run/selection.py)


# The category of a worse status, by where it went.
WORSENED_TO = {"failing": NEWLY_FAILING, "unsupported": NEWLY_REFUSED, "known": NEWLY_KNOWN}


def status_rank(status: str) -> int:
    """A status's place in STATUS_ORDER (0 best)."""
    return STATUS_ORDER.index(status) if status in STATUS_ORDER[:-1] else FAILING_RANK


def status_category(old: str, new: str) -> str:
    """The category of a key whose status went from `old` to `new` (two different statuses)."""
    before, after = status_rank(old), status_rank(new)
    if after > before:
        return WORSENED_TO[STATUS_ORDER[after]]
    return FIXED if after < before else STILL_FAILING


def parse_allow(words: Iterable[str] | None, option: str = "--allow") -> frozenset[str]:
    """The `--allow` words, checked: each must be one of ALLOWABLE's."""
    out = set()
    for word in words or ():
        if word not in ALLOWABLE:
            listed = ", ".join(f"{w} ({c} does not fail)" for w, c in ALLOWABLE.items())
            raise UsageError(f"{option} {word!r}: unknown category{did_you_mean(word, ALLOWABLE)}; allowed: {listed}")
        out.add(word)
    return frozenset(out)


def allow_option(category: str) -> str | None:
    """The `--allow WORD` that lets a category through (None: nothing does)."""
    return next((word for word, c in ALLOWABLE.items() if c == category), None)


@dataclass(frozen=True)
class Entry:
    """One key of the diff: its record in each run (None where the run has no such record)."""

    key: tuple
    old: Result | None
    new: Result | None
    reason: str = "status"  # 'status' | 'ratio' | 'added' | 'removed'
    category: str = ""  # one of the categories above
    allowed: bool = False  # a regression that --allow lets through

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
                 category=self.category, allowed=self.allowed, message=self.message)
        if self.reason == "ratio":
            d.update(old_ratio=ratio_of(self.old), new_ratio=ratio_of(self.new))
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
    regressions: list[Entry] = field(default_factory=list)  # allowed ones too (Entry.allowed)
    fixes: list[Entry] = field(default_factory=list)
    changes: list[Entry] = field(default_factory=list)
    added: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    unchanged: int = 0  # keys in both runs with nothing to report
    lost: list[Lost] = field(default_factory=list)
    environment: list[EnvChange] = field(default_factory=list)
    compared: dict = field(default_factory=dict)  # {"baseline": ..., "new": ...}: describe_environment
    allow: frozenset = frozenset()  # the --allow words (ALLOWABLE) the comparison was made with

    @property
    def allow_removed(self) -> bool:
        return "removed" in self.allow

    @property
    def failing_regressions(self) -> list[Entry]:
        """The regressions that fail the comparison: those no --allow lets through."""
        return [e for e in self.regressions if not e.allowed]

    @property
    def has_regressions(self) -> bool:
        """The gate's verdict: a record that regressed (and was not allowed), coverage lost, or
        records removed unasked."""
        return bool(self.failing_regressions or self.lost) or self.removed_fails

    @property
    def removed_fails(self) -> bool:
        return bool(self.removed) and not self.allow_removed

    @property
    def removed_unexplained(self) -> list[Entry]:
        """Removed records that no lost framework, device or API accounts for."""
        return [e for e in self.removed if not any(lost.covers(e.old) for lost in self.lost)]

    def by_category(self) -> dict[str, list[Entry]]:
        """The regressions by category, in REGRESSION_CATEGORIES' order, each in key order."""
        return {c: es for c in REGRESSION_CATEGORIES if (es := [e for e in self.regressions if e.category == c])}

    def counts(self) -> dict[str, int]:
        return {"regressions": len(self.regressions), "allowed": len(self.regressions) - len(self.failing_regressions),
                "fixes": len(self.fixes), "changes": len(self.changes),
                "added": len(self.added), "removed": len(self.removed), "unchanged": self.unchanged,
                "lost": len(self.lost), "environment": len(self.environment)}

    def to_dict(self) -> dict:
        return {"failed": self.has_regressions, "allow": sorted(self.allow),
                "allowed_categories": [ALLOWABLE[w] for w in sorted(self.allow)],
                "allow_removed": self.allow_removed, "counts": self.counts(),
                "regression_categories": {c: len(es) for c, es in self.by_category().items()},
                "compared": self.compared, "environment": [c.to_dict() for c in self.environment],
                "lost": [x.to_dict() for x in self.lost],
                **{name: [e.to_dict() for e in getattr(self, name)]
                   for name in ("regressions", "fixes", "changes", "added", "removed")}}


def diff(base: RunResults, new: RunResults, *, allow: Iterable[str] = ()) -> Diff:
    """Match the records of two runs by key and sort each difference into its category; compare
    their environments and find what the new run skipped that the baseline ran. `allow`: the
    --allow words (ALLOWABLE), checked by `parse_allow`."""
    allow = parse_allow(allow)
    allowed = {ALLOWABLE[w] for w in allow}
    old_by_key = _by_key(base.results)
    new_by_key = _by_key(new.results)
    out = Diff(allow=allow, environment=environment_changes(base.environment, new.environment),
               compared={"baseline": describe_environment(base.environment),
                         "new": describe_environment(new.environment)},
               lost=lost_coverage(base, new))
    for key in sorted(old_by_key.keys() | new_by_key.keys(), key=_sort_key):
        old, cur = old_by_key.get(key), new_by_key.get(key)
        if old is None:
            failing = status_rank(cur.status) == FAILING_RANK
            entry = Entry(key, None, cur, "added", ADDED_FAILING if failing else ADDED)
            out.added.append(entry)
            if failing:
                out.regressions.append(entry)
        elif cur is None:
            out.removed.append(Entry(key, old, None, "removed", REMOVED, allowed=REMOVED in allowed))
        elif old.status != cur.status:
            category = status_category(old.status, cur.status)
            entry = Entry(key, old, cur, "status", category, allowed=category in allowed)
            {FIXED: out.fixes, STILL_FAILING: out.changes}.get(category, out.regressions).append(entry)
        elif cur.status == "pass" and _ratio_grew(old, cur):
            out.changes.append(Entry(key, old, cur, "ratio", RATIO_GREW))
        else:
            out.unchanged += 1
    return out


def format_key(key: tuple) -> str:
    """`case  api@device [precision]  dtype [N threads]  check`, the same order as KEY_FIELDS; the
    thread count where it is not the suite's one thread."""
    k = dict(zip(KEY_FIELDS, key))
    threads = f" [{k['threads']} threads]" if k["threads"] != 1 else ""
    return f"{k['case']}  {format_target(k)}  {k['dtype']}{threads}  {k['check']}"


def format_target(k: Mapping) -> str:
    """`api@device`, and ` [precision]` where it is not the CPU's `defaults`."""
    precision = f" [{k['precision']}]" if k["precision"] != "defaults" else ""
    return f"{k['api']}@{k['device']}{precision}"


def _by_key(results) -> dict[tuple, Result]:
    out: dict[tuple, Result] = {}
    for r in results:
        out[r.key] = r  # a repeated key keeps the last record, as a merge would
    return out


def _sort_key(key: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in key)


def ratio_of(r: Result | None) -> float | None:
    try:
        return as_float(r.error_ratio) if r is not None else None
    except (TypeError, ValueError):
        return None


def _ratio_grew(old: Result, new: Result) -> bool:
    a, b = ratio_of(old), ratio_of(new)
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return False
    return b >= RATIO_FLOOR and b > RATIO_GROWTH * a


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
