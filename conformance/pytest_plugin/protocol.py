"""The short runtest protocol of conformance items: one call report instead of three."""
from __future__ import annotations

import pytest

from conformance.pytest_plugin.items import ConformanceItem
from conformance.pytest_plugin.options import MARKERS

# Options under which an item needs pytest's own setup, call and teardown phases.
PHASED_OPTIONS = ("xmlpath", "usepdb", "trace", "setuponly", "setupplan", "setupshow")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A short protocol for conformance items: one call report instead of three.

    A conformance item has no fixtures and prints nothing, so pytest's setup and teardown phases
    (fixtures, output and log capture, and one report each) do nothing for it. pytest-xdist still
    serialises and sends every report to its controller, so one report instead of three cuts that
    work on every one of the library's thousands of items. pytest's hook wrappers
    around this hook (warnings, for one) still apply, and makereport still turns pytest.xfail into
    an xfail. An item runs pytest's standard protocol wherever something may need the phases:
    --junitxml (it reads a test's properties from the teardown report), --pdb, --trace,
    --setup-only/--setup-plan/--setup-show, and an item carrying a marker that someone added
    (skip, xfail, a plugin's own)."""
    if not isinstance(item, ConformanceItem) or not short_protocol(item):
        return None
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    call = pytest.CallInfo.from_call(item.runtest, when="call", reraise=(pytest.exit.Exception, KeyboardInterrupt))
    report = ihook.pytest_runtest_makereport(item=item, call=call)
    ihook.pytest_runtest_logreport(report=report)
    if report.failed and call.excinfo is not None:
        ihook.pytest_exception_interact(node=item, call=call, report=report)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def short_protocol(item) -> bool:
    config = item.config
    if any(getattr(config.option, name, None) for name in PHASED_OPTIONS):
        return False
    return all(mark.name in MARKERS for mark in item.iter_markers())
