"""How much of the feature model's valid t-way combinations a set of cases covers, and which are missing."""
from __future__ import annotations

from dataclasses import dataclass

from conformance.spec import feature_model as fm
from conformance.wording import plural

STRENGTHS = (2, 3)


@dataclass(frozen=True)
class Coverage:
    t: int
    valid: int
    covered: int
    missing: tuple  # the valid combinations no case covers, in the model's order

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.valid if self.valid else 100.0


def coverage(cases, t: int) -> Coverage:
    rows = [row for c in cases for row in fm.case_rows(c)]
    covered = fm.covered_combinations(rows, t)
    valid = fm.valid_combinations(t)
    missing = tuple(c for c in valid if c not in covered)
    return Coverage(t, len(valid), len(valid) - len(missing), missing)


def summary_line(cov: Coverage) -> str:
    return f"{cov.t}-way: {cov.covered} of {cov.valid} valid combinations covered ({cov.percent:.1f}%)"


def text(results: list[Coverage], n_cases: int, limit: int | None) -> str:
    """The report `conformance coverage` prints: the numbers, then the missing combinations, at most
    `limit` of each strength (None: all)."""
    lines = [f"{plural(n_cases, 'case')}, {len(fm.FACTORS)} factors: "
             + "; ".join(f"{f.name} ({'/'.join(f.levels)})" for f in fm.FACTORS)]
    lines += [summary_line(c) for c in results]
    for cov in results:
        if not cov.missing:
            continue
        shown = cov.missing if limit is None else cov.missing[:limit]
        more = "" if len(shown) == len(cov.missing) else f", the first {len(shown)} (--all lists every one)"
        lines.append(f"missing {cov.t}-way combinations: {len(cov.missing)}{more}")
        lines += [f"  {fm.describe(c)}" for c in shown]
    return "\n".join(lines) + "\n"


def as_json(results: list[Coverage], n_cases: int) -> dict:
    return {"cases": n_cases,
            "factors": {f.name: list(f.levels) for f in fm.FACTORS},
            "coverage": {str(c.t): {"valid": c.valid, "covered": c.covered, "percent": round(c.percent, 2),
                                    "missing": [{fm.NAMES[f]: level for f, level in m} for m in c.missing]}
                         for c in results}}
