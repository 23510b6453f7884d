"""pytest plugin: case files are test files, every (case, target, dtype, check) a test item.

    pytest cases/                       the conformance suite on the installed frameworks
    pytest cases/ -m "torch and conv_transpose" -k float32
    pytest cases/ -n auto --conformance-html reports/report.html

Item ids read like `cases/transposed.yaml::tf_same_k3_s2[torch.functional-cpu-float32-output]`.
pass -> passed; fail, flaky, error, crashed -> failed (with a readable discrepancy and a reproducer);
unsupported -> skipped (with the reason); known -> xfailed (with the known difference).

This module imports nothing heavy: frameworks run in worker processes (conformance.run.suite), started
when the first case file is collected. Under pytest-xdist each worker runs its own framework
workers; where --conformance-json or --conformance-html asks for them, the records travel to the
controller in the reports' user_properties, and only the controller writes the JSON results and the
HTML report (as pytest's junitxml does).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

OPT_FRAMEWORKS = "--conformance-frameworks"
OPT_DEVICES = "--conformance-devices"
OPT_DTYPES = "--conformance-dtypes"
OPT_PRECISION = "--conformance-precision"
OPT_JSON = "--conformance-json"
OPT_HTML = "--conformance-html"
OPT_KNOWN = "--conformance-known"
OPT_SEED = "--conformance-seed"
OPT_TIMEOUT = "--conformance-timeout"
OPT_MAX_MEMORY = "--conformance-max-case-memory"
OPT_JOBS = "--conformance-jobs"
OPT_SHARD = "--conformance-shard"
OPT_RELATIONS = "--conformance-relations"
OPT_TARGETS = "--conformance-targets"
OPT_RETRIES = "--conformance-retries"
OPT_REPEAT = "--conformance-repeat"

RECORD_PROPERTY = "conformance_result"
CASE_PROPERTY = "conformance_case"
ENV_PROPERTY = "conformance_environment"
LOOKAHEAD = 6  # (case, framework) requests submitted ahead of the running item, to keep workers busy
MARKERS = {
    "torch": "conformance items run on PyTorch",
    "tensorflow": "conformance items run on TensorFlow/Keras",
    "jax": "conformance items run on JAX/Flax",
    "conv": "conformance items of a convolution case",
    "conv_transpose": "conformance items of a transposed-convolution case",
    "gpu": "conformance items run on a GPU",
    "explore": "property-based exploration on the real frameworks (slow): run only with -m explore",
}
_CASES_LINE = re.compile(r"^cases\s*:", re.MULTILINE)

SHARED_CACHE_INPUT = "conformance_shared_cache"  # the xdist controller's folder, in each worker's workerinput
session_key = pytest.StashKey["ConformanceSession"]()
collector_key = pytest.StashKey["ResultsCollector"]()
shared_cache_key = pytest.StashKey[str]()


def _csv(value):
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "convolution conformance suite")
    group.addoption(OPT_FRAMEWORKS, metavar="LIST", help="torch,tensorflow,jax (default: every installed one)")
    group.addoption(OPT_DEVICES, metavar="LIST", help="cpu,gpu (default: cpu, plus gpu where present)")
    group.addoption(OPT_DTYPES, metavar="LIST", help="only these of each case's dtypes")
    group.addoption(OPT_PRECISION, metavar="LIST", help="GPU precision profiles: strict,defaults (default: both)")
    group.addoption(OPT_JSON, metavar="PATH", help="write the JSON results here (all items, xdist workers included)")
    group.addoption(OPT_HTML, metavar="PATH", help="write the HTML report here")
    group.addoption(OPT_KNOWN, metavar="PATH", default=None,
                    help="known-differences file (default: known_differences.yaml beside the case files, if any)")
    group.addoption(OPT_SEED, type=int, default=0, help="seed of the random inputs (default: 0)")
    group.addoption(OPT_TIMEOUT, type=float, default=600.0,
                    help="seconds one (case, target, dtype) may take before its worker is stopped (default: 600)")
    group.addoption(OPT_JOBS, type=int, metavar="N", default=None,
                    help="(case, framework) requests run at once by this pytest process (default: 1 under "
                         "pytest-xdist, where each xdist worker has its own, else the number of CPU cores)")
    group.addoption(OPT_SHARD, metavar="I/N", default=None,
                    help="run only shard I of N of the conformance items: the same deterministic split of the "
                         "cases as `conformance run --shard` (the suite's own tests are not sharded)")
    group.addoption(OPT_RELATIONS, action="store_true", default=False,
                    help="also check the metamorphic relations (relation_vjp, relation_adjoint, ...) of every case, "
                         "target and dtype: several extra framework calls per case")
    group.addoption(OPT_TARGETS, metavar="GLOBS", default=None,
                    help="only the targets whose name api@device matches one of these comma-separated globs, e.g. "
                         "tf.nn@cpu, 'torch.*', '*@cpu'")
    group.addoption(OPT_RETRIES, type=int, metavar="N", default=2,
                    help="a (case, target, dtype) that crashed or errored runs up to N more times, each in a new "
                         "worker; attempts that disagree make it 'flaky', a failure (default: 2)")
    group.addoption(OPT_REPEAT, type=int, metavar="N", default=1,
                    help="run every (case, target, dtype) N times in separate worker processes: a status that "
                         "differs is 'flaky', values that differ are listed in the summary (default: 1)")
    group.addoption(OPT_MAX_MEMORY, metavar="SIZE", default="1GiB",
                    help="refuse (fail) a case whose float64 working set exceeds this, e.g. 512MiB (default: 1GiB)")


def pytest_configure(config):
    from conformance.errors import ConformanceError

    try:
        _validate_options(config)
    except ConformanceError as exc:
        raise pytest.UsageError(str(exc)) from None
    from conformance import adapters

    for name in adapters.FRAMEWORKS:  # frameworks added through CONFORMANCE_EXTRA_ADAPTERS too
        MARKERS.setdefault(name, f"conformance items run on {name}")
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if not hasattr(config, "workerinput"):  # the controller (or a plain run) gathers every record
        config.stash[collector_key] = ResultsCollector(config)
        config.pluginmanager.register(config.stash[collector_key], "conformance-results")


def _validate_options(config) -> None:
    """Check every --conformance-* option once, before collection: a bad one is one usage line (pytest
    exits 4), not a collection error in every case file. Raises UsageError (CaseError for the
    content of a --conformance-known file)."""
    from conformance.errors import UsageError
    from conformance.results.known import load_known
    from conformance.spec.loader import parse_bytes
    from conformance.run.selection import Selection
    from conformance.run.shard import parse_shard

    opt = config.getoption
    for option, field, value in ((OPT_FRAMEWORKS, "frameworks", _csv(opt(OPT_FRAMEWORKS))),
                                 (OPT_DEVICES, "devices", _csv(opt(OPT_DEVICES))),
                                 (OPT_DTYPES, "dtypes", _csv(opt(OPT_DTYPES))),
                                 (OPT_PRECISION, "precision", _csv(opt(OPT_PRECISION))),
                                 (OPT_TIMEOUT, "timeout", opt(OPT_TIMEOUT)), (OPT_JOBS, "jobs", opt(OPT_JOBS)),
                                 (OPT_TARGETS, "targets", _csv(opt(OPT_TARGETS))),
                                 (OPT_RETRIES, "retries", opt(OPT_RETRIES)), (OPT_REPEAT, "repeat", opt(OPT_REPEAT))):
        try:
            if value is not None:
                Selection(**{field: value}).validate()
        except UsageError as exc:
            raise UsageError(_naming(option, str(exc))) from None
    if opt(OPT_SHARD) is not None:
        parse_shard(opt(OPT_SHARD), OPT_SHARD)
    try:
        parse_bytes(opt(OPT_MAX_MEMORY))
    except UsageError as exc:
        raise UsageError(_naming(OPT_MAX_MEMORY, str(exc))) from None
    known = opt(OPT_KNOWN)
    if known:
        if not Path(known).is_file():
            raise UsageError(f"{OPT_KNOWN}: no such file: {known}")
        load_known(known)  # a bad entry is named now (file:line), not in every case file's collection


def _naming(option: str, message: str) -> str:
    """A validation message that names the pytest option: the CLI's '--timeout must be ...' becomes
    '--conformance-timeout must be ...', and one naming no option is prefixed with it."""
    cli_name = "--" + option.removeprefix("--conformance-")
    if message.startswith(cli_name + " "):
        return option + message[len(cli_name):]
    return f"{option}: {message}"


def pytest_unconfigure(config):
    state = config.stash.get(session_key, None)
    if state is not None:
        state.close()
    shared = config.stash.get(shared_cache_key, None)
    if shared is not None:  # the controller's, once its xdist workers have finished
        import shutil

        shutil.rmtree(shared, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist's controller, before it starts each worker: one folder for the caches of every
    xdist worker's framework workers (JAX's compilation cache), so that a program compiled in one
    xdist worker is loaded by the other rather than compiled again. `pytest cases -n 2
    --conformance-frameworks jax` on 2 cores: JAX workers' CPU 192 -> 172 s, wall 110 -> 98 s; the
    whole library compiles 616 programs under `-n 2`, as one process does."""
    config = node.config
    if shared_cache_key not in config.stash:
        import tempfile

        config.stash[shared_cache_key] = tempfile.mkdtemp(prefix="conformance-shared-cache-")
    node.workerinput[SHARED_CACHE_INPUT] = config.stash[shared_cache_key]


