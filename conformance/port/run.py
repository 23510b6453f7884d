"""Every call the porting answer offers, run now in its target's worker and checked against the oracle,
as `conformance repro` runs one unit (conformance/repro/unit.py): one pool, a worker per framework
kind, no prior run. A recipe's records are the target's checks of the recipe, marked as a recipe's
(their api reads `recipe:<api>`), never mixed with the target's native records.
"""
from __future__ import annotations

from conformance import adapters
from conformance.adapters.base import Target
from conformance.check.unit import Unit
from conformance.port.answers import Answer, Recipe
from conformance.results.records import Result
from conformance.run.messages import Request
from conformance.run.standalone import run_requests, start_failure, started_workers
from conformance.spec.case import Case
from conformance.spec import frameworks

RECIPE_PREFIX = "recipe:"


def target_of(name: str) -> Target:
    api, _, device = name.partition("@")
    framework = frameworks.kind_of(api)
    return Target(framework, api, device)


def runnable(answers: list[Answer]) -> tuple[list[Recipe], dict[str, str]]:
    """The recipes whose target's framework is installed, and target -> why not for the others."""
    recipes, skipped = [], {}
    for answer in answers:
        target = target_of(answer.target)
        missing = adapters.missing_packages(target.framework, target.api)
        if missing:
            skipped[answer.target] = f"not installed here: {', '.join(missing)}"
            continue
        recipes += answer.recipes
    return recipes, skipped


def run_recipes(case: Case, recipes: list[Recipe], dtype: str, *, seed: int, timeout: float, jobs: int,
                cache_dir: str | None) -> dict[int, list[Result]]:
    """index of the recipe in `recipes` -> its records (a crash or a hang: one record saying so)."""
    targets = [target_of(r.target) for r in recipes]
    kinds = sorted({t.framework for t in targets})
    out: dict[int, list[Result]] = {}
    with started_workers(kinds, timeout=timeout, jobs=jobs, shared_cache=cache_dir) as (pool, infos):
        requests = []
        for i, (recipe, target) in enumerate(zip(recipes, targets)):
            why = start_failure(target.framework, infos.get(target.framework, {}))
            if why:
                out[i] = [failed(case, target, dtype, why)]
                continue
            requests.append((target.framework, Request(("port", i), case.to_dict(), (Unit(target, dtype),), seed,
                                                       recipe=recipe.message())))
        replies = run_requests(pool, requests)
        for i, target in enumerate(targets):
            if i in out:
                continue
            reply = replies.get(("port", i))
            records = [Result.from_dict(d) for d in reply.records] if reply else []
            if reply and reply.failures:
                f = reply.failures[0]
                records.append(failed(case, target, dtype, f"{f.status}: {f.message}", status=f.status))
            out[i] = [mark(r, recipes[i]) for r in records] or [failed(case, target, dtype, "no records came back")]
    return out


def mark(r: Result, recipe: Recipe) -> Result:
    """A recipe's record says so in its api; the native call's record stays the target's own."""
    if not recipe.native:
        r.api = RECIPE_PREFIX + r.api
    return r


def failed(case: Case, target: Target, dtype: str, message: str, status: str = "error") -> Result:
    return Result(case=case.id, framework=target.framework, api=target.api, device=target.device, dtype=dtype,
                  check="output", status=status, message=message)
