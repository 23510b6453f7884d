"""Result records: the outcome of one check for one (case, target, dtype), and the JSON results file.

The JSON results are the source of truth; the HTML report, diffs and gates are views of it.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import UsageError

SCHEMA_VERSION = 1
STATUSES = ("pass", "fail", "unsupported", "error", "crashed", "known")
# Statuses that fail a run unless a known difference covers them.
FAILING = ("fail", "error", "crashed")
CHECKS = ("output_shape", "output", "weight_shape", "param_count", "grad_input", "grad_weight", "grad_bias")
# Fields that identify a result across runs (for diff and merge).
KEY_FIELDS = ("case", "framework", "api", "device", "precision", "dtype", "check")


@dataclass
class Result:
    case: str
    framework: str
    api: str
    device: str
    dtype: str
    check: str
    status: str
    message: str = ""
    precision: str = "defaults"  # precision profile: 'strict' or 'defaults' (what a user gets)
    max_abs_error: float | None = None
    error_ratio: float | None = None  # worst |got - expected| / bound; 1.0 is the edge
    worst_index: list[int] | None = None
    expected: Any = None  # at the worst element, or the expected shape / count
    got: Any = None
    arithmetic: str | None = None  # the arithmetic whose bound the result fits: float32, tf32, ...
    call: str | None = None  # the native call used, as code a user can run
    detail: dict | None = None  # for the report: values around the worst element, error heatmap
    known: dict | None = None  # the known-difference entry that explains this result
    timings: dict = field(default_factory=dict)  # seconds

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, f) for f in KEY_FIELDS)

    @property
    def target(self) -> str:
        return f"{self.api}@{self.device}"

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: _json_safe(v) for k, v in d.items() if v is not None and v != {} or k in ("message",)}

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _json_safe(value):
    """Infinite or NaN ratios (a NaN output, a zero bound) are written as strings, not invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def as_float(value) -> float | None:
    """Read back a ratio or error written by `_json_safe`."""
    if value is None:
        return None
    return float(value)


@dataclass
class RunResults:
    """Everything one run produced: environment, records, and what was skipped and why."""

    results: list[Result]
    environment: dict = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)  # {framework | target, reason}
    stale_known: list[dict] = field(default_factory=list)  # known-difference entries that matched nothing
    cases: dict = field(default_factory=dict)  # case id -> {description, features, origin}

    def to_dict(self) -> dict:
        ordered = sorted(self.results, key=lambda r: r.key)
        return {
            "schema_version": SCHEMA_VERSION,
            "environment": self.environment,
            "skipped": self.skipped,
            "stale_known": self.stale_known,
            "summary": summarize(ordered),
            "cases": dict(sorted(self.cases.items())),
            "results": [r.to_dict() for r in ordered],
        }

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "results") -> "RunResults":
        if not isinstance(d, dict) or "results" not in d:
            raise UsageError(f"{source}: not a conformance results file (no 'results' list)")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise UsageError(f"{source}: schema_version {version!r} is not supported; this version reads {SCHEMA_VERSION}")
        return cls(results=[Result.from_dict(r) for r in d["results"]], environment=d.get("environment", {}),
                   skipped=d.get("skipped", []), stale_known=d.get("stale_known", []),
                   cases=d.get("cases", {}))

    def write(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path) -> "RunResults":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"{path}: cannot read results: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        return cls.from_dict(data, source=str(path))

    @property
    def unexpected(self) -> list[Result]:
        return [r for r in self.results if r.status in FAILING]


def summarize(results) -> dict:
    """Counts by status, overall and per framework and per target."""
    out: dict[str, Any] = {"total": len(results), "by_status": {}, "by_framework": {}, "by_target": {}}
    for r in results:
        out["by_status"][r.status] = out["by_status"].get(r.status, 0) + 1
        for group, key in (("by_framework", r.framework), ("by_target", r.target)):
            counts = out[group].setdefault(key, {})
            counts[r.status] = counts.get(r.status, 0) + 1
    return out
