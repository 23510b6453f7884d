"""pytest plugin: case files are test files, every (case, target, dtype, check) a test item.

    pytest cases/                       the conformance suite on the installed frameworks
    pytest cases/ -m "torch and conv_transpose" -k float32
    pytest cases/ -n auto --conformance-html reports/report.html

Item ids read like `cases/transposed.yaml::tf_same_k3_s2[torch.functional-cpu-float32-output]`.
pass -> passed; fail, flaky, error, crashed -> failed (with a readable discrepancy and a reproducer);
unsupported -> skipped (with the reason); known -> xfailed (with the known difference).

pytest registers this module (the `pytest11` entry point), so every hook is an attribute of it;
the work is done by its modules: options (registration, validation), items (collection), session
(the worker pool and the records), protocol (the short runtest protocol), sharding, collector (JSON
and HTML on the controller).

Nothing heavy is imported: frameworks run in worker processes (conformance.run.suite), started
when the first case file is collected. Under pytest-xdist each worker runs its own framework
workers; where --conformance-json or --conformance-html asks for them, the records travel to the
controller in the reports' user_properties, and only the controller writes the JSON results and the
HTML report (as pytest's junitxml does).
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from conformance import adapters
from conformance.errors import ConformanceError
from conformance.pytest_plugin.collector import ResultsCollector
from conformance.pytest_plugin.items import CaseFile
from conformance.pytest_plugin.options import OPT_SHARD, add_options, register_markers, selection_of, validate_options
from conformance.pytest_plugin.protocol import pytest_runtest_protocol
from conformance.pytest_plugin.session import SHARED_CACHE_INPUT, session_key
from conformance.pytest_plugin.sharding import keep_shard
from conformance.spec.loader import is_case_file
from conformance.spec import frameworks

__all__ = ["pytest_addoption", "pytest_configure", "pytest_unconfigure", "pytest_configure_node",
           "pytest_collect_file", "pytest_runtest_protocol", "pytest_collection_modifyitems",
           "pytest_report_header"]

_CASES_LINE = re.compile(r"^cases\s*:", re.MULTILINE)
collector_key = pytest.StashKey[ResultsCollector]()
shared_cache_key = pytest.StashKey[str]()


def pytest_addoption(parser):
    add_options(parser)


def pytest_configure(config):
    try:
        validate_options(config)
        register_markers(config)  # the kinds' markers: a malformed target plugin stops here, in one line
    except ConformanceError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not hasattr(config, "workerinput"):  # the controller (or a plain run) gathers every record
        config.stash[collector_key] = ResultsCollector(config)
        config.pluginmanager.register(config.stash[collector_key], "conformance-results")


def pytest_unconfigure(config):
    state = config.stash.get(session_key, None)
    if state is not None:
        state.close()
    shared = config.stash.get(shared_cache_key, None)
    if shared is not None:  # the controller's, once its xdist workers have finished
        shutil.rmtree(shared, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist's controller, before it starts each worker: one folder for the caches of every
    xdist worker's framework workers (JAX's compilation cache), so that a program compiled in one
    xdist worker is loaded by the others rather than compiled again."""
    config = node.config
    kept = selection_of(config).shared_cache  # --conformance-cache-dir: kept between runs
    if kept:
        node.workerinput[SHARED_CACHE_INPUT] = kept
        return
    if shared_cache_key not in config.stash:
        config.stash[shared_cache_key] = tempfile.mkdtemp(prefix="conformance-shared-cache-")
    node.workerinput[SHARED_CACHE_INPUT] = config.stash[shared_cache_key]


def pytest_collect_file(file_path: Path, parent):
    if is_case_file(file_path) and _CASES_LINE.search(_read(file_path)):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    state = config.stash.get(session_key, None)
    if state is not None and state.usage_error:
        raise pytest.UsageError(state.usage_error)
    if state is not None:
        if config.getoption(OPT_SHARD) is not None:
            keep_shard(config, items)
        state.plan_requests(items)


def pytest_report_header(config):
    lines = []
    for name in frameworks.kinds():
        missing = adapters.missing_packages(name)
        lines.append(f"{name}: " + ("installed" if not missing else f"skipped, not installed ({', '.join(missing)})"))
    return "conformance: " + "; ".join(lines)
