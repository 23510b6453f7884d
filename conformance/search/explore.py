"""Property-based exploration: random valid cases on a framework, until something disagrees.

Hypothesis draws cases (conformance/search/strategies.py: every op, 1-D to 3-D, stride, dilation, groups,
every padding form, output_padding, bias, dtype, under a size cap) and each is run in-process on every
API of the framework: the oracle checks (check/evaluate.py) and the metamorphic relations
(check/relations.py). `unsupported` is fine (the API cannot express the case); a `fail`, `error` or
`crashed` that no known difference explains is a discrepancy: hypothesis shrinks the case to a minimal
one, which is written out as a ready-to-paste YAML case file.

`conformance explore` runs each framework in a worker process (`IsolatedFramework`, the worker pool
of `conformance run`; imported once, hypothesis calls it example by example): a framework that kills
its process (XLA:CPU aborts on some convolutions, see the known differences) costs a `crashed` record,
which hypothesis shrinks like any other discrepancy, and a fresh worker goes on. `explore_framework`
also takes an adapter to run in-process (the tests' fakes and planted faults).
"""
from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from conformance.adapters import missing_packages
from conformance.spec import frameworks
from conformance import options
from conformance.adapters.base import Adapter, Target
from conformance.wording import plural, shorten
from conformance.check.evaluate import evaluate_unit
from conformance.check.unit import Unit
from conformance.spec.case import Case
from conformance.files import write_atomic
from conformance.results.records import FAILING, Result
from conformance.run.attempts import Attempts
from conformance.run.environment import adapter_run_environment, local_environment
from conformance.run.pool import DEFAULT_TIMEOUT
from conformance.run.selection import Selection
from conformance.run.standalone import start_worker

DEFAULT_DTYPES = options.SEARCH_DTYPES
PROGRESS_EVERY = 100  # examples between progress lines on stderr


class UnexplainedFailure(Exception):
    """Raised inside the hypothesis test: the case, and the records that are unexplained failures."""

    def __init__(self, case: Case, bad: list[Result]):
        super().__init__(f"{case.id}: " + "; ".join(f"{r.api} {r.check} {r.status}" for r in bad[:6]))
        self.case, self.bad = case, bad


@dataclass
class Exploration:
    """What one framework's search saw: every record, and the minimal discrepancy if one was found."""

    framework: str
    records: dict = field(default_factory=dict)  # case id -> records of the case's last run
    cases: dict = field(default_factory=dict)  # case id -> Case
    found: UnexplainedFailure | None = None
    note: str = ""  # e.g. hypothesis reported the failure as flaky
    seconds: float = 0.0

    @property
    def results(self) -> list[Result]:
        return [r for rs in self.records.values() for r in rs]


def run_case(adapter: Adapter, case: Case, dtype: str, *, known=(), relations: bool = True, seed: int = 0,
             devices=None, environment: dict | None = None) -> list[Result]:
    """Every record of one (case, dtype) on every API (and device) of the adapter, known differences
    applied (their `when:` read `environment`, by default the adapter's:
    `environment.adapter_run_environment`)."""
    if environment is None:
        environment = adapter_run_environment(adapter)
    records: list[Result] = []
    for device in devices or adapter.devices():
        for api in adapter.apis:
            records += evaluate_unit(adapter, Unit(Target(adapter.name, api, device), dtype), case, seed=seed,
                                     relations=relations, known=known, environment=environment)
    return records


class IsolatedFramework:
    """One framework in a worker process, run case by case (see the module docstring)."""

    def __init__(self, name: str, *, known=(), timeout: float | None = None):
        self.name = name
        self.pool, self.info = start_worker(name, timeout=timeout or DEFAULT_TIMEOUT, known=known, stream=True)
        self.apis = tuple(api for api in frameworks.kind_apis(name) if not missing_packages(name, api))
        self.environment = local_environment(name, self.info)  # what known differences' `when:` read
        self._requests = 0

    def run_case(self, case: Case, dtype: str, *, known=(), relations: bool = True, seed: int = 0,
                 devices=None) -> list[Result]:
        """The same records as the in-process `run_case`, from the worker, through `conformance run`'s
        attempts (conformance/run/attempts.py). No retries: a crash is a finding for hypothesis to
        shrink, and every step of shrinking would run it again."""
        units = [Unit(Target(self.name, api, device), dtype) for device in devices or self.info["devices"]
                 for api in self.apis]
        attempts = Attempts(self.pool, Selection(seed=seed, relations=relations, retries=0), known=known,
                            environment=self.environment)
        self._requests += 1
        attempts.submit((case.id, self._requests), case, units)
        records: list[Result] = []
        attempts.drive(records.extend)
        return records

    def close(self) -> None:
        self.pool.close()


