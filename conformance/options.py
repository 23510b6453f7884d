"""Every option of `conformance run`, `list` and `explore` and of the pytest plugin, declared once.

An `Option` holds the CLI flags, the parser, the default, the metavar and the help; the pytest
plugin registers the same option as `--conformance-<name>`, with its own wording only where the
option means something else under pytest. `add_to_argparse` and `add_to_pytest` register a list of
them; `Selection` (conformance/run/selection.py) takes its defaults from here.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from conformance.files import default_cache_dir
from conformance.spec.frameworks import BUILTIN
from conformance.spec.library import default_cases, default_known

PYTEST_PREFIX = "--conformance-"
SEARCH_DTYPES = ("float32", "float64")  # what `conformance explore` draws cases in by default


def comma_list(value: str) -> list[str]:
    """'torch, jax,' -> ['torch', 'jax']: the values of a comma-separated option."""
    return [v.strip() for v in value.split(",") if v.strip()]


class Inherit:
    """The pytest option takes the CLI's default."""


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]  # the CLI's, the long one first: its name is also pytest's
    help: str
    default: Any = None  # a callable is called when the parser is built (a path found at run time)
    parse: Callable[[str], Any] | None = None
    metavar: str | None = None
    switch: bool = False  # present or absent, no value
    nargs: str | None = None
    repeatable: bool = False  # given several times, the values are a list
    pytest: bool = True  # also an option of the pytest plugin
    pytest_help: str | None = None  # pytest's wording, where the option differs under pytest
    pytest_default: Any = Inherit

    @property
    def name(self) -> str:
        return self.flags[0].removeprefix("--")

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def pytest_flag(self) -> str:
        return PYTEST_PREFIX + self.name

    def default_value(self, for_pytest: bool = False):
        default = self.default if not for_pytest or self.pytest_default is Inherit else self.pytest_default
        value = default() if callable(default) else default
        return [value] if self.nargs and isinstance(value, str) else value

    def arguments(self, for_pytest: bool = False) -> dict:
        """The keyword arguments of argparse's add_argument (pytest's addoption takes the same)."""
        default = self.default_value(for_pytest)
        text = self.pytest_help if for_pytest and self.pytest_help else self.help
        if self.nargs and default:  # the paths themselves, not a Python list
            text = text.replace("%(default)s", " ".join(default).replace("%", "%%"))
        kwargs = {"default": default, "help": text}
        if self.switch:
            return {**kwargs, "action": "store_true"}
        extra = {"type": self.parse, "metavar": self.metavar, "nargs": self.nargs,
                 "action": "append" if self.repeatable else None}
        return {**kwargs, **{k: v for k, v in extra.items() if v is not None}}


def add_to_argparse(parser, options) -> None:
    for option in options:
        parser.add_argument(*option.flags, dest=option.dest, **option.arguments())


def add_to_pytest(group, options) -> None:
    """`--conformance-<name>` for each option that pytest has (pytest derives the dest from it)."""
    for option in options:
        if option.pytest:
            group.addoption(option.pytest_flag, **option.arguments(for_pytest=True))


# ------------------------------------------------------------------------- what runs
FRAMEWORKS = Option(("--frameworks",), metavar="LIST", parse=comma_list,
                    help=f"comma-separated worker kinds: {','.join(dict.fromkeys(d.kind for d in BUILTIN))} and plugins' (default: every installed one; a "
                         "requested one that is not installed is an error; --targets picks APIs)")
DEVICES = Option(("--devices",), metavar="LIST", parse=comma_list,
                 help="cpu,gpu (default: cpu, plus gpu where present)")
DTYPES = Option(("--dtypes",), metavar="LIST", parse=comma_list,
                help="only these of each case's dtypes: float16,bfloat16,float32,float64")
PRECISION = Option(("--precision",), metavar="LIST", parse=comma_list,
                   help="GPU precision profiles: strict (TF32 off), defaults (out of the box); default: both on GPU")
TARGETS = Option(("--targets",), metavar="GLOBS", parse=comma_list,
                 help="only the targets whose name api@device matches one of these comma-separated globs, e.g. "
                      "tf.nn@cpu, 'torch.*', '*@cpu' (`conformance list` names them all)")
RELATIONS = Option(("--relations",), switch=True, default=False,
                   help="also check the metamorphic relations (conformance/check/relations.py) of every case, "
                        "target and dtype, in the workers; several extra framework calls per case")
SEED = Option(("--seed",), parse=int, default=0, metavar="N", help="seed of the random inputs (default: %(default)s)")
CASES = Option(("--cases",), nargs="+", default=default_cases, metavar="PATH", pytest=False,
               help="case files or folders, anywhere on disk (default: the library, %(default)s)")
