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
        threads: 2                              # the worker thread count (a case's `threads`)
        check: [output, output_shape]
        case: "convT*"                          # glob(s) on the case id
        features: [conv_transpose, same]        # the case has all of these (conformance.spec.features)
        status: fail                            # default: fail and error
      when:                                     # optional: conditions on the run's environment
        tensorflow.onednn.enabled: false        # the record's framework section (its worker)
        host.cpu.isa.avx512f: false             # the host section
        tensorflow.version: ">=2.21,<2.23"      # a version range

A result whose status an entry matches (`fail` and `error` by default; `crashed` and `flaky` only
where `status` names them) becomes `known`: reported, not failing the gate. An entry that matches no
result is stale: it is reported, so fixed upstream bugs are noticed; except an entry that matches
only `crashed` or `flaky` records, since an intermittent crash need not happen in every run.

`when:` scopes an entry to the platforms where the difference exists. Each key is a dotted path into
the environment the results record (`conformance run` writes it to the JSON results):
`host.X.Y` is `environment["host"]["X"]["Y"]`; `<framework>.X` (a framework name first) is the
section of the record's own framework, `environment["frameworks"][<framework>]["X"]`, so it holds
only for that framework's records. A value is a scalar (equal; a number also equals its string
form, so `TF_ENABLE_ONEDNN_OPTS: 0` is the variable's "0"; `null` is a recorded null), a list
(any of), or a version comparison: a string starting with `>=`, `<=`, `>`, `<`, `==` or `!=`,
comma-separated for a range, compared on the release numbers (2.21 == 2.21.0; 2.22.0rc1 < 2.22).
The entry applies to a record only where every condition holds. A condition on a fact the
environment does not record (its framework did not run, or an older version does not report it)
does not hold. An entry is stale only where its conditions held for a record in its scope and it
explained nothing. A `known` record keeps, under `known["when"]`, the recorded values that held.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

import yaml

from conformance.errors import CaseError, did_you_mean
from conformance.spec.features import FEATURES
from conformance.spec import frameworks
from conformance.spec.loader import item_lines, read_yaml
from conformance.results.records import FAILING, Result

MATCH_KEYS = ("framework", "api", "device", "precision", "dtype", "threads", "check", "case", "features", "status")
ENTRY_KEYS = ("id", "reason", "link", "match", "when")
REQUIRED_KEYS = ("id", "reason", "link", "match")
DEFAULT_STATUSES = ("fail", "error")
SCALARS = (str, int, float, bool, type(None))
OPERATORS = (">=", "<=", "==", "!=", ">", "<")  # two-character ones first: ">=" is not ">" then "="
_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+)*(?:(?:a|b|rc|dev)\d*)?)\s*$")
_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[.-]?(dev|a|alpha|b|beta|rc)\.?(\d*))?")
_PRE_RANK = {"dev": 0, "a": 1, "alpha": 1, "b": 2, "beta": 2, "rc": 3}
_MISSING = object()


# ------------------------------------------------------------------------- conditions
@dataclass(frozen=True)
class Condition:
    """One `when:` item: the fact at `path` equals one of `values`, or satisfies a version range."""

    path: str
    values: tuple  # each a scalar, or a VersionRange

    def value_in(self, result: Result, environment: dict | None):
        """The recorded fact when the condition holds for the record; `_MISSING` when it does not."""
        fact = lookup(self.path, result.framework, environment)
        if fact is _MISSING:
            return _MISSING
        return fact if any(_satisfies(fact, wanted) for wanted in self.values) else _MISSING


@dataclass(frozen=True)
class VersionRange:
    text: str
    clauses: tuple  # (operator, version key)

    def contains(self, version) -> bool:
        key = version_key(version)
        return key is not None and all(_compare(key, op, bound) for op, bound in self.clauses)


def lookup(path: str, framework: str, environment: dict | None):
    """The fact at a `when:` path for a record of `framework`, or `_MISSING` when not recorded."""
    head, *rest = path.split(".")
    environment = environment or {}
    if head == "host":
        node = environment.get("host")
    elif head == framework:
        node = (environment.get("frameworks") or {}).get(head)
    else:  # another framework's facts: not this record's environment
        return _MISSING
    for key in rest:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _satisfies(fact, wanted) -> bool:
    if isinstance(wanted, VersionRange):
        return isinstance(fact, (str, int, float)) and not isinstance(fact, bool) and wanted.contains(fact)
    if isinstance(fact, bool) or isinstance(wanted, bool):  # true is not 1, false is not 0
        return isinstance(fact, bool) and isinstance(wanted, bool) and fact == wanted
    if isinstance(fact, str) != isinstance(wanted, str) and isinstance(fact, (str, int, float)) \
            and isinstance(wanted, (str, int, float)):
        return str(fact) == str(wanted)  # an environment variable's "0" and a YAML 0
    return fact == wanted