def pytest_collect_file(file_path: Path, parent):
    from conformance.spec.loader import is_case_file

    if is_case_file(file_path) and _CASES_LINE.search(_read(file_path)):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _state(config) -> "ConformanceSession":
    if session_key not in config.stash:
        config.stash[session_key] = ConformanceSession(config)
    return config.stash[session_key]


# ------------------------------------------------------------------------- collection
class CaseFile(pytest.File):
    def collect(self):
        from conformance.errors import CaseError
        from conformance.spec.loader import duplicate_error, load_file, parse_bytes

        errors: list[CaseError] = []
        try:
            budget = parse_bytes(self.config.getoption(OPT_MAX_MEMORY))
            cases = load_file(self.path, errors=errors, memory_budget=budget)
        except CaseError as exc:  # the file itself is unusable: one failed item says why
            yield BadCaseItem.from_parent(self, name=self.path.name, error=exc)
            return
        state = _state(self.config)
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
        label = f"{api}-{device}" + (f"-{profile}" if device == "gpu" else "") + f"-{dtype}-{check}"
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
        state = _state(self.config)
        self.record = record = state.result_for(self)
        if state.wants_records:  # only the JSON results and the HTML report need them
            self.user_properties.append((RECORD_PROPERTY, json.dumps(record.to_dict())))
            if state.first_item_of_case(self):
                from conformance.spec.select import case_table

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


