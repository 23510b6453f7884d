"""Property-based exploration: random valid cases on a framework, until something disagrees.

Hypothesis draws cases (conformance/search/strategies.py: every op, 1-D to 3-D, stride, dilation, groups,
every padding form, output_padding, bias, dtype, under a size cap) and each is run in-process on every
API of the framework: the oracle checks (execute.evaluate) and the metamorphic relations
(metamorphic.py). `unsupported` is fine (the API cannot express the case); a `fail`, `error` or
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

from conformance.adapters.base import Adapter, Target
from conformance.spec.case import Case
from conformance.spec.features import case_features
from conformance.files import write_atomic
from conformance.results.records import FAILING, Result

DEFAULT_DTYPES = ("float32", "float64")
PROGRESS_EVERY = 100  # examples between progress lines on stderr


class Discrepancy(Exception):
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
    found: Discrepancy | None = None
    note: str = ""  # e.g. hypothesis reported the failure as flaky
    seconds: float = 0.0

    @property
    def results(self) -> list[Result]:
        return [r for rs in self.records.values() for r in rs]


def run_case(adapter: Adapter, case: Case, dtype: str, *, known=(), relations: bool = True, seed: int = 0,
             devices=None, environment: dict | None = None) -> list[Result]:
    """Every record of one (case, dtype) on every API (and device) of the adapter, known differences
    applied (their `when:` read `environment`, by default the adapter's: `worker.adapter_run_environment`)."""
    from conformance.check.evaluate import evaluate
    from conformance.results.known import mark_known
    from conformance.check.relations import evaluate_relations
    from conformance.run.worker import adapter_run_environment

    if environment is None:
        environment = adapter_run_environment(adapter)
    records: list[Result] = []
    for device in devices or adapter.devices():
        for api in adapter.apis:
            target = Target(adapter.name, api, device)
            records += evaluate(adapter, target, case, dtype, seed=seed)
            if relations:
                records += evaluate_relations(adapter, target, case, dtype, seed=seed, known=known,
                                              environment=environment)
    mark_known(records, known, {case.id: case_features(case)}, environment)
    return records


class IsolatedFramework:
    """One framework in a worker process, run case by case (see the module docstring)."""

    def __init__(self, name: str, *, known=(), timeout: float | None = None):
        from conformance.adapters import APIS, missing_packages
        from conformance.errors import UsageError
        from conformance.run.pool import DEFAULT_TIMEOUT, WorkerPool
        from conformance.run.worker import local_environment

        self.name = name
        self.pool = WorkerPool([name], timeout=timeout or DEFAULT_TIMEOUT, known=known)
        self.info = self.pool.start()[name]
        if "fatal" in self.info:
            self.pool.close()
            raise UsageError(f"{name} failed to start: {self.info['fatal']}")
        self.apis = tuple(api for api in APIS[name] if not missing_packages(name, api))
        self.environment = local_environment(name, self.info)  # what known differences' `when:` read
        self._requests = 0

    def run_case(self, case: Case, dtype: str, *, known=(), relations: bool = True, seed: int = 0,
                 devices=None) -> list[Result]:
        """The same records as the in-process `run_case`, from the worker."""
        from conformance.results.known import mark_known
        from conformance.run.suite import records_from, units_for

        triples = [(api, device, "defaults") for device in devices or self.info["devices"] for api in self.apis]
        self._requests += 1
        request_id = (case.id, self._requests)
        self.pool.submit(self.name, request_id, case.to_dict(), units_for(triples, [dtype]), seed, relations)
        while request_id not in self.pool.done:
            self.pool.collect(block=0.5)
        records = records_from(self.pool.done.pop(request_id), case, self.name, relations)
        mark_known(records, known, {case.id: case_features(case)}, self.environment)
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
    from hypothesis import HealthCheck, given
    from hypothesis import seed as fix_seed
    from hypothesis import settings as Settings
    from hypothesis.errors import Flaky

    from conformance.search.strategies import case_dicts

    out = Exploration(adapter.name)
    counts: dict = {}
    if not isinstance(adapter, IsolatedFramework):
        from conformance.run.worker import adapter_run_environment

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
            print(f"explore {adapter.name}: {len(out.cases)} cases, {time.perf_counter() - t0:.0f} s, "
                  + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), file=progress, flush=True)
        bad = [r for r in records if r.status in FAILING]
        if bad:
            raise Discrepancy(case, bad)

    base = settings if settings is not None else Settings()
    chosen = Settings(base, max_examples=examples, deadline=None, print_blob=False, report_multiple_bugs=False,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
                      **({"database": database} if database is not None else {}))
    search = given(d=case_dicts(dtypes=tuple(dtypes)))(test)
    search = chosen(search)
    if seed is not None:
        search = fix_seed(seed)(search)
    try:
        search()
    except Discrepancy as exc:  # hypothesis re-raises the minimal example's exception last
        out.found = exc
    except Flaky as exc:  # the failure did not reproduce (e.g. a nondeterministic kernel): keep the last seen
        out.note = f"hypothesis reports the failure as flaky: {type(exc).__name__}"
        for rs in reversed(list(out.records.values())):
            bad = [r for r in rs if r.status in FAILING]
            if bad:
                out.found = Discrepancy(out.cases[rs[0].case], bad)
                break
    out.seconds = time.perf_counter() - t0
    if running_file is not None:
        Path(running_file).unlink(missing_ok=True)
    return out


