"""Run one unit (case, target, dtype, precision profile) on an adapter and turn what it saw into
result records.

This runs inside a framework's worker process: it draws the inputs, computes the oracle (once per case
and dtype, shared by the targets: see `Reference`), calls the adapter and compares. Only small records
leave the process. `evaluate_unit` is the one pipeline of a unit (the oracle checks, the metamorphic
relations, the known differences) that the worker, `conformance explore` and the planted faults share.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np

from conformance.check import oracle, tolerance
from conformance.errors import one_line
from conformance.adapters.base import Adapter, Observation, Target, Unsupported
from conformance.spec.case import Case
from conformance.check.compare import compare, detail
from conformance.check.relations import evaluate_relations
from conformance.check.unit import Unit
from conformance.spec.features import case_features
from conformance.spec.inputs import make_inputs
from conformance.results.known import mark_known
from conformance.results.records import Result


# Where TF32 under the framework's defaults is documented (PyTorch's note; JAX's and TensorFlow's
# default precisions do the same on such GPUs).
TF32_LINK = "https://pytorch.org/docs/stable/notes/cuda.html#tensorfloat-32-tf32-on-ampere-and-later-devices"


def checks_for(case: Case, target: Target) -> tuple[str, ...]:
    """The checks that apply: layer-only checks for layers, grad_bias only with a bias."""
    out = ["output_shape", "output"]
    if target.is_layer:
        out += ["weight_shape", "param_count"]
    out += ["grad_input", "grad_weight"]
    if case.bias:
        out.append("grad_bias")
    return tuple(out)


class Reference:
    """Oracle values and error-bound magnitudes for one (case, dtype, seed), computed once."""

    def __init__(self, case: Case, dtype: str, seed: int):
        t0 = time.perf_counter()
        self.dtype = dtype
        self.inputs = make_inputs(case, dtype, seed)
        x, w, b, g = self.inputs
        grads = oracle.gradients(case, x, w, b, g)
        self.values = {"output": oracle.forward(case, x, w, b), "grad_input": grads.input,
                       "grad_weight": grads.weight, "grad_bias": grads.bias}
        self.magnitudes = tolerance.magnitudes(case, self.inputs)
        self.terms = oracle.reduction_sizes(case)
        self.seconds = time.perf_counter() - t0


def evaluate_unit(adapter: Adapter, unit: Unit, case: Case, *, seed: int = 0, ref: Reference | None = None,
                  relations: bool = False, known=(), environment: dict | None = None,
                  mark: bool = True) -> list[Result]:
    """The records of one unit: its oracle checks, with `relations` its metamorphic relations, then
    the known differences in `known` applied where their `when:` holds in `environment`. Every
    message is one line of plain text (`errors.one_line`), whatever the framework's exception said.

    `mark=False` leaves the failures unmarked: a worker's records are one attempt, which the parent
    combines with the unit's other attempts before it marks them (conformance/run/attempts.py). A
    failed relation whose ingredients a known difference covers is `known` either way: only here are
    those ingredients (the derived cases) at hand."""
    records = evaluate(adapter, unit.target, case, unit.dtype, profile=unit.profile, seed=seed, ref=ref)
    if relations:
        records += evaluate_relations(adapter, unit.target, case, unit.dtype, profile=unit.profile, seed=seed,
                                      known=known, environment=environment)
    for r in records:  # a framework's text, as it raised it: Keras's colour codes, multi-line errors
        r.message = one_line(r.message) if r.message else r.message
        r.threads = unit.threads
    if mark:
        mark_known(records, known, {case.id: case_features(case)}, environment)
    return records


@dataclass(frozen=True)
class CheckContext:
    """What every check of one unit compares: the adapter's observation and the oracle's reference."""

    adapter: Adapter
    case: Case
    unit: Unit
    obs: Observation
    ref: Reference


def evaluate(adapter: Adapter, target: Target, case: Case, dtype: str, *, profile: str = "defaults",
             seed: int = 0, ref: Reference | None = None) -> list[Result]:
    """All check records for one (case, target, dtype) under a precision profile.

    `ref` is the case's `Reference` for this dtype and seed, when the caller shares one between targets.
    """
    checks = checks_for(case, target)
    base = dict(case=case.id, framework=target.framework, api=target.api, device=target.device,
                dtype=dtype, precision=profile)

    def records(status, message, **extra):
        return [Result(check=c, status=status, message=message, **base, **extra) for c in checks]

    try:
        ref = ref or Reference(case, dtype, seed)
    except Exception as exc:  # a bug of ours, not of the framework: say so
        return records("error", f"oracle failed: {type(exc).__name__}: {exc}")
    t0 = time.perf_counter()
    adapter.take_warnings()
    try:
        with adapter.precision(target.device, profile):
            obs = adapter.run(target.api, case, dtype, target.device, ref.inputs)
        obs.notes.extend(f"framework warning: {w}" for w in adapter.take_warnings())
    except Unsupported as exc:
        return records("unsupported", str(exc), timings={"run": time.perf_counter() - t0})
    except Exception as exc:  # nothing computed, not even the output
        return records(*raised(case, exc, "adapter raised"), timings={"run": time.perf_counter() - t0})
    timings = {"run": time.perf_counter() - t0, "oracle": ref.seconds}
    ctx = CheckContext(adapter, case, Unit(target, dtype, profile), obs, ref)
    out = []
    for c in checks:
        r = Result(check=c, status="pass", call=obs.call or None, timings=timings, **base)
        try:
            out.append(_check(ctx, c, r))
        except Exception as exc:  # a bug of ours in one comparison: the other checks still count
            r.status, r.message = "error", f"comparing the {c} raised {_exception_text(exc)}"
            out.append(r)
    return out


# How the message of a record starts where the call raised and the case has no valid output (allowed).
ALLOWED_RAISE = "raised, as a target may where the case has no valid output"

# What each array check compares, in the words of its messages.
QUANTITIES = {"output": "output", "grad_input": "gradient for the input",
              "grad_weight": "gradient for the weight", "grad_bias": "gradient for the bias"}


def _exception_text(exc: BaseException) -> str:
    """'Type: message', as a traceback's last line shows it, without the notes that some frameworks
    add (JAX's traceback-filtering note would otherwise be all the record says). Where it was raised
    while another exception was handled, that one is named too: a converter that catches a layer's
    RuntimeError and then fails on its own ("'NoneType' object is not callable") would hide the
    failure that matters."""
    text = _one_exception(exc)
    # only an implicit chain: an explicit `raise ... from` is code that already says what it wraps
    earlier = None if exc.__cause__ is not None or exc.__suppress_context__ else exc.__context__
    if earlier is not None:
        text += f" (raised while handling {_one_exception(earlier)})"
    return text


def _one_exception(exc: BaseException) -> str:
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}.{kind.__qualname__}"
    text = str(exc).strip()
    return f"{name}: {text}" if text else name


def raised(case: Case, exc: BaseException, what: str) -> tuple[str, str]:
    """The status and message of a call that raised `exc` (not a declared refusal): allowed where the
    case has no valid output, a failure where its batch is empty (both must compute), else an `error`
    with the exception's text (docs/semantics.md#empty-tensors)."""
    text = f"{what} {_exception_text(exc)}"
    if case.no_valid_output:
        return "pass", f"{ALLOWED_RAISE}: {text}"
    if case.empty_batch:
        return "fail", (f"raised on an empty batch, where the outputs must be empty arrays and the weight "
                        f"and bias gradients zeros: {text}")
    return "error", text


def _missing(r: Result, got, quantity: str, case: Case) -> bool:
    """Whether the adapter did not compute the quantity; if so, `r` says why.

    A refusal is `unsupported`; a computation that raised is an `error` of this check alone (but see
    `raised`); nothing at all (None) where the case needs the quantity is a `fail`: the framework gave
    no value."""
    if isinstance(got, Unsupported):
        r.status, r.message = "unsupported", str(got)
    elif isinstance(got, BaseException):
        r.status, r.message = raised(case, got, f"computing the {quantity} raised")
    elif got is None:
        r.status, r.message = "fail", f"the framework returned no {quantity}"
    else:
        return False
    return True


def _check(ctx: CheckContext, check: str, r: Result) -> Result:
    case, obs, ref, unit = ctx.case, ctx.obs, ctx.ref, ctx.unit
    if obs.notes:
        r.message = "; ".join(obs.notes)
    if check == "output_shape":
        if _missing(r, obs.output, "output", case):
            return r
        return _equal(r, _shape(obs.output), case.output_shape)
    if check == "weight_shape":
        return _equal(r, obs.layer_weight_shape, ctx.adapter.native_weight_shape(unit.api, case))
    if check == "param_count":
        return _equal(r, obs.param_count, case.param_count)
    got = getattr(obs, check)
    if _missing(r, got, QUANTITIES[check], case):
        return r
    expected = ref.values[check]
    if np.shape(got) != expected.shape:
        r.status = "fail"
        r.message = f"shape {_shape(got)}, but should be {list(expected.shape)}"
        r.expected, r.got = list(expected.shape), _shape(got)
        return r
    got = np.asarray(got, dtype=np.float64)
    r.digest = digest(got)
    strict = tolerance.arithmetic_for(unit.dtype)
    terms = ref.terms[check]
    bound = tolerance.bound(ref.magnitudes[check], terms, strict)
    cmp = compare(expected, got, bound)
    r.max_abs_error, r.error_ratio, r.worst_index = cmp.max_abs_error, cmp.ratio, cmp.worst_index
    r.expected, r.got, r.arithmetic = cmp.expected, cmp.got, strict.name
    if cmp.ok:
        return r
    r.detail = detail(expected, got, bound, cmp.worst_index)
    where = f"at {cmp.worst_index}: got {cmp.got!r}, expected {cmp.expected!r}"
    tf32 = tolerance.fits_tf32(expected, got, ref.magnitudes[check], terms, unit.dtype, unit.device, unit.profile)
    if tf32 is not None:
        r.status, r.arithmetic = "known", "tf32"
        r.message = (f"exceeds the float32 bound (ratio {cmp.ratio:.3g}) but fits the TF32 bound "
                     f"(ratio {tf32.ratio:.3g}): TF32 is on by default on this GPU; {where}")
        r.known = {"id": "tf32-defaults", "reason": "TF32 arithmetic under the 'defaults' precision profile",
                   "link": TF32_LINK}
        return r
    r.status = "fail"
    r.message = f"error {cmp.ratio:.3g}x its bound ({unit.dtype} arithmetic, K={terms}) {where}"
    return r


def digest(a: np.ndarray) -> str:
    """16 hex digits of the array's float64 bytes (C order) and shape: equal digests mean the
    framework returned bit-identical values, which is what --repeat compares between processes."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    h = hashlib.blake2b(a.tobytes(), digest_size=8)
    h.update(repr(a.shape).encode())
    return h.hexdigest()


def _shape(a):
    return None if a is None or isinstance(a, Unsupported) else [int(s) for s in np.shape(a)]


def _equal(r: Result, got, expected) -> Result:
    got = list(got) if isinstance(got, tuple) else got
    expected = list(expected) if isinstance(expected, tuple) else expected
    r.expected, r.got = expected, got
    if got != expected:
        r.status = "fail"
        r.message = f"{r.check}={got}, but should be {expected}"
    return r
