"""Loading and selecting the cases of a run, and the per-case table kept in the results."""
from __future__ import annotations

import fnmatch

from .case import Case
from .errors import CaseError
from .features import case_features
from .loader import DEFAULT_MEMORY_BUDGET, load_cases


def load_selected_cases(paths, globs=None, memory_budget: int | None = DEFAULT_MEMORY_BUDGET) -> list[Case]:
    cases = load_cases(*paths, memory_budget=memory_budget)
    if globs:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, g) for g in globs)]
        if not cases:
            raise CaseError(f"no case id matches {', '.join(globs)}")
    return cases


def case_table(cases) -> dict:
    """case id -> what a report shows about the case itself."""
    return {c.id: {"description": c.describe(), "features": case_features(c), "tags": list(c.tags),
                   "origin": f"{c.origin[0]}:{c.origin[1]}" if c.origin else None, "dtypes": list(c.dtypes)}
            for c in cases}
