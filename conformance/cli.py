"""The `conformance` command (also `python -m conformance`).

Exit codes: 0 nothing unexpected; 1 something failed (a fail, flaky, error or crashed result that no known
difference covers, or a regression against the baseline); 2 bad input or usage.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path

from conformance.errors import ConformanceError, UsageError

DEFAULT_CASES = "cases"
DEFAULT_KNOWN = "cases/known_differences.yaml"
DEFAULT_JSON = "reports/results.json"
DEFAULT_HTML = "reports/report.html"


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="conformance", description=(
        "Check that convolution and transposed convolution mean the same thing in PyTorch, TensorFlow/Keras "
        "and JAX/Flax, against a NumPy float64 oracle."))
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the suite and write JSON results and the HTML report", description=(
        "Run every case on every selected target (framework API x device x precision profile) and compare "
        "outputs, shapes, weight shapes, parameter counts and gradients with the oracle. Exit 0 when nothing "
        "unexpected failed, 1 when something did (or regressed against --baseline), 2 for bad input."))
    run.add_argument("--cases", nargs="+", default=[DEFAULT_CASES], metavar="PATH",
                     help="case files or folders, anywhere on disk (default: %(default)s)")
    run.add_argument("--frameworks", type=_csv, metavar="LIST",
                     help="comma-separated: torch,tensorflow,jax (default: every installed one; a requested "
                          "framework that is not installed is an error)")
    run.add_argument("--devices", type=_csv, metavar="LIST", help="cpu,gpu (default: cpu, plus gpu where present)")
    run.add_argument("--dtypes", type=_csv, metavar="LIST",
                     help="only these of each case's dtypes: float16,bfloat16,float32,float64")
    run.add_argument("--precision", type=_csv, metavar="LIST",
                     help="GPU precision profiles: strict (TF32 off), defaults (out of the box); default: both on GPU")
    run.add_argument("--case-id", dest="case_ids", action="append", metavar="ID",
                     help="only this case: an id as the tool prints it, brackets included (e.g. "
                          "'conv2d_matrix[stride=2,padding=same]'); a value that equals no id is a glob "
                          "(*, ?, [seq]), e.g. 'conv2d_*' (repeatable)")
    run.add_argument("--known", default=DEFAULT_KNOWN, metavar="PATH",
                     help="known-differences file (default: %(default)s; 'none' to use none)")
    run.add_argument("--json", default=DEFAULT_JSON, metavar="PATH", help="results file (default: %(default)s)")
    run.add_argument("--html", default=DEFAULT_HTML, metavar="PATH", help="HTML report (default: %(default)s; '' for none)")
    run.add_argument("--baseline", metavar="PATH",
                     help="results JSON of an earlier run: regressions fail the run, and so do records of the "
                          "baseline this run lacks, and frameworks, devices or APIs it ran that were skipped here")
    run.add_argument("--allow-removed", action="store_true",
                     help="with --baseline: records of the baseline that this run did not select (cases or "
                          "targets removed on purpose) do not fail it; a framework that failed to start still does")
    run.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: %(default)s)")
    run.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                     help="one (case, target, dtype) may take this long; then its worker is stopped, the record is "
                          "an error and the run goes on (default: %(default)s)")
    run.add_argument("--max-case-memory", default="1GiB", metavar="SIZE",
                     help="refuse a case whose float64 working set (computed from its shapes) exceeds this, "
                          "before anything allocates it, e.g. 512MiB, 4GiB (default: %(default)s)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    run.add_argument("--relations", action="store_true",
                     help="also check the metamorphic relations (conformance/check/relations.py) of every case, "
                          "target and dtype, in the workers; several extra framework calls per case")
    run.add_argument("--jobs", "-j", type=int, metavar="N",
                     help="(case, framework) requests run at once, i.e. CPU cores used; a framework gets up to N "
                          "worker processes (default: the number of CPU cores)")
    run.add_argument("--targets", type=_csv, metavar="GLOBS",
                     help="only the targets whose name api@device matches one of these comma-separated globs, e.g. "
                          "tf.nn@cpu, 'torch.*', '*@cpu' (`conformance list` names them all)")
    run.add_argument("--retries", type=int, default=2, metavar="N",
                     help="a (case, target, dtype) whose worker crashed, or that errored or timed out, runs up to N "
                          "more times, each in a new worker; attempts that disagree make its records 'flaky', "
                          "which fails the run (default: %(default)s)")
    run.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="run every (case, target, dtype) N times, each in another worker process: a check whose "
                          "status differs between them is 'flaky', one whose values differ is listed as varying "
                          "(default: %(default)s)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="let the framework workers write their logs to this terminal (by default each worker's "
                          "output goes to a file, and a record that crashed or errored keeps its end)")
    run.add_argument("--shard", metavar="I/N",
                     help="run only shard I of N (1 <= I <= N): a deterministic split of the selected cases, the "
                          "same on every machine; join the shards' results with `conformance merge`")

    ls = sub.add_parser("list", help="list cases and targets (api@device, and whether this machine can run each)")
    ls.add_argument("--cases", nargs="+", default=[DEFAULT_CASES], metavar="PATH")
    ls.add_argument("--frameworks", type=_csv, metavar="LIST",
                    help="only the targets of these frameworks (each installed one starts a worker to say which "
                         "devices it sees; default: every known framework)")

    df = sub.add_parser("diff", help="compare two results files: regressions, fixes, changes (exit 1 on regressions)")
    df.add_argument("base")
    df.add_argument("new")
    df.add_argument("--allow-removed", action="store_true",
                    help="records of BASE that NEW lacks (cases or targets removed on purpose) do not fail the "
                         "comparison; a framework, device or API that NEW skipped (failed to start, not "
                         "installed) still does")

    mg = sub.add_parser("merge", help="merge results files (the shards of a run, or e.g. a CPU job and a GPU job) "
                                      "into one")
    mg.add_argument("inputs", nargs="+", metavar="RESULTS")
    mg.add_argument("-o", "--output", required=True, metavar="PATH")

    rp = sub.add_parser("report", help="write the HTML report of a results file")
    rp.add_argument("results")
    rp.add_argument("-o", "--output", default=DEFAULT_HTML, metavar="PATH")
    rp.add_argument("--baseline", metavar="PATH")
    rp.add_argument("--allow-removed", action="store_true", help="as for run and diff: removed records were intended")

    mx = sub.add_parser("matrix", help="print the support matrix (case features x targets) of a results file as Markdown")
    mx.add_argument("results")

    sub.add_parser("schema", help="print the JSON Schema of case files (for editor completion)")

    from conformance.search.explore import add_arguments as add_explore_arguments

    add_explore_arguments(sub.add_parser(
        "explore", help="search random valid cases for discrepancies (hypothesis), shrink one, write it as a case",
        description=("Draw random valid cases with hypothesis and run each on every API of the frameworks, "
                     "with the oracle checks and the metamorphic relations. 'unsupported' is fine; an "
                     "unexplained fail, error or crash is a discrepancy: it is shrunk to a minimal case, printed "
                     "and saved as a ready-to-paste case file under reports/. Exit 0 when none was found, 1 when "
                     "one was, 2 for bad input.")))
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except ConformanceError as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
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
    from conformance.spec.features import case_features
    from conformance.results.known import mark_known, stale_entries
    from conformance.spec.loader import parse_bytes
    from conformance.results.records import RecordStream
    from conformance.run.selection import Selection
    from conformance.run.suite import dtypes_for, run_suite
    from conformance.run.shard import parse_shard, select_shard
    from conformance.spec.select import load_selected_cases, case_table

    selection = Selection(frameworks=args.frameworks, devices=args.devices, dtypes=args.dtypes,
                          precision=args.precision, seed=args.seed, timeout=args.timeout, jobs=args.jobs,
                          relations=args.relations, targets=args.targets, retries=args.retries,
                          repeat=args.repeat, verbose=args.verbose)
    selection.validate()  # bad options fail before any case file is read or framework started
    shard = parse_shard(args.shard) if args.shard is not None else None
    budget = parse_bytes(args.max_case_memory)
    if not args.json:
        raise UsageError("--json needs a path: the JSON results are what every other view is made from")
    cases = load_selected_cases(args.cases, args.case_ids, budget)
    if shard:
        cases = select_shard(cases, shard, weight=lambda c: len(dtypes_for(c, selection)))
    known = _load_known(args.known)
    baseline = _read_results(args.baseline) if args.baseline else None
    features = {c.id: case_features(c) for c in cases}
    stream = RecordStream(args.json)  # every record on disk as it arrives, whatever happens next
    environment: dict = {}  # the run's, once the workers started: known differences' `when:` reads it

    def arrived(records):
        mark_known(records, known, features, environment)
        stream.write(records)

    show = sys.stderr.isatty() and not args.no_progress
    with _terminate_as_interrupt():
        run = run_suite(cases, selection, progress=_progress_bar if show else None, on_records=arrived,
                        known=known, on_start=environment.update)
        if shard:
            run.environment["shard"] = f"{shard[0]}/{shard[1]}"
        stream.close()
        run.stale_known = [] if run.partial else stale_entries(run.results, known, features, run.environment)
        run.cases = case_table(cases)
        json_path = run.write(args.json)
        stream.discard()
        html_path = _write_html(run, args.html, baseline, allow_removed=args.allow_removed)
    if run.partial:
        print(f"conformance: {run.partial}", file=sys.stderr)
    code = _finish(run, baseline, json_path, html_path, requested=args.frameworks or (),
                   allow_removed=args.allow_removed)
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


def _load_known(path):
    from conformance.results.known import load_known

    if path == "none" or (path == DEFAULT_KNOWN and not Path(path).exists()):
        return []  # none asked for, or running outside the repository with the default
    return load_known(path)


def _finish(run, baseline, json_path, html_path, *, requested=(), allow_removed=False) -> int:
    from conformance.results.diff import diff, format_text, gate_lines
    from conformance.results.records import summarize
    from conformance.report.text import describe_skip

    d = diff(baseline, run, allow_removed=allow_removed) if baseline is not None else None
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
    from conformance.run.attempts import unexpected_lines, varied_lines

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
    lines = []
    for name, section in (run.environment.get("frameworks") or {}).items():
        if not isinstance(section, dict) or not section.get("error") or name in lost:
            continue
        why = ("it was requested with --frameworks" if name in requested else
               "it is installed, so it was selected; to run without it, name the others with --frameworks")
        lines.append(f"conformance: error: {name} failed to start: {section['error']} ({why})")
    return lines


def _summary_text(summary) -> str:
    lines = [f"{summary['total']} results: " + ", ".join(f"{n} {s}" for s, n in sorted(summary["by_status"].items()))]
    for fw, counts in sorted(summary["by_framework"].items()):
        lines.append(f"  {fw:11} " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines) + "\n"


def _write_html(run, path, baseline, *, allow_removed=False):
    from conformance.report.html import write_report

    return write_report(run, path, baseline=baseline, allow_removed=allow_removed) if path else None


def _progress_bar(done: int, total: int) -> None:
    width = 40
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} case x framework", end=end,
          file=sys.stderr, flush=True)


def _read_results(path):
    from conformance.results.records import RunResults

    return RunResults.read(path)


def cmd_list(args) -> int:
    from conformance import adapters
    from conformance.spec.features import case_features
    from conformance.spec.select import load_selected_cases

    cases = load_selected_cases(args.cases, None)
    for case in cases:
        print(f"{case.id}\t{case.describe()}\tdtypes={','.join(case.dtypes)}\tfeatures={','.join(case_features(case))}")
    print(f"{len(cases)} cases")
    from conformance.run.selection import Selection
    from conformance.run.targets import availability

    Selection(frameworks=args.frameworks).validate()
    print("targets (select with --targets GLOB, e.g. 'torch.*', '*@cpu'):")
    for name, fw, state in availability(args.frameworks or adapters.FRAMEWORKS):
        print(f"  {name:24} {fw:11} {state}")
    return 0


def cmd_diff(args) -> int:
    from conformance.results.diff import diff, format_text

    d = diff(_read_results(args.base), _read_results(args.new), allow_removed=args.allow_removed)
    text = format_text(d)  # what fails the comparison first, then the environments, then the records
    print(text, end="" if text.endswith("\n") else "\n")
    return 1 if d.has_regressions else 0


def cmd_merge(args) -> int:
    from conformance.results.merge import merge

    merged = merge([(p, _read_results(p)) for p in args.inputs])
    path = merged.write(args.output)
    print(f"merged {len(args.inputs)} files, {len(merged.results)} results: {path}")
    return 0


def cmd_report(args) -> int:
    run = _read_results(args.results)
    baseline = _read_results(args.baseline) if args.baseline else None
    path = _write_html(run, args.output, baseline, allow_removed=args.allow_removed)
    print(f"report: {path}")
    return 0


def cmd_matrix(args) -> int:
    from conformance.results.support import support_matrix

    print(support_matrix(_read_results(args.results)), end="")
    return 0


def cmd_schema(args) -> int:
    from conformance.spec.schema import case_file_schema

    print(json.dumps(case_file_schema(), indent=2))
    return 0


def cmd_explore(args) -> int:
    from conformance.search.explore import run_command

    return run_command(args, load_known=_load_known, write_html=_write_html)


COMMANDS = {"run": cmd_run, "list": cmd_list, "diff": cmd_diff, "merge": cmd_merge, "report": cmd_report,
            "matrix": cmd_matrix, "schema": cmd_schema,
            "explore": cmd_explore}

if __name__ == "__main__":
    sys.exit(main())
