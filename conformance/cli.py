"""The `conformance` command (also `python -m conformance`).

Exit codes: 0 nothing unexpected; 1 something failed (a fail, flaky, error or crashed result that no known
difference covers, or a regression against the baseline); 2 bad input or usage.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
from pathlib import Path

from conformance import adapters, options
from conformance.errors import ConformanceError, UsageError, did_you_mean
from conformance.report.porting import porting_view
from conformance.repro import command as repro
from conformance.port import command as port
from conformance.report.text import describe_skip, unexpected_lines, varied_lines
from conformance.results.diff import FAILED_TO_START, diff, parse_allow
from conformance.results.diff_text import format_text, gate_lines
from conformance.results.finish import finish_run
from conformance.results.known import load_known
from conformance.results.merge import merge
from conformance.results.records import RecordStream, RunResults, summarize
from conformance.results.schema import results_file_schema
from conformance.results.support import support_table
from conformance.run.environment import host_environment
from conformance.run.selection import Selection, resolve_frameworks
from conformance.run.shard import parse_shard, select_shard
from conformance.run.suite import dtypes_for, run_suite
from conformance.run.targets import availability
from conformance.search.explore import IsolatedFramework, case_yaml, explore_framework, write_case
from conformance.spec import coverage
from conformance.spec.dtypes import DTYPE_NAMES
from conformance.spec import frameworks
from conformance.spec.features import case_features
from conformance.spec.library import known_path
from conformance.spec.loader import parse_bytes
from conformance.spec.schema import case_file_schema
from conformance.wording import plural
from conformance.spec.select import case_table, load_selected_cases, select_ids


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="conformance", description=(
        "Check that convolution and transposed convolution mean the same thing in PyTorch, TensorFlow/Keras, "
        "JAX/Flax, ONNX and LiteRT, eager, compiled, exported and converted, against a NumPy float64 oracle."))
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    options.add_to_argparse(sub.add_parser(
        "run", help="run the suite and write JSON results and the HTML report", description=(
            "Run every case on every selected target (framework API x device x precision profile) and compare "
            "outputs, shapes, weight shapes, parameter counts and gradients with the oracle. Exit 0 when nothing "
            "unexpected failed, 1 when something did (or regressed against --baseline), 2 for bad input.")),
        options.RUN)
    options.add_to_argparse(sub.add_parser(
        "list", help="list cases and targets (api@device, and whether this machine can run each)"), options.LIST)
    options.add_to_argparse(sub.add_parser(
        "coverage", help="how many valid 2-way and 3-way combinations of the feature model the cases cover, "
                         "and which are missing", description=(
            "Derive each case's level of every factor of the feature model (conformance/spec/feature_model.py: "
            "op, dims, stride, dilation, grouping, padding, effective kernel against stride, kernel, batch, bias, "
            "channels, input parity, output_padding, dtype), and count the valid combinations of 2 and of 3 "
            "factors that some case has, out of those that can exist. Exit 0, or 2 for bad input. "
            "`python -m conformance.spec.generate_combinations` rewrites cases/combinations.yaml to close the "
            "gaps.")), options.COVERAGE)
    add_results_commands(sub)
    repro.add_parser(sub)
    port.add_parser(sub)
    schema = sub.add_parser("schema", help="print the JSON Schema of case files (for editor completion), "
                                           "or with --results of results files")
    schema.add_argument("--results", action="store_true",
                        help="the schema of the results file that run, merge and --conformance-json write")
    options.add_to_argparse(sub.add_parser(
        "explore", help="search random valid cases for discrepancies (hypothesis), shrink one, write it as a case",
        description=("Draw random valid cases with hypothesis and run each on every API of the frameworks, "
                     "with the oracle checks and the metamorphic relations. 'unsupported' is fine; an "
                     "unexplained fail, error or crash is a discrepancy: it is shrunk to a minimal case, printed "
                     "and saved as a ready-to-paste case file under reports/. Exit 0 when none was found, 1 when "
                     "one was, 2 for bad input.")), options.EXPLORE)
    return p


def add_results_commands(sub) -> None:
    """The commands that read results files: diff, merge, report, matrix."""
    df = sub.add_parser("diff", help="compare two results files: regressions, fixes, changes (exit 1 on regressions)",
                        description=(
        "Compare two results files record by record. Statuses are ordered pass < known < unsupported < fail, "
        "error, crashed, flaky; a record that got worse is a regression (newly failing, newly refused, newly "
        "known), and so is an added record that fails. Exit 1 on a regression that --allow does not let through, "
        "on records of BASE that NEW lacks, and on a framework, device or API that NEW skipped; else 0."))
    df.add_argument("base")
    df.add_argument("new")
    options.add_to_argparse(df, options.GATE)

    mg = sub.add_parser("merge", help="merge results files (the shards of a run, or e.g. a CPU job and a GPU job) "
                                      "into one")
    mg.add_argument("inputs", nargs="+", metavar="RESULTS")
    mg.add_argument("-o", "--output", required=True, metavar="PATH",
                    help="the merged results file; a name ending in .gz writes it gzipped")

    rp = sub.add_parser("report", help="write the HTML report of a results file")
    rp.add_argument("results")
    rp.add_argument("-o", "--output", default=options.HTML.default, metavar="PATH")
    options.add_to_argparse(rp, (options.BASELINE, *options.GATE))

    mx = sub.add_parser("matrix", help="print the support matrix (case features x targets) of a results file as Markdown")
    mx.add_argument("results")

    sh = sub.add_parser("show", help="the porting view of a case: every target side by side, the output's status per "
                                     "dtype, each kind of check with the framework's reason where it refuses, the "
                                     "native call and a repro command")
    sh.add_argument("case_id", metavar="CASE_ID", help="an id as printed (brackets included), or a glob")
    sh.add_argument("--results", default=options.JSON.default, metavar="PATH",
                    help="the results file to read (default: %(default)s, what `conformance run` writes)")
    sh.add_argument("--cases", nargs="+", metavar="PATH", help="the case files the printed commands name "
                                                               "(default: the case's file, as the results file records it)")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except ConformanceError as exc:
        for line in str(exc).splitlines() or [""]:  # several bad cases: one line each
            print(f"conformance: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `conformance diff a b | head`: the reader left before the end
        # Exit as a Unix tool killed by SIGPIPE does (128 + 13), never 0: the output was cut short,
        # and a gate must not read a truncated diff as "no regressions".
        sys.stderr.close()
        return 141


# ------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    selection = Selection(**{option.dest: getattr(args, option.dest) for option in options.SELECTION})
    selection.validate()  # bad options fail before any case file is read or framework started
    allow = gate_allow(args)
    shard = parse_shard(args.shard) if args.shard is not None else None
    budget = parse_bytes(args.max_case_memory)
    if not args.json:
        raise UsageError("--json needs a path: the JSON results are what every other view is made from")
    known = read_known(args.known)
    cases = load_selected_cases(args.cases, args.case_id, budget)
    if shard:
        cases = select_shard(cases, shard, weight=lambda c: len(dtypes_for(c, selection)))
    baseline = _read_results(args.baseline) if args.baseline else None
    stream = RecordStream(args.json)  # every record on disk as it arrives, whatever happens next
    show = sys.stderr.isatty() and not args.no_progress
    with _terminate_as_interrupt():
        run = run_suite(cases, selection, progress=_progress_bar if show else None, on_records=stream.write,
                        known=known)
        if shard:
            run.environment["shard"] = f"{shard[0]}/{shard[1]}"
        stream.close()
        run = finish_run(run.results, run.environment, run.skipped, case_table(cases), known)
        json_path = run.write(args.json)
        stream.discard()
        html_path = _write_html(run, args.html, baseline, allow=allow)
    if run.partial:
        print(f"conformance: {run.partial}", file=sys.stderr)
    code = _finish(run, baseline, json_path, html_path, requested=args.frameworks or (), allow=allow)
    return 130 if run.partial else code


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (a CI job cancelled, `kill`) stops the run as Ctrl-C does: what finished is written."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (e.g. called from a test runner's thread): leave it
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def read_known(value: str, option: str = "--known") -> list:
    """The entries of the known-differences file an option names: none for 'none'; a missing file
    is an error (conformance.spec.library.known_path)."""
    path = known_path(value, option)
    return load_known(path) if path is not None else []


def gate_allow(args) -> frozenset[str]:
    """The --allow words (and --allow-removed, the same as --allow removed), checked; they mean
    something only against a baseline."""
    words = [*(args.allow or ()), *(["removed"] if args.allow_removed else [])]
    if words and getattr(args, "baseline", True) is None:
        flag = "--allow-removed" if args.allow_removed else f"--allow {words[0]}"
        raise UsageError(f"{flag} lets a regression through the comparison with a baseline; give one with --baseline")
    return parse_allow(words)


def _finish(run, baseline, json_path, html_path, *, requested=(), allow=frozenset()) -> int:
    d = diff(baseline, run, allow=allow) if baseline is not None else None
    # Coverage the run lost fails it even when every record passes: said first, one line each.
    problems = (gate_lines(d) if d is not None else []) + _start_failures(run, requested, d)
    for line in problems:
        print(line)
    summary = summarize(run.results)
    print(_summary_text(summary), end="")
    for skip in run.skipped:
        print(f"skipped: {describe_skip(skip)}")
    for stale in run.stale_known:
        print(f"stale known difference {stale['id']} ({stale['origin']}): matched no result")
    unexpected = run.unexpected
    for line in unexpected_lines(unexpected) + varied_lines(run.results):
        print(line)
    if d is not None:
        text = format_text(d, gate=False)
        print(text, end="" if text.endswith("\n") else "\n")
    print(f"results: {json_path}")
    if html_path:
        print(f"report:  {html_path}")
    if not run.partial and not run.environment.get("frameworks"):
        print("conformance: error: nothing was checked: no framework is installed (see 'skipped' above); "
              "install one, e.g. pip install 'conv-conformance[torch]'", file=sys.stderr)
        return 2
    return 1 if unexpected or problems or (d is not None and d.has_regressions) else 0


def _start_failures(run, requested, d) -> list[str]:
    """A framework that was to run but failed to start fails the run: one requested with
    --frameworks, and one merely detected too (its packages are installed, so a failed import is a
    broken install, e.g. an upgrade, not a choice). One the baseline had is already a lost line."""
    lost = {x.skip.get("framework") for x in d.lost if not ({"target", "device"} & set(x.skip))} if d else set()
    lost_targets = {x.skip.get("target") for x in d.lost if "target" in x.skip} if d else set()
    lines = []
    for name, section in (run.environment.get("frameworks") or {}).items():
        if not isinstance(section, dict) or not section.get("error") or name in lost:
            continue
        why = ("it was requested with --frameworks" if name in requested else
               "it is installed, so it was selected; to run without it, name the others with --frameworks")
        lines.append(f"conformance: error: {name} failed to start: {section['error']} ({why})")
    for skip in run.skipped:  # a target whose own installed package fails to import (Adapter.start_errors)
        target, reason = skip.get("target"), str(skip.get("reason", ""))
        if target and reason.startswith(FAILED_TO_START) and target not in lost_targets:
            lines.append(f"conformance: error: {target} failed to start: {reason[len(FAILED_TO_START):]} (its package "
                         "is installed, so it was selected; to run without it, leave it out with --targets)")
    return lines


def _summary_text(summary) -> str:
    """The counts by status, overall and per target (`api@device`): what a user selects and ports to."""
    lines = [f"{plural(summary['total'], 'result')} on {plural(len(summary['by_target']), 'target')}: "
             + ", ".join(f"{n} {s}" for s, n in sorted(summary["by_status"].items()))]
    width = max(map(len, summary["by_target"]), default=0)
    for target, counts in sorted(summary["by_target"].items()):
        lines.append(f"  {target:{width}} " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines) + "\n"


def _write_html(run, path, baseline, *, allow=frozenset()):
    from conformance.report.html import write_report  # Jinja: only when a report is written

    return write_report(run, path, baseline=baseline, allow=allow) if path else None


def _progress_bar(done: int, total: int) -> None:
    width = 40
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} case x framework", end=end,
          file=sys.stderr, flush=True)


def _read_results(path):
    return RunResults.read(path)


def cmd_list(args) -> int:
    cases = load_selected_cases(args.cases, None)
    for case in cases:
        print(f"{case.id}\t{case.describe()}\tdtypes={','.join(case.dtypes)}\tfeatures={','.join(case_features(case))}")
    print(plural(len(cases), "case"))
    Selection(frameworks=args.frameworks).validate()
    print("targets (select with --targets GLOB, e.g. 'torch.*', '*@cpu'):")
    rows = availability(args.frameworks or frameworks.kinds())
    width = [max((len(row[i]) for row in rows), default=0) for i in (0, 1)]
    for name, fw, state in rows:
        print(f"  {name:{width[0]}} {fw:{width[1]}} {state}")
    return 0


def cmd_coverage(args) -> int:
    cases = load_selected_cases(args.cases, None)
    results = [coverage.coverage(cases, t) for t in coverage.STRENGTHS]
    if args.json:
        text = json.dumps(coverage.as_json(results, len(cases)), indent=1) + "\n"
        if args.json == "-":
            print(text, end="")
            return 0
        Path(args.json).write_text(text, encoding="utf-8")
    print(coverage.text(results, len(cases), None if args.all else args.limit), end="")
    return 0


def cmd_diff(args) -> int:
    allow = gate_allow(args)
    d = diff(_read_results(args.base), _read_results(args.new), allow=allow)
    text = format_text(d)  # what fails the comparison first, then the environments, then the records
    print(text, end="" if text.endswith("\n") else "\n")
    return 1 if d.has_regressions else 0


def cmd_merge(args) -> int:
    merged = merge([(p, _read_results(p)) for p in args.inputs])
    path = merged.write(args.output)
    print(f"merged {plural(len(args.inputs), 'file')}, {plural(len(merged.results), 'result')}: {path}")
    return 0


def cmd_report(args) -> int:
    allow = gate_allow(args)
    run = _read_results(args.results)
    baseline = _read_results(args.baseline) if args.baseline else None
    path = _write_html(run, args.output, baseline, allow=allow)
    print(f"report: {path}")
    return 0


def cmd_matrix(args) -> int:
    print(support_table(_read_results(args.results)), end="")
    return 0


def cmd_show(args) -> int:
    if not Path(args.results).is_file():
        raise UsageError(f"--results: no results file {args.results}; make one with `conformance run "
                         f"--case-id {shlex.quote(args.case_id)} --json {shlex.quote(args.results)}` (add --cases "
                         f"for your own case files), or ask `conformance port {shlex.quote(args.case_id)}`, which "
                         f"runs the case on each target now")
    run = _read_results(args.results)
    ids = sorted({r.case for r in run.results})
    chosen = sorted(select_ids(ids, [args.case_id]))
    if not chosen:
        raise UsageError(f"no case {args.case_id!r} in {args.results}{did_you_mean(args.case_id, ids)}; "
                         f"it holds {plural(len(ids), 'case')} (`conformance list` names them)")
    seed = int(run.environment.get("seed") or 0)
    print("\n\n".join(porting_view(run.results, case_id, seed=seed, cases=args.cases,
                                     origin=(run.cases.get(case_id) or {}).get("origin")) for case_id in chosen))
    return 0


def cmd_schema(args) -> int:
    print(json.dumps(results_file_schema() if args.results else case_file_schema(), indent=2))
    return 0


# ------------------------------------------------------------------------- `conformance explore`
def cmd_explore(args) -> int:
    """One search per framework (conformance/search/explore.py), records to JSON/HTML, the minimal
    case of each discrepancy printed and saved."""
    if args.examples < 1:
        raise UsageError(f"--examples must be at least 1, got {args.examples}")
    dtypes = _allowed(args.dtypes, DTYPE_NAMES, "--dtypes")
    requested = None if args.frameworks is None else _allowed(args.frameworks, frameworks.kinds(), "--frameworks")
    kinds, skipped = resolve_frameworks(Selection(frameworks=requested))
    if not args.json:
        raise UsageError("--json needs a path: the JSON results are what every other view is made from")
    known = read_known(args.known)
    database = _example_database(args.database)
    environment = {"host": host_environment(), "explore": {
        "examples": args.examples, "dtypes": dtypes, "seed": args.seed, "relations": not args.no_relations},
        "frameworks": {}}
    explorations = [_explore(name, args, dtypes, known, database, environment) for name in kinds]
    cases = [c for ex in explorations for c in ex.cases.values()]
    # No stale entries (known=[]): a random sample of cases cannot show that an entry no longer applies.
    run = finish_run([r for ex in explorations for r in ex.results], environment, skipped, case_table(cases),
                     known=[])
    json_path = run.write(args.json)
    print(f"results: {json_path}")
    html_path = _write_html(run, args.html, None)
    if html_path:
        print(f"report:  {html_path}")
    return 1 if any(ex.found is not None for ex in explorations) else 0


def _allowed(names: list[str], allowed, option: str) -> list[str]:
    for name in names:
        if name not in allowed:
            raise UsageError(f"{option}: unknown value {name!r}{did_you_mean(name, allowed)}; "
                             f"allowed: {', '.join(allowed)}")
    if not names:
        raise UsageError(f"{option}: give at least one of {', '.join(allowed)}")
    return names


def _example_database(value: str):
    """--database: hypothesis's example database in that folder, or in memory for 'none'."""
    from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase

    return InMemoryExampleDatabase() if value == "none" else DirectoryBasedExampleDatabase(value)


