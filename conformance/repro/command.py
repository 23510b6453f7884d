"""The `conformance repro` command: its options, the checks of what it is given, and its run."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from conformance import adapters, options
from conformance.adapters.base import Target
from conformance.errors import UsageError, did_you_mean
from conformance.files import write_atomic
from conformance.repro import case_files_option, command_line
from conformance.repro.script import default_path, script_text
from conformance.repro.unit import UnitFailed, run_unit
from conformance.repro.verify import check_script
from conformance.results.known import load_known
from conformance.results.records import RunResults
from conformance.run.selection import PROFILES, Selection
from conformance.run.standalone import WorkerStartFailed
from conformance.run.targets import possible_targets
from conformance.spec.case import Case
from conformance.spec.dtypes import DTYPE_NAMES
from conformance.spec import frameworks
from conformance.spec.library import known_path
from conformance.spec.loader import load_cases
from conformance.spec.select import select_ids
from conformance.wording import plural

HELP = "write a standalone script that reproduces one unit's records exactly (--check: run it and compare)"
DESCRIPTION = (
    "Write a standalone Python script, importing only NumPy and the target's framework, that reproduces the "
    "oracle checks of one unit (case, target, dtype, precision profile) exactly: the case's own inputs and "
    "upstream gradient (with a sha256 each, which the script verifies), the oracle's expected values and each "
    "element's error bound, the target's native call (the same arguments and path as the suite's; the gradients "
    "through the framework's autodiff) and the comparison, decided as the suite decides it. The unit runs once "
    "in a worker of its kind, as in `conformance run`. The script prints one line per check and exits 0 when "
    "every check passes, 1 when one fails (a known difference reproduces as a failure; its header names it), 2 "
    "when the framework raised, 3 when its embedded inputs were altered. A unit the target refuses "
    "(unsupported) has no native computation: no script is written, and the refusal is printed. Exit 0 when "
    "the script was written (with --check: and reproduced every record), 1 when --check found a verdict that "
    "differs or the unit crashed or raised in the adapter, 2 for bad input or a refused unit (or one that raised "
    "where the case has no valid output, as a target may).")


def add_parser(sub) -> None:
    p = sub.add_parser("repro", help=HELP, description=DESCRIPTION)
    p.add_argument("case_id", metavar="CASE_ID", help="a case id as printed, brackets included (or a glob that "
                                                      "matches one case)")
    p.add_argument("--target", required=True, metavar="API@DEVICE", help="e.g. torch.compile.layer@cpu "
                                                                         "(`conformance list` names them)")
    p.add_argument("--dtype", required=True, metavar="DTYPE", help=f"one of the case's dtypes: {', '.join(DTYPE_NAMES)}")
    p.add_argument("--precision", default="defaults", metavar="PROFILE",
                   help="the precision profile: defaults or strict (they differ on GPUs only; default: %(default)s)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the script (default: "
                                                           "repro_<case>_<api>_<dtype>.py in this folder)")
    p.add_argument("--compact", action="store_true", help="no arrays in the script: it draws the inputs again "
                                                          "with the suite's generator (verified by their sha256) and "
                                                          "recomputes the expected values with an embedded copy of "
                                                          "the oracle; only the case's own data: arrays stay")
    p.add_argument("--check", action="store_true", help="run the script and compare its verdict on each check "
                                                        "with the unit's record from this run")
    p.add_argument("--results", metavar="PATH", help="a results file that holds the case: the case's file "
                                                     "and the run's seed are read from it (--cases and --seed, "
                                                     "where given, win)")
    options.add_to_argparse(p, (replace(options.SEED, default=None, help="seed of the random inputs (default: "
                                        "the --results file's, else 0)"), replace(options.CASES, help="case files or folders (default: the "
                                                                          "library, %(default)s)"),
                                options.KNOWN, replace(options.TIMEOUT, help="seconds the unit may take in its worker, "
                                                       "and with --check the script (default: %(default)s)"),
                                options.CACHE_DIR))


def cmd_repro(args) -> int:
    target, dtype, profile = parse_unit(args.target, args.dtype, args.precision)
    args.cases, args.seed = inputs_from_results(args, args.case_id)
    case = find_case(args.cases, args.case_id)
    if dtype not in case.dtypes:
        raise UsageError(f"--dtype {dtype}: case {case.id!r} does not run in {dtype}; its dtypes: "
                         f"{', '.join(case.dtypes)}")
    missing = adapters.missing_packages(target.framework, target.api)
    if missing:
        raise UsageError(f"--target {target.name} needs {', '.join(missing)}, which is not installed here; "
                         f"`conformance list` says which targets this machine has")
    path = known_path(args.known)
    cache = Selection(cache_dir=args.cache_dir).shared_cache  # the run's rule: 'none' is a folder of its own
    try:
        run = run_unit(case, target, dtype, profile, seed=args.seed, known=load_known(path) if path else [],
                       timeout=args.timeout, cache_dir=cache)
    except (UnitFailed, WorkerStartFailed) as exc:  # crashed, hung, or did not start: nothing to write a script from
        print(f"conformance: {exc}", file=sys.stderr)
        return 1
    if run.material["body"] is None:
        return _no_script(run)
    default = options.CASES.default_value()
    command = command_line(case.id, target.name, dtype, profile=profile, seed=args.seed,
                           cases=None if list(args.cases) == list(default) else list(args.cases))
    out = Path(args.output) if args.output else default_path(run)
    write_atomic(out, script_text(run, command + (" --compact" if args.compact else ""), compact=args.compact))
    summary = ", ".join(f"{r.check} {r.status}" for r in run.records)
    known = f"; known difference {run.known['id']}" if run.known else ""
    print(f"wrote {out} (the suite's records: {summary}{known})")
    return check_script(out, run, args.timeout) if args.check else 0


def inputs_from_results(args, case_id: str) -> tuple[list[str], int]:
    """The case files and seed of the unit: the options where given, else the --results file's (the
    file the case was read from, as it records it), else the library and 0."""
    cases, seed = list(args.cases), args.seed
    if args.results:
        run = RunResults.read(args.results)
        given = list(cases) != list(options.CASES.default_value())
        if not given:
            chosen = sorted(select_ids(list(run.cases), [case_id]))
            origin = (run.cases[chosen[0]] or {}).get("origin") if len(chosen) == 1 else None
            cases = case_files_option(origin) or cases
        if seed is None:
            seed = int(run.environment.get("seed") or 0)
    return cases, seed or 0


def _no_script(run) -> int:
    """A unit with no native call to write: refused (exit 2, the refusal said) or failed in the adapter."""
    first = run.records[0]
    what = f"{run.case.id} on {run.unit.target.name} in {run.unit.dtype}"
    if run.material.get("no_snippet"):  # an adapter of a plugin may not write one (docs/architecture.md)
        print(f"conformance: error: {run.unit.target.name}'s adapter ({run.unit.framework}) writes no native call for "
              f"a script: its Observation needs `repro`, set by conformance.adapters.snippet.attach(obs, write); "
              f"no script was written", file=sys.stderr)
        return 2
    if run.material.get("body_error"):
        print(f"conformance: error: writing the reproducer of {what} failed: {run.material['body_error']}",
              file=sys.stderr)
        return 1
    if first.status == "unsupported":
        print(f"conformance: {what} is unsupported: {first.message}; there is no native computation to reproduce, "
              "so no script was written", file=sys.stderr)
        return 2
    if first.status == "pass":  # the call raised where the case has no valid output, which is allowed
        print(f"conformance: {what} {first.message} (docs/semantics.md#no-valid-output); there is no computed "
              "value to reproduce, so no script was written", file=sys.stderr)
        return 2
    print(f"conformance: {what} is {first.status} before any native call: {first.message}; no script was written",
          file=sys.stderr)
    return 1


def parse_unit(target: str, dtype: str, profile: str) -> tuple[Target, str, str]:
    names = possible_targets()
    api, _, device = target.partition("@")
    if target not in names:
        raise UsageError(f"--target {target!r} is no target{did_you_mean(target, names)}; targets are named "
                         f"api@device: {', '.join(names)}")
    if dtype not in DTYPE_NAMES:
        raise UsageError(f"--dtype {dtype!r}{did_you_mean(dtype, DTYPE_NAMES)}; allowed: {', '.join(DTYPE_NAMES)}")
    if profile not in PROFILES:
        raise UsageError(f"--precision {profile!r}{did_you_mean(profile, PROFILES)}; allowed: {', '.join(PROFILES)}")
    framework = frameworks.kind_of(api)
    return Target(framework, api, device), dtype, profile


def find_case(paths, case_id: str) -> Case:
    """The one case whose id is `case_id` (or the one case a glob matches) in the case files."""
    cases = load_cases(*paths)
    ids = [c.id for c in cases]
    chosen = sorted(select_ids(ids, [case_id]))
    if not chosen:
        raise UsageError(f"no case {case_id!r} in {' '.join(paths)}{did_you_mean(case_id, ids)}; "
                         f"`conformance list` names the {plural(len(ids), 'case')}")
    if len(chosen) > 1:
        shown = ", ".join(chosen[:5]) + (", ..." if len(chosen) > 5 else "")
        raise UsageError(f"{case_id!r} matches {plural(len(chosen), 'case')} ({shown}); give one case id")
    return next(c for c in cases if c.id == chosen[0])
