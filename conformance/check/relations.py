"""Metamorphic relations: properties a framework's convolution must have, checked against itself.

No oracle value is used. Each relation runs the framework (the same target) on derived cases or
inputs and compares two framework results:

- relation_vjp: the input gradient of the case equals the forward of its adjoint case (a conv's
  transposed conv with the same weight, or a transposed conv's conv), fed the same upstream gradient;
- relation_adjoint: <A(x), y> == <x, B(y)> for the case A (bias removed) and its adjoint case B;
- relation_groups: a grouped case equals its per-group cases (groups=1, channel slices) concatenated;
- relation_linear_input / relation_linear_weight: A(x1 + x2) == A(x1) + A(x2) - b for a random split
  x = x1 + x2 (elements masked out, so the split is exact in every dtype), likewise for the weight;
- relation_permute_out: permuting the output channels of the weight and bias (within each group)
  permutes the output channels of the result.

The bound of a comparison is, from first principles, the sum of the two sides' bounds: each side is
within its own dot-product error bound (tolerance.py) of the exact value, computed for that side's own
case and inputs; float64 sums done here add their own (tiny) rounding term. A relation that the
target cannot express on either side is `unsupported`; a failing relation whose ingredients a known
difference covers (e.g. the adjoint case is a known Keras 'same' difference) is `known`.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

import numpy as np

from conformance.check import tolerance
from conformance.adapters.base import Adapter, Observation, Target, Unsupported
from conformance.spec.case import Case
from conformance.check.compare import compare
from conformance.check.unit import Unit
from conformance.spec.dtypes import UNIT_ROUNDOFF
from conformance.spec.features import case_features
from conformance.spec.inputs import Inputs, case_seed, make_inputs
from conformance.check.oracle import reduction_sizes
from conformance.results.records import RELATION_CHECKS, Result

RELATIONS = RELATION_CHECKS  # the check names, declared with the others in results/records.py
U64 = UNIT_ROUNDOFF["float64"]


@dataclass
class Outcome:
    """Two framework arrays that the relation says are equal, the bound of their difference, and the
    (case, check) pairs whose correctness the relation relies on (for known differences)."""

    expected: np.ndarray
    got: np.ndarray
    bound: np.ndarray
    relies_on: list


def relations_for(case: Case) -> tuple[str, ...]:
    """The relations that say something about the case: none where the output is empty (an empty batch,
    no valid output), which each relation would compare with another empty array, or a raise."""
    if case.empty_batch or case.no_valid_output:
        return ()
    out = ["relation_vjp", "relation_adjoint"]
    if case.groups > 1:
        out.append("relation_groups")
    out += ["relation_linear_input", "relation_linear_weight"]
    if case.out_channels // case.groups > 1:
        out.append("relation_permute_out")
    return tuple(out)


class _Context:
    """One unit of a case: runs the adapter on derived cases and computes their bounds."""

    def __init__(self, adapter: Adapter, unit: Unit, case: Case, seed: int):
        self.adapter, self.unit, self.case = adapter, unit, case
        self.inputs = make_inputs(case, unit.dtype, seed)
        self.rng = np.random.default_rng(case_seed(case.id, seed) + 1)
        # Where float32 may run as TF32, it may on both sides: that is the arithmetic of both bounds.
        self.arithmetic = tolerance.arithmetic_in_use(unit.dtype, unit.device, unit.profile)
        self.base = self.run(case, self.inputs)

    def run(self, case: Case, inputs: Inputs) -> Observation:
        u = self.unit
        with self.adapter.precision(u.device, u.profile):
            obs = self.adapter.run(u.api, case, u.dtype, u.device, inputs)
        self.adapter.take_warnings()
        return obs

    def bound(self, case: Case, inputs: Inputs, check: str) -> np.ndarray:
        return tolerance.bound(tolerance.magnitudes(case, inputs)[check], reduction_sizes(case)[check],
                               self.arithmetic)

    def derived(self, case: Case, **changes) -> Case:
        d = {**case.to_dict(), **changes}
        d.pop("data", None), d.pop("expect", None)
        d["dtypes"] = [self.unit.dtype]
        return Case.from_dict(d)


class ShapeMismatch(Exception):
    """A framework array has another shape than its case implies: the relation cannot hold."""

    def __init__(self, message: str, case: Case, check: str):
        super().__init__(message)
        self.relies_on = [(case, "output_shape"), (case, check)]


def _array(obs: Observation, check: str, case: Case) -> np.ndarray:
    value = getattr(obs, check)
    if isinstance(value, BaseException):  # refused (Unsupported) or raised while computing it
        raise value
    shape = case.input_shape if check == "grad_input" else case.output_shape
    if value is None or tuple(np.shape(value)) != tuple(shape):
        got = None if value is None else list(np.shape(value))
        raise ShapeMismatch(f"{check} of {case.id} has shape {got}, but should be {list(shape)}", case, check)
    return np.asarray(value, dtype=np.float64)


def _bias(case: Case, b) -> np.ndarray:
    return 0.0 if b is None else b.reshape((1, -1) + (1,) * case.ndim)


# ------------------------------------------------------------------------- derived cases
def adjoint_case(case: Case) -> Case:
    """The case whose transpose this case is: same weight array, same padding/cropping, no bias.

    A conv's adjoint is the transposed conv with crop = the conv's padding and the output_padding that
    restores the conv's input size; a transposed conv's adjoint is the conv with padding = its crop.
    The case's own keyword is used where it resolves to the same amounts, explicit pairs otherwise.
    Raises Unsupported when no valid case expresses it (a negative crop of 'same' transposed).
    """
    base = dict(id=f"{case.id}~adjoint", input_shape=[case.batch, case.out_channels, *case.out_spatial],
                out_channels=case.in_channels, kernel_size=list(case.kernel_size), stride=list(case.stride),
                dilation=list(case.dilation), groups=case.groups, bias=False, dtypes=list(case.dtypes))
    if case.op == "conv":
        base["op"] = "conv_transpose"
        base["output_padding"] = [(n + b + e - k) % s for n, (b, e), k, s in
                                  zip(case.in_spatial, case.pads, case.effective_kernel, case.stride)]
    else:
        base["op"] = "conv"
        if any(b < 0 or e < 0 for b, e in case.pads):
            raise Unsupported(f"the adjoint conv would need negative padding {[list(p) for p in case.pads]}")
    keyword = [case.padding] if case.padding in ("valid", "same", "same_lower") else []
    for padding in keyword + [[list(p) for p in case.pads]]:
        try:
            adj = Case.from_dict({**base, "padding": padding})
        except Exception:  # noqa: BLE001 - a candidate form that does not give a valid case
            continue
        if adj.pads == case.pads and adj.out_spatial == case.in_spatial:
            return adj
    raise Unsupported(f"no valid case is the adjoint of {case.describe()}")


# ------------------------------------------------------------------------- the relations
def _vjp_and_adjoint(ctx: _Context):
    """Both use the adjoint case B fed the upstream gradient g: B(g) must be A's input gradient."""
    case, (x, w, b, g) = ctx.case, ctx.inputs
    adj = adjoint_case(case)
    adj_inputs = Inputs(input=g, weight=w, bias=None, grad_output=x)
    z = _array(ctx.run(adj, adj_inputs), "output", adj)
    bz = ctx.bound(adj, adj_inputs, "output")
    gi = _array(ctx.base, "grad_input", case)
    vjp = Outcome(gi, z, ctx.bound(case, ctx.inputs, "grad_input") + bz,
                  [(case, "grad_input"), (adj, "output")])
    y = _array(ctx.base, "output", case) - _bias(case, b)
    by = ctx.bound(case, ctx.inputs, "output")
    lhs, rhs = float(np.sum(y * g)), float(np.sum(x * z))
    # each side's elementwise bound, weighted by what multiplies it, plus the float64 dot products here
    scalar_bound = (float(np.sum(by * np.abs(g))) + float(np.sum(np.abs(x) * bz))
                    + 2 * (y.size + x.size) * U64 * float(np.sum(np.abs(y * g)) + np.sum(np.abs(x * z))))
    adjoint = Outcome(np.array([lhs]), np.array([rhs]), np.array([scalar_bound]),
                      [(case, "output"), (adj, "output")])
    return vjp, adjoint


