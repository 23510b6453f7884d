"""Hypothesis profiles, the `explore` marker's opt-in, and TensorFlow's oneDNN switch for this process.

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

from conformance.spec.frameworks import kind_variables

# The tests that load adapters in this process load the `tensorflow` kind, whose workers run with
# oneDNN off; TensorFlow reads the switch once, at import, and some tests import it directly, so it
# is set before anything can import TensorFlow. The oneDNN kind is tested through its workers. So the
# user's TF_ENABLE_ONEDNN_OPTS, and the CPU's default, change nothing here.
os.environ.update(kind_variables("tensorflow"))

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
