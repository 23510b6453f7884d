"""Collection: a case file is a pytest file, every (case, target, dtype, check) an item; a case that
does not validate is one failed item. An item's record comes from the session (session.py)."""
from __future__ import annotations

import json

import pytest

from conformance.errors import CaseError
from conformance.pytest_plugin.options import OPT_MAX_MEMORY
from conformance.pytest_plugin.session import session_for
from conformance.report.text import format_discrepancy
from conformance.spec.loader import duplicate_error, load_file, parse_bytes
from conformance.spec.select import case_table

# What an item's report carries to the xdist controller (collector.py), where results are written.
RECORD_PROPERTY = "conformance_result"
CASE_PROPERTY = "conformance_case"
ENV_PROPERTY = "conformance_environment"


class CaseFile(pytest.File):
    def collect(self):
        errors: list[CaseError] = []
        try:
            budget = parse_bytes(self.config.getoption(OPT_MAX_MEMORY))
            cases = load_file(self.path, errors=errors, memory_budget=budget)
        except CaseError as exc:  # the file itself is unusable: one failed item says why
            yield BadCaseItem.from_parent(self, name=self.path.name, error=exc)
            return
        state = session_for(self.config)
        for case in cases:
            first = state.seen_cases.setdefault(case.id, case)
            if first is not case:  # ids are unique across the library, as in `conformance run`
                errors.append(duplicate_error(case, first))
                continue
            for framework, api, device, profile in state.targets():
                for dtype in state.dtypes_for(case):
                    for check in state.checks_for(case, framework, api, device):
                        yield ConformanceItem.from_parent(self, case=case, framework=framework, api=api,
                                                          device=device, profile=profile, dtype=dtype, check=check)
        for exc in errors:  # each bad case is its own failed item; the good cases and files still run
            name = exc.case_id or f"line {exc.line}"
            yield BadCaseItem.from_parent(self, name=f"{name}[invalid]", error=exc)


class BadCaseItem(pytest.Item):
    """A case (or case file) that does not validate: fails with the loader's message, no traceback."""

    def __init__(self, *, error, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def runtest(self):
        raise self.error

    def repr_failure(self, excinfo):
        return str(self.error)

    def reportinfo(self):
        return self.path, (self.error.line or 1) - 1, f"invalid case: {self.name}"


class ConformanceItem(pytest.Item):
    def __init__(self, *, case, framework, api, device, profile, dtype, check, **kwargs):
        label = f"{api}-{device}" + (f"-{profile}" if device == "gpu" or profile == "strict" else "") + f"-{dtype}-{check}"
        super().__init__(name=f"{case.id}[{label}]", **kwargs)
        self.case, self.framework, self.api, self.device = case, framework, api, device
        self.profile, self.dtype, self.check = profile, dtype, check
        self.record = None
        for marker in (framework, case.op) + (("gpu",) if device == "gpu" else ()):
            self.add_marker(marker)

    @property
    def request_key(self):
        return (self.case.id, self.framework)

    @property
    def result_key(self):
        return (self.case.id, self.framework, self.api, self.device, self.profile, self.dtype, self.check)

    def runtest(self):
        state = session_for(self.config)
        self.record = record = state.result_for(self)
        if state.wants_records:  # only the JSON results and the HTML report need them
            self.user_properties.append((RECORD_PROPERTY, json.dumps(record.to_dict())))
            if state.first_item_of_case(self):
                self.user_properties.append((CASE_PROPERTY, json.dumps(case_table([self.case]))))
            if state.environment_pending():
                self.user_properties.append((ENV_PROPERTY, json.dumps(state.environment())))
        if record.status == "unsupported":
            pytest.skip(f"unsupported: {record.message}")
        if record.status == "known":
            pytest.xfail(record.message)
        if record.status != "pass":
            raise ConformanceFailure(record)

    def repr_failure(self, excinfo):
        if excinfo.errisinstance(ConformanceFailure):
            return format_discrepancy(self.case, excinfo.value.record)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        line = self.case.origin[1] - 1 if self.case.origin else 0
        return self.path, line, f"{self.case.id} [{self.api}@{self.device} {self.dtype} {self.check}]"


class ConformanceFailure(Exception):
    def __init__(self, record):
        super().__init__(record.message)
        self.record = record
