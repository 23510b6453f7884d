"""The `conformance port` command: a layer (a native constructor call, a case id, or a case file), the
call on each target that computes it exactly, each such call run now and checked against the oracle."""
from __future__ import annotations

import fnmatch
from pathlib import Path

from conformance import options
from conformance.check.evaluate import ALLOWED_RAISE
from conformance.errors import UsageError
from conformance.port.answers import Answer
from conformance.port.families import FAMILIES, TARGETS, WITH_RECIPES, answers
from conformance.port.parse import parse_call
from conformance.port.run import RECIPE_PREFIX, run_recipes, runnable
from conformance.repro.command import find_case, inputs_from_results
from conformance.results.records import FAILING, RunResults
from conformance.run.selection import Selection
from conformance.spec.case import Case
from conformance.spec.dtypes import DTYPE_NAMES
from conformance.spec.frameworks import forward_only
from conformance.spec.loader import load_cases
from conformance.wording import plural, shorten

HELP = "how to compute a layer exactly on each target: the call, the weight transpose, checked against the oracle now"
DESCRIPTION = (
    "Answer 'my layer, what is it on PyTorch / Keras / TensorFlow / JAX / Flax / ONNX / LiteRT, and does it give the "
    "same numbers?', on every CPU target (the paths of one API share its answer). WHAT is a "
    "native constructor call written as in your code (with --input-shape), e.g. \"torch.nn.ConvTranspose2d(32, 16, "
    "3, stride=2, padding=1, output_padding=1)\", a case id, or a case file. For each target: the call and the weight "
    "transpose that compute the case exactly; where the target's padding keyword does, what it resolves to at this "
    f"input size; where none does, the explicit construction (recipes, on every target of the {', '.join(WITH_RECIPES)} "
    "families), how the "
    "nearest keyword differs, or why none exists. Every call offered runs now, in the target's worker, forward and "
    "gradients (where the target has them), and is checked against the oracle; a construction's records read "
    "recipe:<api>. Exit 0 when every recipe passed, 1 when one failed, 2 for bad "
    "input.")


def add_parser(sub) -> None:
    p = sub.add_parser("port", help=HELP, description=DESCRIPTION)
    p.add_argument("what", metavar="WHAT", help="a constructor call (quoted), a case id, or a case file")
    p.add_argument("--input-shape", metavar="N,C,*SPATIAL", help="the input of a constructor call, channels first "
                                                                 "as the suite lays it out, e.g. 1,32,16,16")
    p.add_argument("--dtype", default="float32", metavar="DTYPE", help=f"one of {', '.join(DTYPE_NAMES)} "
                                                                       "(default: %(default)s)")
    p.add_argument("--results", metavar="PATH", help="for a case id: the results file that names its case file")
    p.add_argument("--targets", metavar="GLOBS", help=f"only these targets (comma-separated globs; default: all of "
                                                      f"{', '.join(TARGETS)})")
    p.add_argument("--json", metavar="PATH", help="also write the records (the recipes' marked recipe:<api>)")
    options.add_to_argparse(p, (options.SEED, options.CASES, options.TIMEOUT, options.JOBS, options.CACHE_DIR))


def cmd_port(args) -> int:
    if args.dtype not in DTYPE_NAMES:
        raise UsageError(f"--dtype {args.dtype!r}; allowed: {', '.join(DTYPE_NAMES)}")
    if args.targets and not any(chosen(t, args.targets) for t in TARGETS):
        raise UsageError(f"--targets {args.targets!r} matches none of {', '.join(TARGETS)}")
    cases = layer_cases(args)
    selection = Selection(jobs=args.jobs, cache_dir=args.cache_dir)
    failed, records = 0, []
    for case in cases:
        if args.dtype not in case.dtypes:
            case = Case.from_dict({**case.to_dict(), "dtypes": [args.dtype]})
        found, mine = port_case(case, args, selection)
        failed += found
        records += mine
    if args.json:
        print(f"records: {RunResults(records, environment={'seed': args.seed}).write(args.json)}")
    return 1 if failed else 0