def _groups(ctx: _Context) -> Outcome:
    """Only for groups > 1 (see `relations_for`)."""
    case, (x, w, b, g) = ctx.case, ctx.inputs
    ci, co = case.in_channels // case.groups, case.out_channels // case.groups
    parts, bounds, relies = [], [], [(case, "output")]
    for i in range(case.groups):
        cin, cout = slice(i * ci, (i + 1) * ci), slice(i * co, (i + 1) * co)
        one = ctx.derived(case, id=f"{case.id}~group{i}", input_shape=[case.batch, ci, *case.in_spatial],
                          out_channels=co, groups=1)
        rows = cout if case.op == "conv" else cin  # conv weight rows are outputs, transposed rows inputs
        inputs = Inputs(x[:, cin], w[rows], None if b is None else b[cout], g[:, cout])
        parts.append(_array(ctx.run(one, inputs), "output", one))
        bounds.append(ctx.bound(one, inputs, "output"))
        relies.append((one, "output"))
    got = np.concatenate(parts, axis=1)
    expected = _array(ctx.base, "output", case)
    bound = ctx.bound(case, ctx.inputs, "output") + np.concatenate(bounds, axis=1)
    return Outcome(expected, got, bound, relies)


def _linear(ctx: _Context, which: str) -> Outcome:
    """A(..., v) == A(..., v1) + A(..., v2) - b, with v1 + v2 == v exactly (v is the input or the weight)."""
    case, inputs = ctx.case, ctx.inputs
    v = getattr(inputs, which)
    mask = ctx.rng.random(v.shape) < 0.5
    v1 = np.where(mask, v, 0.0)
    v2 = v - v1  # exact: each element is either v or 0
    one, two = inputs._replace(**{which: v1}), inputs._replace(**{which: v2})
    y1, y2 = _array(ctx.run(case, one), "output", case), _array(ctx.run(case, two), "output", case)
    bias = _bias(case, inputs.bias)
    got = y1 + y2 - bias
    bound = (ctx.bound(case, inputs, "output") + ctx.bound(case, one, "output") + ctx.bound(case, two, "output")
             + 2 * U64 * (np.abs(y1) + np.abs(y2) + np.abs(bias)))  # the two float64 operations here
    return Outcome(_array(ctx.base, "output", case), got, bound, [(case, "output")])