CASE_ID = Option(("--case-id",), repeatable=True, metavar="ID", pytest=False,
                 help="only this case: an id as the tool prints it, brackets included (e.g. "
                      "'conv2d_matrix[stride=2,padding=same]'); a value that equals no id is a glob "
                      "(*, ?, [seq]), e.g. 'conv2d_*' (repeatable)")
KNOWN = Option(("--known",), default=default_known, metavar="PATH",
               help="known-differences file (default: the library's, %(default)s; 'none' to use none)")

# ------------------------------------------------------------------------- how it runs
TIMEOUT = Option(("--timeout",), parse=float, default=600.0, metavar="SECONDS",
                 help="one (case, target, dtype) may take this long; then its worker is stopped, the record is "
                      "an error and the run goes on (default: %(default)s)")
MAX_CASE_MEMORY = Option(("--max-case-memory",), default="1GiB", metavar="SIZE",
                         help="refuse a case whose float64 working set (computed from its shapes) exceeds this, "
                              "before anything allocates it, e.g. 512MiB, 4GiB (default: %(default)s)")
JOBS = Option(("--jobs", "-j"), parse=int, metavar="N",
              help="(case, framework) requests run at once, i.e. CPU cores used; a framework gets up to N "
                   "worker processes (default: the number of CPU cores)",
              pytest_help="(case, framework) requests run at once by this pytest process (default: 1 under "
                          "pytest-xdist, where each xdist worker has its own, else the number of CPU cores)")
CACHE_DIR = Option(("--cache-dir",), default=default_cache_dir, metavar="FOLDER",
                   help="the compilers' persistent caches (Inductor's, XLA's for JAX) and the exported and converted "
                        "models (torch.onnx, LiteRT), shared by the run's workers and kept between runs; keep it in CI to compile only what changed, e.g. after a framework "
                        "upgrade; 'none': a folder of this run's, removed at its end (default: $CONFORMANCE_CACHE_DIR, "
                        "else %(default)s)")
RETRIES = Option(("--retries",), parse=int, default=2, metavar="N",
                 help="a (case, target, dtype) whose worker crashed, or that errored or timed out, runs up to N "
                      "more times, each in a new worker; attempts that disagree make its records 'flaky', "
                      "which fails the run (default: %(default)s)")
REPEAT = Option(("--repeat",), parse=int, default=1, metavar="N",
                help="run every (case, target, dtype) N times, each in another worker process: a check whose "
                     "status differs between them is 'flaky', one whose values differ is listed as varying "
                     "(default: %(default)s)")
KERNEL_LOGS = Option(("--kernel-logs",), parse=int, default=10, metavar="N", pytest=False,
                     help="re-run each (case, target, dtype) with a fail, flaky or crashed record on a CPU target "
                          "that has oneDNN (PyTorch, TensorFlow) once more, in a worker with ONEDNN_VERBOSE=2, "
                          "and name in its records the oneDNN kernels it ran; at most N of them per run, 0 for "
                          "none (default: %(default)s)")
VERBOSE = Option(("--verbose", "-v"), switch=True, default=False, pytest=False,
                 help="let the framework workers write their logs to this terminal (by default each worker's "
                      "output goes to a file, and a record that crashed or errored keeps its end)")
SHARD = Option(("--shard",), metavar="I/N",
               help="run only shard I of N (1 <= I <= N): a deterministic split of the selected cases, the "
                    "same on every machine; join the shards' results with `conformance merge`",
               pytest_help="run only shard I of N of the conformance items: the same deterministic split of the "
                           "cases as `conformance run --shard` (the suite's own tests are not sharded)")
NO_PROGRESS = Option(("--no-progress",), switch=True, default=False, pytest=False,
                     help="no progress bar even on a terminal")

# ------------------------------------------------------------------------- what it writes
JSON = Option(("--json",), default="reports/results.json", metavar="PATH", pytest_default=None,
              help="results file (default: %(default)s); a name ending in .gz writes it gzipped",
              pytest_help="write the JSON results here (all items, xdist workers included); a name ending "
                          "in .gz writes it gzipped")
HTML = Option(("--html",), default="reports/report.html", metavar="PATH", pytest_default=None,
              help="HTML report (default: %(default)s; '' for none)", pytest_help="write the HTML report here")
BASELINE = Option(("--baseline",), metavar="PATH", pytest=False,
                  help="results file of an earlier run (JSON, or gzip: .json.gz): a record that got worse (pass < known < unsupported < fail, "
                       "error, crashed, flaky) fails the run, and so does an added record that fails, a record of "
                       "the baseline this run lacks, and a framework, device or API it ran that was skipped here "
                       "(--allow lets some through)")
