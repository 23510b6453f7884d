"""Hypothesis profiles, and the `explore` marker's opt-in.

Profiles (select with `--hypothesis-profile NAME` or CONFORMANCE_HYPOTHESIS_PROFILE=NAME):
- dev: few examples, for a quick look while editing;
- ci: more examples, with a persistent example database (.hypothesis/ci), so a failure found once is
  tried first on every later run.
Tests marked `explore` (random cases on the real frameworks, minutes) run only when asked for with
`-m explore`; a plain `pytest` deselects them.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILE_VARIABLE = "CONFORMANCE_HYPOTHESIS_PROFILE"

settings.register_profile("dev", max_examples=10, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          database=DirectoryBasedExampleDatabase(".hypothesis/ci"))
if os.environ.get(PROFILE_VARIABLE):
    settings.load_profile(os.environ[PROFILE_VARIABLE])


def pytest_collection_modifyitems(config, items):
    if config.getoption("markexpr"):  # `-m ...` given: the user selects, explore tests included
        return
    keep = [i for i in items if i.get_closest_marker("explore") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i.get_closest_marker("explore") is not None])
        items[:] = keep
