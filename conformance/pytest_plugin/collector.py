"""Results on the controller: every record, from this process or from the xdist workers' reports,
written once as the JSON results and the HTML report (as pytest's junitxml is)."""
from __future__ import annotations

import json

import pytest

from conformance.pytest_plugin.items import CASE_PROPERTY, ENV_PROPERTY, RECORD_PROPERTY
from conformance.pytest_plugin.options import OPT_HTML, OPT_JSON, load_known_for
from conformance.pytest_plugin.session import session_key
from conformance.report.text import describe_skip, varied_lines
from conformance.results.finish import finish_run
from conformance.results.records import RecordStream, Result


class ResultsCollector:
    """Gathers every record (from this process or from xdist workers) and writes JSON and HTML once."""

    def __init__(self, config):
        self.config = config
        self.records: dict = {}
        self.cases: dict = {}
        self.environment: dict = {}
        self.written: list[str] = []
        self.stream = None  # the records as they arrive, beside the JSON results (see RecordStream)

    def pytest_runtest_logreport(self, report):
        if report.when != "call":  # the teardown report carries the same properties again
            return
        for name, value in getattr(report, "user_properties", ()):
            if name == RECORD_PROPERTY:
                r = Result.from_dict(json.loads(value))
                self.records[r.key] = r
                if self.stream is None and self.config.getoption(OPT_JSON):
                    self.stream = RecordStream(self.config.getoption(OPT_JSON))
                if self.stream is not None:
                    self.stream.write([r])
            elif name == CASE_PROPERTY:
                self.cases.update(json.loads(value))
            elif name == ENV_PROPERTY and not self.environment:
                self.environment = json.loads(value)

    def pytest_sessionfinish(self, session, exitstatus):
        json_path, html_path = self.config.getoption(OPT_JSON), self.config.getoption(OPT_HTML)
        if not (json_path or html_path) or not self.records:
            return
        state = self.config.stash.get(session_key, None)
        env = dict(self.environment)
        skipped = env.pop("skipped", [])
        partial = None
        if exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail:
            why = session.shouldstop or session.shouldfail or "interrupted"
            partial = f"the pytest session stopped early ({why}): the results hold only the items that ran"
        known = state.known() if state is not None else load_known_for(self.config)
        run = finish_run(list(self.records.values()), env, skipped, self.cases, known, partial)
        if json_path:
            self.written.append(f"conformance results: {run.write(json_path)}")
            if self.stream is not None:
                self.stream.discard()
        if html_path:
            from conformance.report.html import write_report  # Jinja: only when a report is written

            self.written.append(f"conformance report: {write_report(run, html_path)}")

    def pytest_terminal_summary(self, terminalreporter):
        state = self.config.stash.get(session_key, None)
        if state is not None:
            for skip in state.skipped:
                terminalreporter.write_line(f"conformance skipped {describe_skip(skip)}")
        # --conformance-repeat: this process's records, and under xdist those that came in reports
        varied = {r.key: r for r in (state.varied if state is not None else ())}
        varied.update((k, r) for k, r in self.records.items() if r.varies)
        for line in varied_lines(list(varied.values())):
            terminalreporter.write_line(f"conformance {line}")
        for line in self.written:
            terminalreporter.write_line(line)