def version_key(version) -> tuple | None:
    """A sortable key of a version's release numbers and pre-release (local and post parts ignored):
    2.21 == 2.21.0, 2.22.0rc1 < 2.22.0. None for a value that is not a version."""
    m = _VERSION.match(str(version).strip())
    if not m:
        return None
    release = tuple(int(p) for p in m.group(1).split("."))
    pre = (0, _PRE_RANK[m.group(2)], int(m.group(3) or 0)) if m.group(2) else (1, 0, 0)
    return release, pre


def _compare(key: tuple, op: str, bound: tuple) -> bool:
    (release, pre), (bound_release, bound_pre) = key, bound
    width = max(len(release), len(bound_release))
    a = (release + (0,) * (width - len(release)), pre)
    b = (bound_release + (0,) * (width - len(bound_release)), bound_pre)
    return {">=": a >= b, "<=": a <= b, "==": a == b, "!=": a != b, ">": a > b, "<": a < b}[op]


def parse_version_range(text: str) -> VersionRange | None:
    """A `>=2.21,<2.23` string as a VersionRange; None when any clause is not `<op><version>`."""
    clauses = []
    for part in text.split(","):
        m = _CLAUSE.match(part)
        if not m:
            return None
        clauses.append((m.group(1), version_key(m.group(2))))
    return VersionRange(text, tuple(clauses))


# ------------------------------------------------------------------------- entries
@dataclass
class KnownDifference:
    id: str
    reason: str
    link: str
    match: dict
    origin: str = ""
    when: tuple = field(default_factory=tuple)  # Conditions, all of which must hold

    @property
    def intermittent(self) -> bool:
        """Matches only crashes and flaky records, which need not happen in every run."""
        return set(_as_list(self.match.get("status", DEFAULT_STATUSES))) <= {"crashed", "flaky"}

    def matches(self, result: Result, features: set[str], environment: dict | None = None) -> bool:
        return self.explains(result, features, environment) is not None

    def explains(self, result: Result, features: set[str], environment: dict | None) -> dict | None:
        """The `known` record for a result this entry matches (status included) where its
        conditions hold, else None."""
        statuses = self.match.get("status", DEFAULT_STATUSES)
        if result.status not in _as_list(statuses) or not self._selects(result, features):
            return None
        held = self.held(result, environment)
        return None if held is None else self.as_record(held)

    def in_scope(self, result: Result, features: set[str], environment: dict | None = None) -> bool:
        """Matches the result on everything but its status, and its conditions hold for it."""
        return self._selects(result, features) and self.held(result, environment) is not None

    def held(self, result: Result, environment: dict | None) -> dict | None:
        """{path: recorded value} when every condition holds for the result's environment, else None."""
        values = {}
        for condition in self.when:
            value = condition.value_in(result, environment)
            if value is _MISSING:
                return None
            values[condition.path] = value
        return values

    def _selects(self, result: Result, features: set[str]) -> bool:
        for key in ("framework", "api", "device", "precision", "dtype", "threads", "check"):
            if key in self.match and getattr(result, key) not in _as_list(self.match[key]):
                return False
        if "case" in self.match and not any(fnmatch.fnmatchcase(result.case, p) for p in _as_list(self.match["case"])):
            return False
        return set(_as_list(self.match.get("features", []))) <= features

    def as_record(self, held: dict | None = None) -> dict:
        record = {"id": self.id, "reason": self.reason, "link": self.link}
        if held:
            record["when"] = held
        return record


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


# ------------------------------------------------------------------------- loading
def load_known(path) -> list[KnownDifference]:
    name = str(path)
    node, data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("known_differences"), list):
        raise CaseError("a known-differences file is a mapping with a 'known_differences:' list", file=name, line=1)
    lines = item_lines(node, "known_differences")
    when_lines = _when_lines(node)
    entries, seen = [], set()
    for index, (raw, line) in enumerate(zip(data["known_differences"], lines)):
        at = when_lines[index] if index < len(when_lines) else {}
        entries.append(_entry(raw, f"{name}:{line}", _failing(raw, name, line), at, seen))
    return entries


def _failing(raw, name: str, line: int):
    """`fail(field, message, at=None)`: raises the CaseError of entry `raw` (declared at `line` of
    file `name`; `at`: the line of the field, where known)."""
    def fail(field, message, at=None):
        entry_id = raw.get("id") if isinstance(raw, dict) else None
        raise CaseError(message, file=name, line=at or line, field=field,
                        case_id=None if entry_id is None else f"known difference {entry_id}")
    return fail


def _entry(raw, origin: str, fail, at: dict, seen: set) -> KnownDifference:
    """One entry of the file, checked (`seen`: the ids before it; `at`: the lines of its `when:` keys)."""
    if not isinstance(raw, dict):
        fail(None, "each entry is a mapping with id, reason, link and match (and optionally when)")
    for key in raw:
        if key not in ENTRY_KEYS:
            fail(key, f"unknown key{did_you_mean(key, ENTRY_KEYS)}; allowed: {', '.join(ENTRY_KEYS)}")
    for key in REQUIRED_KEYS:
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
    when = _conditions(raw.get("when"), match, lambda f, m, key=None: fail(f, m, at.get(key)))
    return KnownDifference(raw["id"], str(raw["reason"]).strip(), raw["link"], match, origin, when)