def format_discrepancy(case, r) -> str:
    lines = [f"{r.status.upper()}: {r.check} of {case.id} on {r.api}@{r.device} ({r.precision}), {r.dtype}",
             f"  case:     {case.describe()}"]
    if case.origin:
        lines.append(f"  declared: {case.origin[0]}:{case.origin[1]}")
    lines.append(f"  message:  {r.message}")
    for number, attempt in enumerate(r.attempts or (), 1):  # the last attempt is this record
        lines.append(f"  attempt {number}: {attempt['status']}: {attempt['message']}")
    if r.worst_index is not None:
        lines.append(f"  worst element {r.worst_index}: got {r.got!r}, but should be {r.expected!r}"
                     f" (|error| {r.max_abs_error!r}, {r.error_ratio!r}x its bound)")
    elif r.expected is not None or r.got is not None:
        lines.append(f"  {r.check}={r.got!r}, but should be {r.expected!r}")
    if r.detail:
        lines.append(f"  around the worst element (last two axes, from {r.detail['window_origin']}):")
        lines.append(f"    expected {r.detail['window_expected']}")
        lines.append(f"    got      {r.detail['window_got']}")
    if r.call:
        lines.append("  reproducer:")
        lines.extend(f"    {line}" for line in r.call.splitlines())
    if r.stderr:
        lines.append("  the worker's stderr ended with:")
        lines.extend(f"    {line}" for line in r.stderr.splitlines())
    if r.rerun:
        lines.append(f"  rerun:    {r.rerun}")
    return "\n".join(lines)


