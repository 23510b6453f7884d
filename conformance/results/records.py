"""Result records: the outcome of one check for one (case, target, dtype), and the JSON results file.

The JSON results are the source of truth; the HTML report, diffs and gates are views of it. How the
file lies on disk (texts stored once, gzip) is conformance/results/layout.py's job.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from conformance.errors import UsageError
from conformance.files import write_atomic
from conformance.results import layout

# 1: every record holds its texts. 2: shared texts stored once in 'texts' (conformance/results/layout.py).
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
STATUSES = ("pass", "fail", "unsupported", "error", "crashed", "known", "flaky")
# Statuses that fail a run unless a known difference covers them. `flaky`: the attempts of a unit
# (retries after a crash or error, or --repeat) gave different statuses (conformance/run/attempts.py).
FAILING = ("fail", "error", "crashed", "flaky")
# Checks against the oracle (conformance/check/evaluate.py).
ORACLE_CHECKS = ("output_shape", "output", "weight_shape", "param_count", "grad_input", "grad_weight", "grad_bias")
# Metamorphic relations (conformance/check/relations.py): the framework against itself, no oracle.
RELATION_CHECKS = ("relation_vjp", "relation_adjoint", "relation_groups", "relation_linear_input",
                   "relation_linear_weight", "relation_permute_out")
CHECKS = ORACLE_CHECKS + RELATION_CHECKS
# Fields that identify a result across runs (for diff and merge).
KEY_FIELDS = ("case", "framework", "api", "device", "precision", "dtype", "threads", "check")


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
    threads: int = 1  # the thread count of the worker that produced it (conformance/run/worker_process.py)
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
    digest: str | None = None  # of the float64 array the framework returned (array checks), for --repeat
    attempts: list | None = None  # [{status, message}] of the earlier attempts (retries, --repeat)
    varies: dict | None = None  # what differed between --repeat attempts of the same status
    stderr: str | None = None  # the tail of the worker's stderr (crashed, error, flaky records)
    rerun: str | None = None  # a command that reruns exactly this (case, target, dtype) unit
    kernels: dict | None = None  # oneDNN kernels of a failing unit's logged re-run (results/kernels.py)

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, f) for f in KEY_FIELDS)

    @property
    def target(self) -> str:
        return f"{self.api}@{self.device}"

    def to_dict(self) -> dict:
        # Not dataclasses.asdict: json_safe copies every list and dict already, and asdict's deep copy
        # on top of it would be most of the time a results file takes to write.
        d = {name: getattr(self, name) for name in RESULT_FIELDS}
        return {k: json_safe(v) for k, v in d.items() if v is not None and v != {} or k in ("message",)}

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        return cls(**{k: v for k, v in d.items() if k in RESULT_FIELDS})


RESULT_FIELDS = tuple(f.name for f in fields(Result))


def json_safe(value, *, text: bool = False):
    """Infinite or NaN ratios (a NaN output, a zero bound) as strings, not invalid JSON (JSON.parse
    has no Infinity either); tuples as lists. `text`: also every key, and every value JSON has no
    type for, as a string (the report's page data)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {(str(k) if text else k): json_safe(v, text=text) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, text=text) for v in value]
    if text and not (value is None or isinstance(value, (str, int, float, bool))):
        return str(value)
    return value


def as_float(value) -> float | None:
    """Read back a ratio or error written by `json_safe`."""
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
        """The file's content: records sorted by key, their shared texts in the `texts` table."""
        head, records, texts = self._file_parts()
        return {**head, "results": records, "texts": texts}

    def _file_parts(self) -> tuple[dict, list[dict], dict]:
        ordered = sorted(self.results, key=lambda r: r.key)
        head = {
            "schema_version": SCHEMA_VERSION,
            "environment": self.environment,
            "skipped": self.skipped,
            "stale_known": self.stale_known,
            "summary": summarize(ordered),
            "cases": dict(sorted(self.cases.items())),
        }
        records, texts = layout.store_texts_once([r.to_dict() for r in ordered])
        return head, records, texts

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "results") -> "RunResults":
        """The content of a file of any version this one reads."""
        if not isinstance(d, dict) or not isinstance(d.get("results"), list):
            raise UsageError(f"{source}: not a conformance results file (no 'results' list)")
        version = d.get("schema_version")
        if version not in READABLE_VERSIONS:
            raise UsageError(f"{source}: schema_version {version!r} is not supported; this version reads "
                             f"{', '.join(map(str, READABLE_VERSIONS))}")
        records = d["results"] if version == 1 else layout.restore_texts(d["results"], d.get("texts", {}), source)
        return cls(results=[Result.from_dict(r) for r in records], environment=d.get("environment", {}),
                   skipped=d.get("skipped", []), stale_known=d.get("stale_known", []),
                   cases=d.get("cases", {}))

    def write(self, path) -> Path:
        """Write the results file; gzip when `path` ends in `.gz`."""
        return write_atomic(path, layout.encode(layout.dump(*self._file_parts()), path))

    @classmethod
    def read(cls, path) -> "RunResults":
        """A results file of any version, plain or gzip, or the record stream (JSON Lines) of a run
        that did not finish."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read results: {exc.strerror}") from None
        text = layout.decode(data, path)
        if layout.is_record_stream(path):
            return RecordStream.read(path, text)
        try:
            content = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        return cls.from_dict(content, source=str(path))

    @property
    def unexpected(self) -> list[Result]:
        return [r for r in self.results if r.status in FAILING]

    @property
    def partial(self) -> str | None:
        """Why the results are incomplete (an interrupted run), or None for a finished run."""
        return self.environment.get("partial")


class RecordStream:
    """Records written as they arrive, one JSON object a line, flushed line by line.

    `conformance run` streams to `<results>.partial.jsonl` beside the results file and removes it
    once the results file is written; after a kill (when nothing else could be written) it holds
    every record that arrived, and `conformance report` / `diff` read it as a partial run.
    """

    SUFFIX = ".partial.jsonl"

    def __init__(self, results_path):
        results_path = Path(results_path)
        self.path = results_path.with_name(results_path.name + self.SUFFIX)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")

    def write(self, records) -> None:
        for r in records:
            self._file.write(json.dumps(r.to_dict()) + "\n")  # to_dict() is already JSON-safe
        self._file.flush()

    def discard(self) -> None:
        """The run's results file is written: the stream is redundant."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def read(path, text: str) -> RunResults:
        lines = text.splitlines()
        results = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                results.append(Result.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, AttributeError) as exc:
                if number == len(lines):  # the line being written when the run was killed
                    break
                raise UsageError(f"{path}:{number}: not a result record: {exc}") from None
        return RunResults(results=results, environment={
            "partial": f"read from the record stream {Path(path).name} of a run that did not finish"})


def summarize(results) -> dict:
    """Counts by status, overall and per framework and per target."""
    out: dict[str, Any] = {"total": len(results), "by_status": {}, "by_framework": {}, "by_target": {}}
    for r in results:
        out["by_status"][r.status] = out["by_status"].get(r.status, 0) + 1
        for group, key in (("by_framework", r.framework), ("by_target", r.target)):
            counts = out[group].setdefault(key, {})
            counts[r.status] = counts.get(r.status, 0) + 1
    return out