def _explore(name: str, args, dtypes, known, database, environment: dict):
    """One framework's search, in its worker process; what it found is printed before the next starts."""
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
    statuses: dict = {}
    for r in ex.results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    print(f"{name}: {plural(len(ex.cases), 'case')} in {ex.seconds:.0f} s: "
          + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    if ex.note:
        print(f"  {ex.note}")
    if ex.found is not None:
        path = write_case(ex.found.case, ex.found, args.out)
        print(f"  discrepancy, shrunk to {ex.found.case.describe()}, {ex.found.case.dtypes[0]}:")
        for r in ex.found.bad[:10]:
            print(f"    {r.status.upper():8} {r.api}@{r.device} {r.check}: {r.message}")
        print("  as a case (saved to " + str(path) + "):")
        print("\n".join("    " + line for line in case_yaml(ex.found.case, ex.found).splitlines()))
    return ex


COMMANDS = {"run": cmd_run, "list": cmd_list, "coverage": cmd_coverage, "diff": cmd_diff, "merge": cmd_merge, "report": cmd_report,
            "matrix": cmd_matrix, "show": cmd_show, "schema": cmd_schema,
            "explore": cmd_explore, "repro": repro.cmd_repro, "port": port.cmd_port}

if __name__ == "__main__":
    sys.exit(main())
