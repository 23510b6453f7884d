"""Known differences: declared, explained, linked framework behaviours that differ from the oracle.

A known-differences file (default `cases/known_differences.yaml`) is a mapping with a
`known_differences:` list. Each entry:

    - id: keras-transpose-same-crop            # unique, readable
      reason: Why the framework differs.        # required
      link: https://...                         # required: the upstream issue or doc
      match:                                    # every key given must match; lists mean "any of"
        framework: tensorflow
        api: keras.layer
        device: cpu
        dtype: [float16, bfloat16]
        check: [output, output_shape]
        case: "convT*"                          # glob(s) on the case id
        features: [conv_transpose, same]        # the case has all of these (conformance.features)
        status: fail                            # default: fail and error

A `fail`/`error`/`crashed` result that an entry matches becomes `known`: reported, not failing the
gate. An entry that matches no result is stale: it is reported, so fixed upstream bugs are noticed.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from .errors import CaseError, did_you_mean
from .features import FEATURES, case_features
from .loader import item_lines, read_yaml
from .results import FAILING, Result

MATCH_KEYS = ("framework", "api", "device", "precision", "dtype", "check", "case", "features", "status")
ENTRY_KEYS = ("id", "reason", "link", "match")
DEFAULT_STATUSES = ("fail", "error")


@dataclass
class KnownDifference:
    id: str
    reason: str
    link: str
    match: dict
    origin: str = ""

    def matches(self, result: Result, features: set[str]) -> bool:
        statuses = self.match.get("status", DEFAULT_STATUSES)
        return result.status in _as_list(statuses) and self.in_scope(result, features)

    def in_scope(self, result: Result, features: set[str]) -> bool:
        """Matches the result on everything but its status."""
        for key in ("framework", "api", "device", "precision", "dtype", "check"):
            if key in self.match and getattr(result, key) not in _as_list(self.match[key]):
                return False
        if "case" in self.match and not any(fnmatch.fnmatchcase(result.case, p) for p in _as_list(self.match["case"])):
            return False
        return set(_as_list(self.match.get("features", []))) <= features

    def as_record(self) -> dict:
        return {"id": self.id, "reason": self.reason, "link": self.link}


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def load_known(path) -> list[KnownDifference]:
    name = str(path)
    node, data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("known_differences"), list):
        raise CaseError("a known-differences file is a mapping with a 'known_differences:' list", file=name, line=1)
    lines = item_lines(node, "known_differences")
    entries, seen = [], set()
    for raw, line in zip(data["known_differences"], lines):
        def fail(field, message):
            entry_id = raw.get("id") if isinstance(raw, dict) else None
            raise CaseError(message, file=name, line=line, field=field,
                            case_id=None if entry_id is None else f"known difference {entry_id}")
        if not isinstance(raw, dict):
            fail(None, "each entry is a mapping with id, reason, link and match")
        for key in raw:
            if key not in ENTRY_KEYS:
                fail(key, f"unknown key{did_you_mean(key, ENTRY_KEYS)}; allowed: {', '.join(ENTRY_KEYS)}")
        for key in ENTRY_KEYS:
            if not raw.get(key):
                fail(key, "required: every known difference says why, links its source, and selects results")
        if raw["id"] in seen:
            fail("id", "duplicate known-difference id")
        seen.add(raw["id"])
        if not str(raw["link"]).startswith(("http://", "https://")):
            fail("link", f"expected a URL, got {raw['link']!r}")
        match = raw["match"]
        if not isinstance(match, dict):
            fail("match", "expected a mapping of result fields to values")
        for key, value in match.items():
            if key not in MATCH_KEYS:
                fail(f"match.{key}", f"cannot match on this{did_you_mean(key, MATCH_KEYS)}; allowed: {', '.join(MATCH_KEYS)}")
            if key == "features":
                for feat in _as_list(value):
                    if feat not in FEATURES:
                        fail("match.features", f"unknown feature {feat!r}{did_you_mean(feat, FEATURES)}")
        entries.append(KnownDifference(raw["id"], str(raw["reason"]).strip(), raw["link"], match, f"{name}:{line}"))
    return entries


def apply_known(results: list[Result], entries: list[KnownDifference], cases) -> list[dict]:
    """Mark matching failures `known`; return the stale entries."""
    features = {c.id: case_features(c) for c in cases}
    mark_known(results, entries, features)
    return stale_entries(results, entries, features)


def mark_known(results: list[Result], entries: list[KnownDifference], features: dict) -> None:
    """A `fail`/`error`/`crashed` result that an entry matches becomes `known` (first entry wins)."""
    for r in results:
        if r.status not in FAILING:
            continue
        feats = set(features.get(r.case, ()))
        for entry in entries:
            if entry.matches(r, feats):
                r.known = entry.as_record()
                r.message = f"known difference {entry.id}: {r.message}"
                r.status = "known"
                break


def stale_entries(results: list[Result], entries: list[KnownDifference], features: dict) -> list[dict]:
    """Entries that explained no result although results in their scope ran.

    An entry whose scope (its match without the status) holds no result at all, e.g. its framework
    was not run, is not stale: it could not have matched.
    """
    used = {r.known["id"] for r in results if r.known}
    pending = [e for e in entries if e.id not in used]
    scoped = set()
    for r in results:
        if not pending:
            break
        feats = set(features.get(r.case, ()))
        for entry in pending:
            if entry.in_scope(r, feats):
                scoped.add(entry.id)
        pending = [e for e in pending if e.id not in scoped]
    return [{"id": e.id, "origin": e.origin, "reason": e.reason, "link": e.link}
            for e in entries if e.id in scoped]