def case_yaml(case: Case, found: Discrepancy | None = None) -> str:
    """A case file holding one case, loadable by `loader.load_cases`, with what failed as comments."""
    d = case.to_dict()
    d["source"] = "found by conformance explore"
    lines = []
    if found is not None:
        lines.append("# A discrepancy found by `conformance explore` (shrunk by hypothesis):")
        for r in found.bad[:10]:
            lines.append(f"#   {r.status} {r.framework} {r.api}@{r.device} {r.dtype} {r.check}: "
                         + " ".join(r.message.split())[:200])
    lines.append(yaml.safe_dump({"cases": [d]}, sort_keys=False, default_flow_style=None).rstrip())
    return "\n".join(lines) + "\n"


def write_case(case: Case, found: Discrepancy | None, folder="reports") -> Path:
    path = Path(folder) / f"explore-{found.bad[0].framework if found else 'case'}-{case.id}.yaml"
    return write_atomic(path, case_yaml(case, found))


# ------------------------------------------------------------------------- the `conformance explore` command
DEFAULT_JSON = "reports/explore.json"
DEFAULT_HTML = "reports/explore.html"
DEFAULT_DATABASE = ".hypothesis/conformance-explore"


def add_arguments(p) -> None:
    p.add_argument("--frameworks", metavar="LIST",
                   help="comma-separated: torch,tensorflow,jax (default: every installed one; a requested "
                        "framework that is not installed is an error)")
    p.add_argument("--examples", type=int, default=100, metavar="N",
                   help="random cases per framework (default: %(default)s)")
    p.add_argument("--dtypes", metavar="LIST", default=",".join(DEFAULT_DTYPES),
                   help="dtypes the cases are drawn in (default: %(default)s)")
    p.add_argument("--seed", type=int,
                   help="seed of the search: with --database none, the same seed draws the same cases")
    p.add_argument("--no-relations", action="store_true",
                   help="oracle checks only, no metamorphic relations (several times faster on JAX)")
    p.add_argument("--known", default="cases/known_differences.yaml", metavar="PATH",
                   help="known-differences file (default: %(default)s; 'none' to use none)")
    p.add_argument("--database", default=DEFAULT_DATABASE, metavar="PATH",
                   help="hypothesis example database: failures found before are tried first "
                        "(default: %(default)s; 'none' for none)")
    p.add_argument("--json", default=DEFAULT_JSON, metavar="PATH", help="results file (default: %(default)s)")
    p.add_argument("--html", default=DEFAULT_HTML, metavar="PATH", help="HTML report (default: %(default)s; '' for none)")
    p.add_argument("--out", default="reports", metavar="FOLDER",
                   help="where the minimal case of a discrepancy is saved (default: %(default)s)")