def _conditions(when, match: dict, fail) -> tuple:
    """The `when:` mapping as Conditions; `fail(field, message, key)` reports a bad one."""
    if when is None:
        return ()
    if not isinstance(when, dict) or not when:
        fail("when", "expected a mapping of environment paths to values, e.g. "
                     "'tensorflow.onednn.enabled: false' or 'host.cpu.isa.avx512f: true'")
    heads = ("host",) + frameworks.kinds()
    matched = _as_list(match["framework"]) if "framework" in match else None
    conditions = []
    for path, value in when.items():
        where = f"when.{path}"
        parts = str(path).split(".")
        if not isinstance(path, str) or len(parts) < 2 or not all(parts):
            fail(where, "expected a dotted path of two or more names, starting with 'host' or a framework "
                        f"({', '.join(heads)}), e.g. 'host.cpu.isa.avx512f'", path)
        if parts[0] not in heads:
            fail(where, f"unknown section {parts[0]!r}{did_you_mean(parts[0], heads)}; a path starts with "
                        f"{', '.join(heads)}", path)
        if parts[0] != "host" and matched is not None and parts[0] not in matched:
            fail(where, f"never holds: a {parts[0]!r} path looks up the record's own framework section, and "
                        f"this entry matches only {', '.join(map(str, matched))} records", path)
        conditions.append(Condition(path, tuple(_wanted(v, where, fail, path) for v in _values(value, where, fail, path))))
    return tuple(conditions)


def _values(value, where: str, fail, path) -> list:
    if isinstance(value, list):
        if not value:
            fail(where, "an empty list never holds; give one value or several", path)
        return value
    return [value]


def _wanted(value, where: str, fail, path):
    allowed = ("allowed: a scalar (string, number, true/false, null), a list of them (any of), or a "
               "version comparison such as '>=2.21' or '>=2.21,<2.23'")
    if not isinstance(value, SCALARS):
        fail(where, f"expected a value, got a {type(value).__name__}; {allowed}", path)
    if isinstance(value, str) and value.lstrip().startswith(OPERATORS + ("=",)):
        parsed = parse_version_range(value)
        if parsed is None:
            fail(where, f"not a version comparison: {value!r}; each comma-separated part is an operator "
                        f"({', '.join(OPERATORS)}) and a version, e.g. '>=2.21' or '>=2.21,<2.23'", path)
        return parsed
    return value


def _when_lines(root) -> list[dict]:
    """Per entry of the `known_differences` list: {when key: its line}, for errors that point at it."""
    out = []
    for key, seq in getattr(root, "value", ()):
        if getattr(key, "value", None) != "known_differences" or not isinstance(seq, yaml.SequenceNode):
            continue
        for item in seq.value:
            lines = {}
            for k, v in getattr(item, "value", ()) if isinstance(item, yaml.MappingNode) else ():
                if getattr(k, "value", None) == "when" and isinstance(v, yaml.MappingNode):
                    lines = {getattr(wk, "value", None): wk.start_mark.line + 1 for wk, _ in v.value}
            out.append(lines)
    return out


# ------------------------------------------------------------------------- applying
def mark_known(results: list[Result], entries: list[KnownDifference], features: dict,
               environment: dict | None) -> None:
    """A `fail`/`error`/`crashed` result that an entry matches where its `when:` holds in the run's
    `environment` becomes `known` (first entry wins)."""
    for r in results:
        if r.status not in FAILING:
            continue
        feats = set(features.get(r.case, ()))
        for entry in entries:
            record = entry.explains(r, feats, environment)
            if record is not None:
                r.known = record
                r.message = f"known difference {entry.id}: {r.message}"
                r.status = "known"
                break


def stale_entries(results: list[Result], entries: list[KnownDifference], features: dict,
                  environment: dict | None) -> list[dict]:
    """Entries that explained no result although results in their scope ran where their conditions held.

    An entry whose scope (its match without the status, and its `when:`) holds no result at all, e.g.
    its framework was not run or the run's platform is not the one it describes, is not stale: it
    could not have matched. Nor is an entry that matches only `crashed` or `flaky` records: an
    intermittent crash that did not happen in this run says nothing about whether it was fixed.
    """
    used = {r.known["id"] for r in results if r.known}
    pending = [e for e in entries if e.id not in used and not e.intermittent]
    scoped = set()
    for r in results:
        if not pending:
            break
        feats = set(features.get(r.case, ()))
        for entry in pending:
            if entry.in_scope(r, feats, environment):
                scoped.add(entry.id)
        pending = [e for e in pending if e.id not in scoped]
    return [{"id": e.id, "origin": e.origin, "reason": e.reason, "link": e.link}
            for e in entries if e.id in scoped]