# ------------------------------------------------------------------------- the session's engine
class ConformanceSession:
    """Options, the framework worker pool (started on first use) and the records received."""

    def __init__(self, config):
        from conformance.run.selection import Selection

        self.config = config
        opt = config.getoption
        self.selection = Selection(frameworks=_csv(opt(OPT_FRAMEWORKS)), devices=_csv(opt(OPT_DEVICES)),
                                   dtypes=_csv(opt(OPT_DTYPES)), precision=_csv(opt(OPT_PRECISION)),
                                   seed=opt(OPT_SEED), timeout=opt(OPT_TIMEOUT), relations=opt(OPT_RELATIONS),
                                   targets=_csv(opt(OPT_TARGETS)), retries=opt(OPT_RETRIES), repeat=opt(OPT_REPEAT),
                                   # the workers' output goes to this terminal only under `pytest -s`
                                   verbose=opt("capture") == "no")
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
        from conformance.run.attempts import Attempts
        from conformance.errors import UsageError
        from conformance.run.pool import WorkerPool
        from conformance.run.selection import plan_targets, resolve_frameworks
        from conformance.run.worker import host_environment

        frameworks, self.skipped = resolve_frameworks(self.selection)
        jobs = self.config.getoption(OPT_JOBS)
        if jobs is None:  # under xdist the xdist workers are the parallelism: one request each
            from conformance.run.selection import default_jobs

            jobs = 1 if hasattr(self.config, "workerinput") else default_jobs()
        # Requests submitted ahead keep this process's framework workers busy. Not under xdist: this
        # process runs only the items the xdist controller hands it, so a request ahead may well be
        # another xdist worker's, and computing it here too would waste a core.
        self.lookahead = 0 if hasattr(self.config, "workerinput") else max(LOOKAHEAD, 3 * jobs)
        shared_cache = getattr(self.config, "workerinput", {}).get(SHARED_CACHE_INPUT)
        self._pool = WorkerPool(frameworks, timeout=self.selection.timeout, jobs=jobs, known=self.known(),
                                shared_cache=shared_cache, stream=True, capture=not self.selection.verbose)
        self._attempts = Attempts(self._pool, self.selection)
        try:
            self._plan, env_frameworks, skips = plan_targets(self._pool.start(), self.selection)
        except UsageError as exc:  # --conformance-targets selects nothing this machine has: said once,
            self.usage_error = _naming(OPT_TARGETS, str(exc))  # after collection (pytest_collection_modifyitems)
            self._plan, env_frameworks, skips = {}, {}, []
        self.skipped.extend(skips)
        self._env = {"host": host_environment(), "seed": self.selection.seed, "frameworks": env_frameworks}

    def targets(self):
        if self._plan is None:
            self._start()
        return [(fw, api, device, profile) for fw, triples in self._plan.items() for api, device, profile in triples]

    def dtypes_for(self, case):
        from conformance.run.suite import dtypes_for

        return dtypes_for(case, self.selection)

    def checks_for(self, case, framework, api, device):
        from conformance.adapters.base import Target
        from conformance.check.evaluate import checks_for
        from conformance.check.relations import relations_for

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
            if not isinstance(item, ConformanceItem):
                continue
            key = item.request_key
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
            from conformance.results.records import Result

            return Result(case=item.case.id, framework=item.framework, api=item.api, device=item.device,
                          dtype=item.dtype, check=item.check, precision=item.profile, status="error",
                          message="the worker returned no record for this check")
        return self._records[key]

    def _submit(self, key):
        if key in self._submitted:
            return
        self._submitted.add(key)
        from conformance.run.suite import units_for

        case, triples, dtypes = self._request_spec(key)
        self._attempts.submit(key[1], key, case, units_for(triples, dtypes))
        self._receive()  # refused at once (the framework's worker is not running)

    def _request_spec(self, key):
        """The case, (api, device, profile) triples and dtypes that the items of a request need."""
        items = self._request_items[key]
        return (items[0].case, sorted({(i.api, i.device, i.profile) for i in items}),
                sorted({i.dtype for i in items}))

    def _receive(self):
        """The final records of the units whose attempts are all in (conformance/run/attempts.py)."""
        from conformance.spec.features import case_features
        from conformance.results.known import mark_known

        for request_id, records in self._attempts.take():
            case = self._request_items[request_id][0].case
            mark_known(records, self.known(), {case.id: case_features(case)}, self._env)
            for r in records:
                self._records[(r.case, r.framework, r.api, r.device, r.precision, r.dtype, r.check)] = r
            self.varied.extend(r for r in records if r.varies)

    def known(self):
        if self._known is None:
            self._known = _load_known(self.config)
        return self._known

    def close(self):
        if self._pool is not None:
            self._pool.close()
            self._pool = None