def _permute_out(ctx: _Context) -> Outcome:
    """Only for 2 or more output channels per group (see `relations_for`)."""
    case, (x, w, b, g) = ctx.case, ctx.inputs
    per_group = case.out_channels // case.groups
    within = np.arange(per_group)[::-1]  # reversed: moves every channel when there are 2 or more
    full = np.concatenate([i * per_group + within for i in range(case.groups)])
    # conv weight (C_out, C_in/g, *k): outputs are rows; transposed (C_in, C_out/g, *k): axis 1, per group
    w2 = w[full] if case.op == "conv" else w[:, within]
    permuted = Inputs(x, w2, None if b is None else b[full], g[:, full])
    got = _array(ctx.run(case, permuted), "output", case)
    expected = _array(ctx.base, "output", case)[:, full]
    bound = ctx.bound(case, ctx.inputs, "output")[:, full] + ctx.bound(case, permuted, "output")
    return Outcome(expected, got, bound, [(case, "output")])


# ------------------------------------------------------------------------- records
def evaluate_relations(adapter: Adapter, target: Target, case: Case, dtype: str, *, profile: str = "defaults",
                       seed: int = 0, known=(), environment: dict | None = None) -> list[Result]:
    """One record per relation that applies to the case (see `relations_for`). `environment`: the
    run's, which the `when:` of the known differences in `known` read (none: those never hold)."""
    names = relations_for(case)
    unit = Unit(target, dtype, profile)
    base = dict(case=case.id, framework=target.framework, api=target.api, device=target.device,
                dtype=dtype, precision=profile)
    t0 = time.perf_counter()
    try:
        ctx = _Context(adapter, unit, case, seed)
    except Unsupported as exc:
        return [Result(check=n, status="unsupported", message=f"the case itself: {exc}", **base) for n in names]
    except Exception as exc:  # noqa: BLE001 - reported as an error record, like check/evaluate.py's
        msg = f"adapter raised {traceback.format_exception_only(type(exc), exc)[-1].strip()}"
        return [Result(check=n, status="error", message=msg, **base) for n in names]
    outcomes: dict = {}

    def attempt(names_, fn):
        try:
            got = fn(ctx)
            for name, outcome in zip(names_, got if isinstance(got, tuple) else (got,)):
                outcomes[name] = outcome
        except Unsupported as exc:
            outcomes.update({n: Unsupported(f"not expressible on this target: {exc}") for n in names_})
        except ShapeMismatch as exc:
            outcomes.update({n: exc for n in names_})
        except Exception as exc:  # noqa: BLE001
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            outcomes.update({n: RuntimeError(f"adapter raised {tb}") for n in names_})

    attempt(("relation_vjp", "relation_adjoint"), _vjp_and_adjoint)
    if "relation_groups" in names:
        attempt(("relation_groups",), _groups)
    attempt(("relation_linear_input",), lambda c: _linear(c, "input"))
    attempt(("relation_linear_weight",), lambda c: _linear(c, "weight"))
    if "relation_permute_out" in names:
        attempt(("relation_permute_out",), _permute_out)
    seconds = time.perf_counter() - t0
    return [_record(Result(check=n, status="pass", call=ctx.base.call or None, timings={"relations": seconds},
                           **base), outcomes[n], unit, known, environment) for n in names]


