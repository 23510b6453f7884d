"""Loading and selecting the cases of a run, and the per-case table kept in the results."""
from __future__ import annotations

import fnmatch

from conformance.spec.case import Case
from conformance.errors import CaseError
from conformance.spec.features import case_features
from conformance.spec.loader import DEFAULT_MEMORY_BUDGET, load_cases


def load_selected_cases(paths, ids=None, memory_budget: int | None = DEFAULT_MEMORY_BUDGET) -> list[Case]:
    """The cases of `paths`; with `ids`, only those `select_ids` picks (in library order)."""
    cases = load_cases(*paths, memory_budget=memory_budget)
    if ids:
        chosen = select_ids([c.id for c in cases], ids)
        cases = [c for c in cases if c.id in chosen]
        if not cases:
            raise CaseError(f"no case id matches {', '.join(ids)}")
    return cases


def select_ids(known_ids, values) -> set[str]:
    """The ids that `--case-id` values select. A value equal to an id selects that id alone, so an id
    copied from the output, brackets included (`conv2d[stride=2,padding=same]`), means that case: as
    a glob its brackets would be a character class. A value no id equals is a glob (*, ?, [seq])."""
    known_ids = list(known_ids)
    literal = set(known_ids)
    chosen = set()
    for value in values:
        if value in literal:
            chosen.add(value)
        else:
            chosen.update(i for i in known_ids if fnmatch.fnmatchcase(i, value))
    return chosen


def case_table(cases) -> dict:
    """case id -> what a report shows about the case itself."""
    return {c.id: {"description": c.describe(), "features": case_features(c), "tags": list(c.tags),
                   "origin": f"{c.origin[0]}:{c.origin[1]}" if c.origin else None, "dtypes": list(c.dtypes)}
            for c in cases}