def explore_framework(adapter: Adapter | IsolatedFramework, *, examples: int, dtypes=DEFAULT_DTYPES, known=(), relations: bool = True,
                      seed: int | None = None, database=None, settings=None, devices=None,
                      progress=sys.stderr, running_file=None) -> Exploration:
    """Search with hypothesis; stop at the first unexplained failure and shrink it.

    `settings`: a hypothesis settings object to start from (e.g. a test profile); `examples` and
    `database` override its values. `running_file`: where the case being run is written before it runs
    (removed at the end): if the framework crashes the process, that file is the reproducer.
    """
    from hypothesis.errors import Flaky

    out = Exploration(adapter.name)
    counts: dict = {}
    if not isinstance(adapter, IsolatedFramework):
        environment = adapter_run_environment(adapter)  # once: the adapter's facts do not change
    t0 = time.perf_counter()

    def test(d):
        case = Case.from_dict(d)
        if running_file is not None:
            write_atomic(running_file, "# the case running when `conformance explore` stopped (a crash of "
                                       f"{adapter.name}?)\n" + case_yaml(case))
        run = adapter.run_case if isinstance(adapter, IsolatedFramework) else functools.partial(
            run_case, adapter, environment=environment)
        records = run(case, case.dtypes[0], known=known, relations=relations, devices=devices)
        out.records[case.id], out.cases[case.id] = records, case
        for r in records:
            counts[r.status] = counts.get(r.status, 0) + 1
        if progress is not None and len(out.cases) % PROGRESS_EVERY == 0:
            print(f"explore {adapter.name}: {plural(len(out.cases), 'case')}, {time.perf_counter() - t0:.0f} s, "
                  + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), file=progress, flush=True)
        bad = [r for r in records if r.status in FAILING]
        if bad:
            raise UnexplainedFailure(case, bad)

    try:
        _search(test, dtypes, examples=examples, seed=seed, database=database, settings=settings)()
    except UnexplainedFailure as exc:  # hypothesis re-raises the minimal example's exception last
        out.found = exc
    except Flaky as exc:  # the failure did not reproduce (e.g. a nondeterministic kernel): keep the last seen
        out.note = f"hypothesis reports the failure as flaky: {type(exc).__name__}"
        for rs in reversed(list(out.records.values())):
            bad = [r for r in rs if r.status in FAILING]
            if bad:
                out.found = UnexplainedFailure(out.cases[rs[0].case], bad)
                break
    out.seconds = time.perf_counter() - t0
    if running_file is not None:
        Path(running_file).unlink(missing_ok=True)
    return out


def _search(test, dtypes, *, examples: int, seed, database, settings):
    """`test` as a hypothesis search over random valid cases of these dtypes."""
    from hypothesis import HealthCheck, given
    from hypothesis import seed as fix_seed
    from hypothesis import settings as Settings

    from conformance.search.strategies import case_dicts

    base = settings if settings is not None else Settings()
    chosen = Settings(base, max_examples=examples, deadline=None, print_blob=False, report_multiple_bugs=False,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
                      **({"database": database} if database is not None else {}))
    search = chosen(given(d=case_dicts(dtypes=tuple(dtypes)))(test))
    return fix_seed(seed)(search) if seed is not None else search


def case_yaml(case: Case, found: UnexplainedFailure | None = None) -> str:
    """A case file holding one case, loadable by `loader.load_cases`, with what failed as comments."""
    d = case.to_dict()
    d["source"] = "found by conformance explore"
    lines = []
    if found is not None:
        lines.append("# A discrepancy found by `conformance explore` (shrunk by hypothesis):")
        for r in found.bad[:10]:
            lines.append(f"#   {r.status} {r.framework} {r.api}@{r.device} {r.dtype} {r.check}: "
                         + shorten(" ".join(r.message.split()), 200))
    lines.append(yaml.safe_dump({"cases": [d]}, sort_keys=False, default_flow_style=None).rstrip())
    return "\n".join(lines) + "\n"


def write_case(case: Case, found: UnexplainedFailure | None, folder="reports") -> Path:
    path = Path(folder) / f"explore-{found.bad[0].framework if found else 'case'}-{case.id}.yaml"
    return write_atomic(path, case_yaml(case, found))