ALLOW = Option(("--allow",), repeatable=True, metavar="CATEGORY", pytest=False,
               help="against a baseline, let one category of regression through, still listed and marked allowed "
                    "(repeatable): 'refusals' (pass or known -> unsupported: newly refused), 'known' (pass -> known: "
                    "newly known), 'removed' (records of the baseline not in the new run: cases or targets removed "
                    "on purpose). Newly failing and added failing records, and a framework, device or API the new "
                    "run skipped (failed to start, not installed), always fail")
ALLOW_REMOVED = Option(("--allow-removed",), switch=True, default=False, pytest=False,
                       help="the same as --allow removed")

# ------------------------------------------------------------------------- `conformance explore`
EXAMPLES = Option(("--examples",), parse=int, default=100, metavar="N", pytest=False,
                  help="random cases per framework (default: %(default)s)")
SEARCH_DTYPE_LIST = Option(("--dtypes",), parse=comma_list, default=",".join(SEARCH_DTYPES), metavar="LIST",
                           pytest=False, help="dtypes the cases are drawn in (default: %(default)s)")
SEARCH_SEED = Option(("--seed",), parse=int, metavar="N", pytest=False,
                     help="seed of the search: with --database none, the same seed draws the same cases")
NO_RELATIONS = Option(("--no-relations",), switch=True, default=False, pytest=False,
                      help="oracle checks only, no metamorphic relations (several times faster on JAX)")
DATABASE = Option(("--database",), default=".hypothesis/conformance-explore", metavar="PATH", pytest=False,
                  help="hypothesis example database: failures found before are tried first "
                       "(default: %(default)s; 'none' for none)")
SEARCH_JSON = Option(("--json",), default="reports/explore.json", metavar="PATH", pytest=False,
                     help=JSON.help)
SEARCH_HTML = Option(("--html",), default="reports/explore.html", metavar="PATH", pytest=False,
                     help=HTML.help)
OUT = Option(("--out",), default="reports", metavar="FOLDER", pytest=False,
             help="where the minimal case of a discrepancy is saved (default: %(default)s)")

# ------------------------------------------------------------------------- `conformance coverage`
def positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise ValueError(value)
    return n


positive_int.__name__ = "integer >= 1"  # argparse names the type in its error: "invalid integer >= 1 value"
MISSING_LIMIT = Option(("--limit",), parse=positive_int, default=20, metavar="N", pytest=False,
                       help="list at most N missing combinations of each strength (default: %(default)s)")
ALL_MISSING = Option(("--all",), switch=True, default=False, pytest=False,
                     help="list every missing combination")
COVERAGE_JSON = Option(("--json",), metavar="PATH", pytest=False,
                       help="also write the numbers and every missing combination as JSON to PATH ('-': stdout, "
                            "instead of the text)")

# The options of each command, in the order `--help` lists them.
SELECTION = (FRAMEWORKS, DEVICES, DTYPES, PRECISION, SEED, TIMEOUT, JOBS, RELATIONS, TARGETS, RETRIES,
             REPEAT, VERBOSE, CACHE_DIR, KERNEL_LOGS)  # the fields of conformance.run.selection.Selection
RUN = (CASES, FRAMEWORKS, DEVICES, DTYPES, PRECISION, CASE_ID, KNOWN, JSON, HTML, BASELINE, ALLOW, ALLOW_REMOVED,
       SEED, TIMEOUT, MAX_CASE_MEMORY, NO_PROGRESS, RELATIONS, JOBS, TARGETS, RETRIES, REPEAT, KERNEL_LOGS, VERBOSE,
       SHARD, CACHE_DIR)
GATE = (ALLOW, ALLOW_REMOVED)  # what may pass a comparison with a baseline: run, diff, report
PYTEST = tuple(o for o in RUN if o.pytest)
LIST = (replace(CASES, help="case files or folders (default: the library, %(default)s)"),
        replace(FRAMEWORKS, help="only the targets of these frameworks (each installed one starts a worker to say "
                                 "which devices it sees; default: every known framework)"))
COVERAGE = (LIST[0], MISSING_LIMIT, ALL_MISSING, COVERAGE_JSON)
EXPLORE = (FRAMEWORKS, EXAMPLES, SEARCH_DTYPE_LIST, SEARCH_SEED, NO_RELATIONS, KNOWN, DATABASE, SEARCH_JSON,
           SEARCH_HTML, OUT)