# Options under which an item needs pytest's own setup, call and teardown phases.
_PHASED_OPTIONS = ("xmlpath", "usepdb", "trace", "setuponly", "setupplan", "setupshow")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A short protocol for conformance items: one call report instead of three.

    A conformance item has no fixtures and prints nothing, so pytest's setup and teardown phases
    (fixtures, output and log capture, and one report each) do nothing for it. pytest-xdist still
    serialises and sends every report to its controller: on 22812 items, the short protocol cut one
    process from 236 to 205 s and `pytest -n 2` from 151 to 124 s (2 cores). pytest's hook wrappers
    around this hook (warnings, for one) still apply, and makereport still turns pytest.xfail into
    an xfail. An item runs pytest's standard protocol wherever something may need the phases:
    --junitxml (it reads a test's properties from the teardown report), --pdb, --trace,
    --setup-only/--setup-plan/--setup-show, and an item carrying a marker that someone added
    (skip, xfail, a plugin's own)."""
    if not isinstance(item, ConformanceItem) or not _short_protocol(item):
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


def _short_protocol(item) -> bool:
    config = item.config
    if any(getattr(config.option, name, None) for name in _PHASED_OPTIONS):
        return False
    return all(mark.name in MARKERS for mark in item.iter_markers())


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    state = config.stash.get(session_key, None)
    if state is not None and state.usage_error:
        raise pytest.UsageError(state.usage_error)
    if state is not None:
        if config.getoption(OPT_SHARD) is not None:
            _keep_shard(config, items)
        state.plan_requests(items)


def _keep_shard(config, items):
    """Deselect the conformance items of other shards: the cases are split as `conformance run --shard`
    splits them (conformance.run.shard), weighted by the dtypes each case runs here."""
    from conformance.run.shard import assign, parse_shard

    index, count = parse_shard(config.getoption(OPT_SHARD), OPT_SHARD)
    dtypes: dict = {}
    for item in items:
        if isinstance(item, ConformanceItem):
            dtypes.setdefault(item.case.id, set()).add(item.dtype)
    owner = assign([(cid, len(d)) for cid, d in dtypes.items()], count)
    keep, drop = [], []
    for item in items:
        (drop if isinstance(item, ConformanceItem) and owner[item.case.id] != index else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    from conformance import adapters

    lines = []
    for name in adapters.FRAMEWORKS:
        missing = adapters.missing_packages(name)
        lines.append(f"{name}: " + ("installed" if not missing else f"skipped, not installed ({', '.join(missing)})"))
    return "conformance: " + "; ".join(lines)


# ------------------------------------------------------------------------- results on the controller
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
                from conformance.results.records import RecordStream, Result

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
        from conformance.results.known import stale_entries
        from conformance.results.records import RunResults

        state = self.config.stash.get(session_key, None)
        env = dict(self.environment)
        skipped = env.pop("skipped", [])
        if exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail:
            why = session.shouldstop or session.shouldfail or "interrupted"
            env["partial"] = f"the pytest session stopped early ({why}): the results hold only the items that ran"
        results = list(self.records.values())
        known = state.known() if state is not None else _load_known(self.config)
        features = {cid: info.get("features", []) for cid, info in self.cases.items()}
        run = RunResults(results=results, environment=env, skipped=skipped, cases=self.cases,
                         stale_known=stale_entries(results, known, features, env))
        if json_path:
            self.written.append(f"conformance results: {run.write(json_path)}")
            if self.stream is not None:
                self.stream.discard()
        if html_path:
            from conformance.report.html import write_report

            self.written.append(f"conformance report: {write_report(run, html_path)}")

    def pytest_terminal_summary(self, terminalreporter):
        state = self.config.stash.get(session_key, None)
        if state is not None:
            from conformance.report.text import describe_skip

            for skip in state.skipped:
                terminalreporter.write_line(f"conformance skipped {describe_skip(skip)}")
        from conformance.run.attempts import varied_lines

        # --conformance-repeat: this process's records, and under xdist those that came in reports
        varied = {r.key: r for r in (state.varied if state is not None else ())}
        varied.update((k, r) for k, r in self.records.items() if r.varies)
        for line in varied_lines(list(varied.values())):
            terminalreporter.write_line(f"conformance {line}")
        for line in self.written:
            terminalreporter.write_line(line)


def _load_known(config):
    """The --conformance-known file, else cases/known_differences.yaml under the rootdir if present."""
    from conformance.results.known import load_known

    path = config.getoption(OPT_KNOWN) or Path(config.rootpath) / "cases" / "known_differences.yaml"
    return load_known(path) if config.getoption(OPT_KNOWN) or Path(path).exists() else []