def _names(value: str | None, allowed, what: str) -> list[str] | None:
    from conformance.errors import UsageError, did_you_mean

    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    for name in names:
        if name not in allowed:
            raise UsageError(f"--{what}: unknown value {name!r}{did_you_mean(name, allowed)}; allowed: {', '.join(allowed)}")
    if not names:
        raise UsageError(f"--{what}: give at least one of {', '.join(allowed)}")
    return names


def run_command(args, *, load_known, write_html) -> int:
    """`conformance explore`: one search per framework, records to JSON/HTML, the minimal case printed."""
    from conformance.adapters import FRAMEWORKS
    from conformance.spec.dtypes import DTYPE_NAMES
    from conformance.errors import UsageError
    from conformance.results.records import RunResults
    from conformance.run.selection import Selection, resolve_frameworks
    from conformance.spec.select import case_table
    from conformance.run.worker import host_environment

    if args.examples < 1:
        raise UsageError(f"--examples must be at least 1, got {args.examples}")
    dtypes = _names(args.dtypes, DTYPE_NAMES, "dtypes")
    frameworks, skipped = resolve_frameworks(Selection(frameworks=_names(args.frameworks, FRAMEWORKS, "frameworks")))
    if not args.json:
        raise UsageError("--json needs a path: the JSON results are what every other view is made from")
    known = load_known(args.known)
    database = None
    if args.database != "none":
        from hypothesis.database import DirectoryBasedExampleDatabase

        database = DirectoryBasedExampleDatabase(args.database)
    else:
        from hypothesis.database import InMemoryExampleDatabase

        database = InMemoryExampleDatabase()
    explorations, environment = [], {"host": host_environment(), "explore": {
        "examples": args.examples, "dtypes": dtypes, "seed": args.seed, "relations": not args.no_relations},
        "frameworks": {}}
    found_any = False
    for name in frameworks:
        framework = IsolatedFramework(name, known=known)
        environment["frameworks"][name] = framework.environment["frameworks"][name]
        running = Path(args.out) / f"explore-{name}-running.yaml"
        running.parent.mkdir(parents=True, exist_ok=True)
        try:
            ex = explore_framework(framework, examples=args.examples, dtypes=dtypes, known=known,
                                   relations=not args.no_relations, seed=args.seed, database=database,
                                   running_file=running)
        finally:
            framework.close()
        explorations.append(ex)
        statuses: dict = {}
        for r in ex.results:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        print(f"{name}: {len(ex.cases)} cases in {ex.seconds:.0f} s: "
              + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
        if ex.note:
            print(f"  {ex.note}")
        if ex.found is not None:
            found_any = True
            path = write_case(ex.found.case, ex.found, args.out)
            print(f"  discrepancy, shrunk to {ex.found.case.describe()}, {ex.found.case.dtypes[0]}:")
            for r in ex.found.bad[:10]:
                print(f"    {r.status.upper():8} {r.api}@{r.device} {r.check}: {r.message}")
            print("  as a case (saved to " + str(path) + "):")
            print("\n".join("    " + line for line in case_yaml(ex.found.case, ex.found).splitlines()))
    cases = [c for ex in explorations for c in ex.cases.values()]
    run = RunResults(results=[r for ex in explorations for r in ex.results], environment=environment,
                     skipped=skipped, cases=case_table(cases))
    json_path = run.write(args.json)
    print(f"results: {json_path}")
    html_path = write_html(run, args.html, None)
    if html_path:
        print(f"report:  {html_path}")
    return 1 if found_any else 0