def _record(r: Result, outcome, unit: Unit, known, environment) -> Result:
    if isinstance(outcome, Unsupported):
        r.status, r.message = "unsupported", str(outcome)
        return r
    if isinstance(outcome, ShapeMismatch):  # a wrong shape is a discrepancy (output_shape says which)
        r.status, r.message = "fail", f"the relation cannot hold: {outcome}"
    elif isinstance(outcome, Exception):
        r.status, r.message = "error", str(outcome)
        return r
    else:
        r = _compared(r, outcome, unit)
        if r.status == "pass":
            return r
    cause = _known_cause(outcome.relies_on, unit, known, environment)
    if cause is not None:
        r.status, r.known = "known", cause
        r.message = f"known difference {cause['id']} (in a case this relation uses): {r.message}"
    return r


def _compared(r: Result, outcome: Outcome, unit: Unit) -> Result:
    r.arithmetic = tolerance.arithmetic_in_use(unit.dtype, unit.device, unit.profile).name
    cmp = compare(outcome.expected, outcome.got, outcome.bound)
    r.max_abs_error, r.error_ratio, r.worst_index = cmp.max_abs_error, cmp.ratio, cmp.worst_index
    r.expected, r.got = cmp.expected, cmp.got
    if cmp.ok:
        return r
    r.status = "fail"
    r.message = (f"the relation is off by {cmp.ratio:.3g}x its bound (sum of both sides' {r.arithmetic} bounds) "
                 f"at {cmp.worst_index}: {cmp.got!r} vs {cmp.expected!r}")
    return r


def _known_cause(relies_on, unit: Unit, known, environment):
    """The `known` record of the first known difference that covers a (case, check) the failed
    relation relies on, where its `when:` holds in `environment`."""
    for case, check in relies_on:
        probe = Result(case=case.id, framework=unit.framework, api=unit.api, device=unit.device,
                       dtype=unit.dtype, check=check, status="fail", precision=unit.profile)
        features = set(case_features(case))
        for entry in known:
            record = entry.explains(probe, features, environment)
            if record is not None:
                return record
    return None
