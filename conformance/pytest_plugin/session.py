"""The pytest process's engine: the options as a Selection, the framework worker pool (started when
the first case file is collected), the requests planned from the selected items, and their records.

Items are duck-typed (anything with `request_key`, `result_key`, `case` and the target fields), so
that this module does not import the items that call it.
"""
from __future__ import annotations

import pytest

from conformance.adapters.base import Target
from conformance.check.evaluate import checks_for
from conformance.check.relations import relations_for
from conformance.errors import UsageError
from conformance.pytest_plugin.options import (OPT_HTML, OPT_JOBS, OPT_JSON, OPT_TARGETS, load_known_for,
                                               selection_of, with_option_name)
from conformance.results.records import Result
from conformance.run.attempts import Attempts
from conformance.run.environment import host_environment
from conformance.run.pool import WorkerPool
from conformance.run.selection import default_jobs, plan_targets, resolve_frameworks
from conformance.run.suite import dtypes_for, units_for

LOOKAHEAD = 6  # (case, framework) requests submitted ahead of the running item, to keep workers busy
SHARED_CACHE_INPUT = "conformance_shared_cache"  # the xdist controller's folder, in each worker's workerinput
session_key = pytest.StashKey["ConformanceSession"]()


def session_for(config) -> "ConformanceSession":
    """The session of this pytest process, created (options read) on first use."""
    if session_key not in config.stash:
        config.stash[session_key] = ConformanceSession(config)
    return config.stash[session_key]


class ConformanceSession:
    """Options, the framework worker pool (started on first use) and the records received."""

    def __init__(self, config):
        self.config = config
        opt = config.getoption
        self.selection = selection_of(config)
        self.selection.validate()
        self._pool = None
        self._attempts = None  # conformance.run.attempts.Attempts: retries, repeats, final records
        self.varied: list = []  # records whose values differed between --conformance-repeat attempts
        self.usage_error: str | None = None  # found once the workers said which targets they have
        # Each record travels in its item's report (to the xdist controller) only where it is
        # written: otherwise serialising, sending and parsing ~25k records is work for nothing.
        self.wants_records = bool(opt(OPT_JSON) or opt(OPT_HTML))
        self.lookahead = LOOKAHEAD
        self._plan = None  # framework -> [(api, device, profile)]
        self.skipped: list[dict] = []
        self._env = None
        self._env_sent = False
        self._known = None
        self._requests: list = []  # (case id, framework) in run order
        self._request_items: dict = {}  # request key -> items needing it
        self._position: dict = {}  # item nodeid -> index in self._requests
        self._submitted: set = set()
        self._records: dict = {}
        self._cases_sent: set = set()
        self.seen_cases: dict = {}  # case id -> the first case with it, across the collected files

    # -- planning (needs the workers: which devices does each framework see?)
    def _start(self):
        frameworks, self.skipped = resolve_frameworks(self.selection)
        jobs = self.config.getoption(OPT_JOBS)
        if jobs is None:  # under xdist the xdist workers are the parallelism: one request each
            jobs = 1 if hasattr(self.config, "workerinput") else default_jobs()
        # Requests submitted ahead keep this process's framework workers busy. Not under xdist: this
        # process runs only the items the xdist controller hands it, so a request ahead may well be
        # another xdist worker's, and computing it here too would waste a core.
        self.lookahead = 0 if hasattr(self.config, "workerinput") else max(LOOKAHEAD, 3 * jobs)
        shared_cache = getattr(self.config, "workerinput", {}).get(SHARED_CACHE_INPUT, self.selection.shared_cache)
        self._pool = WorkerPool(frameworks, timeout=self.selection.timeout, jobs=jobs, known=self.known(),
                                shared_cache=shared_cache, stream=True, capture=not self.selection.verbose)
        # The run's environment, filled in once the workers said what they run on: the known
        # differences' `when:` read it when the attempts mark the records.
        self._env = {"host": host_environment(), "seed": self.selection.seed, "frameworks": {}}
        self._attempts = Attempts(self._pool, self.selection, known=self.known(), environment=self._env)
        try:
            self._plan, self._env["frameworks"], skips = plan_targets(self._pool.start(), self.selection)
        except UsageError as exc:  # --conformance-targets selects nothing this machine has: said once,
            self.usage_error = with_option_name(OPT_TARGETS, str(exc))  # after collection (pytest_collection_modifyitems)
            self._plan, skips = {}, []
        self.skipped.extend(skips)

    def targets(self):
        if self._plan is None:
            self._start()
        return [(fw, api, device, profile) for fw, triples in self._plan.items() for api, device, profile in triples]

    def dtypes_for(self, case):
        return dtypes_for(case, self.selection)

    def checks_for(self, case, framework, api, device):
        checks = checks_for(case, Target(framework, api, device))
        return checks + relations_for(case) if self.selection.relations else checks

    def environment(self):
        self._env_sent = True
        return {**(self._env or {}), "skipped": self.skipped}

    def environment_pending(self) -> bool:
        return not self._env_sent

    def first_item_of_case(self, item) -> bool:
        if item.case.id in self._cases_sent:
            return False
        self._cases_sent.add(item.case.id)
        return True

    # -- running
    def plan_requests(self, items):
        """After selection (-k, -m, deselect): what each (case, framework) request must compute."""
        self._requests, self._request_items, self._position = [], {}, {}
        for item in items:
            key = getattr(item, "request_key", None)
            if key is None:  # not a conformance item
                continue
            if key not in self._request_items:
                self._request_items[key] = []
                self._requests.append(key)
            self._request_items[key].append(item)
            self._position[item.nodeid] = len(self._requests) - 1

    def result_for(self, item):
        key = item.result_key
        if key not in self._records:
            position = self._position.get(item.nodeid)
            if position is None:  # not planned (a plugin reordered or added items): run it alone
                self._request_items.setdefault(item.request_key, []).append(item)
                self._requests.append(item.request_key)
                position = self._position[item.nodeid] = len(self._requests) - 1
            for ahead in self._requests[position:position + self.lookahead]:
                self._submit(ahead)
            self._submit(item.request_key)
            while key not in self._records and self._attempts.pending:
                self._attempts.wait(block=0.5)
                self._receive()
        if key not in self._records:
            return Result(case=item.case.id, framework=item.framework, api=item.api, device=item.device,
                          dtype=item.dtype, check=item.check, precision=item.profile, status="error",
                          message="the worker returned no record for this check")
        return self._records[key]

    def _submit(self, key):
        if key in self._submitted:
            return
        self._submitted.add(key)
        case, triples, dtypes = self._request_spec(key)
        self._attempts.submit(key, case, units_for(key[1], triples, dtypes))
        self._receive()  # refused at once (the framework's worker is not running)

    def _request_spec(self, key):
        """The case, (api, device, profile) triples and dtypes that the items of a request need."""
        items = self._request_items[key]
        return (items[0].case, sorted({(i.api, i.device, i.profile) for i in items}),
                sorted({i.dtype for i in items}))

    def _receive(self):
        """The final records of the units whose attempts are all in, known differences applied
        (conformance/run/attempts.py)."""
        for _, records in self._attempts.take():
            for r in records:
                self._records[(r.case, r.framework, r.api, r.device, r.precision, r.dtype, r.check)] = r
            self.varied.extend(r for r in records if r.varies)

    def known(self):
        if self._known is None:
            self._known = load_known_for(self.config)
        return self._known

    def close(self):
        if self._pool is not None:
            self._pool.close()
            self._pool = None