def layer_cases(args) -> list[Case]:
    """The cases WHAT names: a call's, a case file's, or the one case an id names."""
    what = args.what.strip()
    if "(" in what:
        if not args.input_shape:
            raise UsageError("--input-shape is needed with a constructor call: the input N,C,*spatial (channels "
                             "first), e.g. --input-shape 1,32,16,16")
        try:
            shape = tuple(int(v) for v in args.input_shape.split(","))
        except ValueError:
            raise UsageError(f"--input-shape {args.input_shape!r}: write integers separated by commas, e.g. "
                             "1,32,16,16") from None
        return [Case.from_dict({**parse_call(what, shape), "dtypes": [args.dtype]})]
    if Path(what).is_file():
        return load_cases(what)
    if args.results:
        args.cases, args.seed = inputs_from_results(args, what)
    try:
        return [find_case(args.cases, args.what)]
    except UsageError as exc:  # WHAT may have been meant as one of the other two forms
        raise UsageError(f"{exc}; WHAT is a constructor call (with --input-shape), a case id, or a case file") from None


def port_case(case: Case, args, selection) -> tuple[int, list]:
    """Print the answer for one case; (how many recipes failed, every record)."""
    items = [a for a in answers(case) if chosen(a.target, args.targets)]
    recipes, skipped = runnable(items)
    results = run_recipes(case, recipes, args.dtype, seed=args.seed or 0, timeout=args.timeout,
                          jobs=selection.jobs or 1, cache_dir=selection.shared_cache) if recipes else {}
    by_recipe = {id(r): results.get(i, []) for i, r in enumerate(recipes)}
    print(f"port {case.id}")
    print(f"  the case: {case.describe()}; output {list(case.output_shape)}")
    print(f"  constructions (recipes, checked against the oracle) on every target of: {', '.join(WITH_RECIPES)}; "
          f"{', '.join(t for f, apis in FAMILIES.items() if f not in WITH_RECIPES for t in apis)}: their own call")
    failed = 0
    for answer in items:
        failed += print_answer(answer, by_recipe, skipped.get(answer.target))
    print(f"  {plural(sum(1 for r in recipes if not r.native), 'recipe')} checked, "
          f"{plural(failed, 'failure')}")
    print()
    return failed, [r for records in results.values() for r in records]


def chosen(target: str, globs: str | None) -> bool:
    return not globs or any(fnmatch.fnmatchcase(target, g.strip()) for g in globs.split(",") if g.strip())


def print_answer(answer: Answer, by_recipe: dict, skipped: str | None) -> int:
    print(f"\n  == {answer.target}: {answer.title}")
    if skipped:
        print(f"     not checked: {skipped}")
    for line in answer.lines:
        print(f"     {line}")
    if answer.none:
        print(f"     NONE EXISTS: {answer.none}")
    failed = 0
    for recipe in answer.recipes:
        records = by_recipe.get(id(recipe), [])
        kind = "native" if recipe.native else "recipe"
        verdict = verdict_text(records) if records else "not run"
        bad = [r for r in records if r.status in FAILING]
        if bad and not recipe.native:
            failed += 1
        print(f"     {standing(records, bad)} ({kind}): {recipe.label}")
        print(f"         {recipe.code}")
        print(f"         checked ({records[0].dtype if records else '-'}): {verdict}")
    return failed


def standing(records, bad) -> str:
    """'exact' where every check passed; 'exact, forward only' where the output passed and the target
    computes no gradients (an exported or converted model); 'exact forward, gradients REFUSED' where the
    target refused its gradients; 'REFUSED' where it refused the call; 'FAILED' where a check failed;
    'raises (no valid output: allowed)' where the case has no output and the call raised."""
    output = next((r.status for r in records if r.check == "output"), None)
    if bad:
        return "FAILED"
    if any((r.message or "").startswith(ALLOWED_RAISE) for r in records if r.check == "output"):
        return "raises (no valid output: allowed)"
    if output == "pass":
        if all(r.status == "pass" for r in records):
            return "exact"
        api = records[0].api.removeprefix(RECIPE_PREFIX)
        return "exact, forward only" if forward_only(api) else "exact forward, gradients REFUSED"
    return "REFUSED" if output == "unsupported" else "not checked"


def verdict_text(records) -> str:
    """'output pass, grad_input pass, ...', a refusal's or failure's words after the first not passing."""
    text = ", ".join(f"{r.check} {r.status}" for r in records)
    worst = next((r for r in records if r.status != "pass"), None)
    if worst is not None and worst.message:
        text += f" ({worst.check}: {shorten(' '.join(worst.message.split()), 300)})"
    return text
