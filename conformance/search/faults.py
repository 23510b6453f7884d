"""Planted faults: adapter wrappers that make a real adapter wrong in one known way.

The suite is only as good as the faults it catches. Each `Fault` perturbs the case, the inputs or the
observation around the real adapter's `run`, the way a plausible adapter bug would (a flipped kernel,
padding on the wrong side, a dropped bias, ...), or wraps one step of the adapter's own translation
(`Fault.wraps`: ONNX's attributes, the compile step). `tests/test_sensitivity.py` asserts that the
default library catches every fault on every target it can show on; `python -m conformance.search.faults`
prints the table (target x fault -> the checks that caught it). Nothing here imports a framework.
"""
from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from conformance.spec.library import default_known, library_folder
from conformance.check import padding
from conformance.adapters import installed, load_adapter, missing_packages
from conformance.errors import ConformanceError, UsageError
from conformance.spec import frameworks
from conformance.adapters.base import Adapter, Observation, Target, Unsupported, api_modifiers
from conformance.check.evaluate import evaluate_unit
from conformance.check.unit import Unit
from conformance.results.known import load_known
from conformance.run.environment import adapter_run_environment
from conformance.spec.case import Case
from conformance.spec.inputs import Inputs
from conformance.spec.loader import case_files, load_file


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    applies: Callable[[Case, str], bool]  # (case, dtype): can the fault show on this case at all?
    run: Callable  # (inner_run, case, dtype, inputs) -> Observation, inner_run(case, inputs)
    # The fault shows in gradients only: a forward-only target (ONNX) cannot catch it.
    backward: bool = False
    # A fault in an adapter's own translation of the case: the adapter method it wraps for the run
    # (`wrapper(method) -> method`), e.g. the ONNX adapter's `node_attributes`. An adapter without
    # that method has no such step, so the fault cannot show on it (`reaches`).
    wraps: str | None = None
    wrapper: Callable | None = None
    # A fault in one path of a framework (`adapters.base.api_modifiers`: "compile", "xla"): only the
    # targets whose API takes that path can show it.
    path: str | None = None

    def reaches(self, adapter, api: str | None = None) -> bool:
        if self.path is not None and api is not None and self.path not in api_modifiers(api):
            return False
        return self.wraps is None or hasattr(adapter, self.wraps)


class FaultyAdapter(Adapter):
    """The real adapter, with one fault planted around its `run`."""

    def __init__(self, inner: Adapter, fault: Fault):
        self.inner, self.fault = inner, fault
        self.name, self.apis, self.refusals = inner.name, inner.apis, inner.refusals

    def version(self):
        return self.inner.version()

    def devices(self):
        return self.inner.devices()

    def environment(self):
        return self.inner.environment()

    def precision(self, device, profile):
        return self.inner.precision(device, profile)

    def take_warnings(self):
        return self.inner.take_warnings()

    def native_weight_shape(self, api, case):
        return self.inner.native_weight_shape(api, case)

    def run(self, api, case, dtype, device, inputs):
        def inner_run(c: Case, i: Inputs) -> Observation:
            return self.inner.run(api, c, dtype, device, i)
        if not self.fault.applies(case, dtype) or not self.fault.reaches(self.inner, api):
            return inner_run(case, inputs)  # e.g. no bias to drop: the adapter is right here
        if self.fault.wraps is None:
            return self.fault.run(inner_run, case, dtype, inputs)
        name = self.fault.wraps  # the inner adapter's own method, wrapped for this run only
        setattr(self.inner, name, self.fault.wrapper(getattr(self.inner, name)))
        try:
            return self.fault.run(inner_run, case, dtype, inputs)
        finally:
            delattr(self.inner, name)


# ------------------------------------------------------------------------- helpers
def _derived(case: Case, **changes) -> Case:
    """The case with some fields changed; a change that makes it invalid means the fault cannot show."""
    d = {**case.to_dict(), **changes}
    d.pop("data", None), d.pop("expect", None)
    try:
        return Case.from_dict(d)
    except Exception as exc:  # noqa: BLE001 - CaseError: the fault is not applicable to this case
        raise Unsupported(f"planted fault not applicable: {exc}") from None


def _map(obs: Observation, name: str, fn) -> Observation:
    value = getattr(obs, name)
    if value is None or isinstance(value, BaseException):  # not computed: nothing to perturb
        return obs
    return dataclasses.replace(obs, **{name: fn(np.asarray(value, dtype=np.float64))})


def _round_mantissa(a: np.ndarray, bits: int) -> np.ndarray:
    """Round float64 values to `bits` explicit mantissa bits (round to nearest), as TF32 (10) or bf16 (7)."""
    mantissa, exponent = np.frexp(a)
    scale = 2.0 ** (bits + 1)
    return np.ldexp(np.round(mantissa * scale) / scale, exponent)


def _manual_pads(inner_run, case: Case, inputs: Inputs, pads) -> Observation:
    """Run the case with `pads` instead of its own: the adapter pads (conv) or crops (transposed) by
    hand around a call with no padding, as a buggy adapter that converts padding itself would."""
    if case.op == "conv":
        xp = np.pad(inputs.input, [(0, 0), (0, 0)] + [tuple(p) for p in pads])
        plain = _derived(case, input_shape=list(xp.shape), padding="valid")
        if plain.output_shape != case.output_shape:
            raise Unsupported("planted fault not applicable: the moved padding changes the output size")
        obs = inner_run(plain, inputs._replace(input=xp))
        return _map(obs, "grad_input", lambda gx: padding.unpad(gx, pads))
    plain = _derived(case, padding="valid")
    full = tuple(plain.out_spatial)
    g_full = padding.uncrop(inputs.grad_output, pads, full)
    obs = inner_run(plain, inputs._replace(grad_output=g_full))
    return _map(obs, "output", lambda y: padding.crop(y, pads, case.out_spatial))


def _pads_moved(case: Case):
    """All of each dim's padding at the end: (b, e) -> (0, b + e)."""
    return tuple((0, b + e) for b, e in case.pads)


def _odd_at_begin(case: Case):
    """The odd element of an odd total at the beginning: (b, e) -> (e, b) where b != e."""
    return tuple((e, b) for b, e in case.pads)


def _swap_io(w: np.ndarray) -> np.ndarray:
    """The weight's two channel axes swapped, read back in the expected shape (a wrong layout)."""
    return np.ascontiguousarray(np.swapaxes(w, 0, 1)).reshape(w.shape)


def _unswap_io(gw: np.ndarray) -> np.ndarray:
    a, b = gw.shape[:2]
    return np.ascontiguousarray(np.swapaxes(gw.reshape((b, a) + gw.shape[2:]), 0, 1))


def _groups_ignored(inner_run, case: Case, dtype, inputs: Inputs) -> Observation:
    """groups=1 with each group's kernels reused for every group's channels (the weight tiled)."""
    g = case.groups
    plain = _derived(case, groups=1)
    w = inputs.weight
    axis = 1  # conv (C_out, C_in/g, *k) -> (C_out, C_in, *k); transposed (C_in, C_out/g) -> (C_in, C_out)
    tiled = np.concatenate([w] * g, axis=axis)
    obs = inner_run(plain, inputs._replace(weight=tiled))
    return _map(obs, "grad_weight", lambda gw: sum(np.split(gw, g, axis=axis)))


def _perturb_one(y: np.ndarray) -> np.ndarray:
    y = y.copy()
    i = np.unravel_index(int(np.argmax(np.abs(y))), y.shape)
    y[i] *= 1 + 1e-3
    return y


def _off_by_one(field_name: str):
    def run(inner_run, case, dtype, inputs):
        values = list(getattr(case, field_name))
        values[0] += 1
        return inner_run(_derived(case, **{field_name: values}), inputs)
    return run


def _bias_dropped(inner_run, case, dtype, inputs):
    obs = inner_run(case, inputs._replace(bias=np.zeros_like(inputs.bias)))
    return _map(obs, "grad_bias", np.zeros_like)  # no bias in the graph: no gradient


def _bias_dropped_no_gradient(inner_run, case, dtype, inputs):
    """The bias left out of the graph altogether: the output lacks it and the framework returns no
    gradient for it (None), as autograd does for a parameter the forward never used."""
    return inner_run(_derived(case, bias=False), inputs._replace(bias=None))


class PlantedBackwardError(Exception):
    """What a backward pass that breaks (not a refusal) raises, e.g. TF's AttributeError in nn_grad."""


def _backward_raises(inner_run, case, dtype, inputs):
    obs = inner_run(case, inputs)
    failure = PlantedBackwardError("the backward pass raised")
    return dataclasses.replace(obs, grad_input=failure, grad_weight=failure,
                               grad_bias=failure if case.bias else None)


def _bias_twice(inner_run, case, dtype, inputs):
    obs = inner_run(case, inputs)
    b = inputs.bias.reshape((1, -1) + (1,) * case.ndim)
    return _map(_map(obs, "output", lambda y: y + b), "grad_bias", lambda gb: 2 * gb)


def _rounded_inputs(bits: int):
    def run(inner_run, case, dtype, inputs):
        return inner_run(case, inputs._replace(input=_round_mantissa(inputs.input, bits),
                                               weight=_round_mantissa(inputs.weight, bits)))
    return run


def _flip(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.flip(w, axis=tuple(range(2, w.ndim))))


def _attributes_changed(change):
    """A wrapper of the ONNX adapter's `node_attributes` that passes its result through `change`."""
    def wrapper(method):
        return lambda case: change(method(case))
    return wrapper


def _onnx_pads_swapped(attrs: dict) -> dict:
    """ONNX `pads` [x1_begin, x2_begin, ..., x1_end, x2_end, ...] read in the other order."""
    if "pads" not in attrs:
        return attrs
    n = len(attrs["pads"]) // 2
    return {**attrs, "pads": attrs["pads"][n:] + attrs["pads"][:n]}


def _onnx_auto_pad_as(given: str, written: str):
    """ONNX auto_pad `given` written as `written` (SAME_UPPER for SAME_LOWER, or the reverse)."""
    def change(attrs: dict) -> dict:
        return {**attrs, "auto_pad": written} if attrs.get("auto_pad") == given else attrs
    return change


def _odd_same(keyword: str):
    """The case is `keyword` with an odd total in some dim (where the two SAMEs differ), none negative."""
    return lambda c, dt: c.padding == keyword and not c.symmetric_padding and all(e >= 0 for _, e in c.pads)


def _unchanged(run, case, dtype, inputs):
    return run(case, inputs)


def _manual_padding_ok(case: Case) -> bool:
    """Hand-made padding needs a plain call that is right on every framework: no negative crop, and for
    transposed convs no kernel < stride (where 'valid' itself is a known difference in Keras and JAX)."""
    if any(b < 0 or e < 0 for b, e in case.pads):
        return False
    return case.op == "conv" or all(k >= s for k, s in zip(case.effective_kernel, case.stride))


FAULTS = (
    Fault("flipped_kernel", "kernel flipped spatially (convolution instead of cross-correlation)",
          lambda c, dt: max(c.kernel_size) > 1,
          lambda run, c, dt, i: _map(run(c, i._replace(weight=_flip(i.weight))), "grad_weight", _flip)),
    Fault("weight_io_swapped", "input/output channel axes of the weight swapped",
          lambda c, dt: c.weight_shape[0] > 1 and c.weight_shape[1] > 1,
          lambda run, c, dt, i: _map(run(c, i._replace(weight=_swap_io(i.weight))), "grad_weight", _unswap_io)),
    Fault("padding_moved", "padding moved from the beginning to the end of each dim",
          lambda c, dt: any(b > 0 for b, _ in c.pads) and _manual_padding_ok(c),
          lambda run, c, dt, i: _manual_pads(run, c, i, _pads_moved(c))),
    Fault("odd_padding_at_begin", "the odd padding element at the beginning instead of the end",
          lambda c, dt: not c.symmetric_padding and _manual_padding_ok(c),
          lambda run, c, dt, i: _manual_pads(run, c, i, _odd_at_begin(c))),
    Fault("stride_off_by_one", "stride + 1 in the first spatial dim",
          lambda c, dt: True, _off_by_one("stride")),
    Fault("dilation_off_by_one", "dilation + 1 in the first spatial dim",
          lambda c, dt: c.kernel_size[0] > 1, _off_by_one("dilation")),
    Fault("bias_dropped", "bias not added", lambda c, dt: c.bias, _bias_dropped),
    Fault("bias_twice", "bias added twice", lambda c, dt: c.bias, _bias_twice),
    Fault("bias_gradient_missing", "no gradient returned for the bias (None)", lambda c, dt: c.bias,
          lambda run, c, dt, i: dataclasses.replace(run(c, i), grad_bias=None), backward=True),
    Fault("bias_dropped_no_gradient", "bias left out of the graph: not added, and no gradient for it (None)",
          lambda c, dt: c.bias, _bias_dropped_no_gradient),
    Fault("backward_raises", "the backward pass raises an exception (not a refusal)",
          lambda c, dt: True, _backward_raises, backward=True),
    Fault("groups_ignored", "groups ignored (groups=1, each group's kernels reused for all channels)",
          lambda c, dt: c.groups > 1, _groups_ignored),
    Fault("output_padding_ignored", "output_padding ignored",
          lambda c, dt: any(c.output_padding),
          lambda run, c, dt, i: run(_derived(c, output_padding=[0] * c.ndim), i)),
    Fault("one_element_perturbed", "one output element off by 1e-3 relative",
          lambda c, dt: dt in ("float32", "float64"),
          lambda run, c, dt, i: _map(run(c, i), "output", _perturb_one)),
    Fault("tf32_inputs", "float32 inputs rounded to TF32 (10 mantissa bits) before the conv",
          lambda c, dt: dt == "float32", _rounded_inputs(10)),
    Fault("bf16_inputs", "float32 inputs rounded to bfloat16 (7 mantissa bits) before the conv",
          lambda c, dt: dt == "float32", _rounded_inputs(7)),
    Fault("grad_weight_times_batch", "gradient of the weight scaled by the batch size",
          lambda c, dt: c.batch > 1,
          lambda run, c, dt, i: _map(run(c, i), "grad_weight", lambda gw: gw * c.batch), backward=True),
    # The compilers: a compiled target that silently runs the eager kernels must be an error, never a pass
    Fault("compile_skipped", "torch.compile not applied: the compiled target runs eager PyTorch",
          lambda c, dt: True, _unchanged, wraps="compiled", wrapper=lambda method: (lambda call: call), path="compile"),
    Fault("xla_skipped", "jit_compile=True left out: the XLA target runs TensorFlow's own kernels",
          lambda c, dt: True, _unchanged, wraps="jit_compiled",
          wrapper=lambda method: (lambda fn: method.__self__.tf.function(fn)), path="xla"),
    # ONNX's own translation (conformance/adapters/onnx_adapter.py): its attributes, as built
    Fault("onnx_pads_swapped", "ONNX pads: the begin and the end halves swapped",
          lambda c, dt: (not isinstance(c.padding, str) or c.padding == "causal") and not c.symmetric_padding,
          _unchanged, wraps="node_attributes", wrapper=_attributes_changed(_onnx_pads_swapped)),
    Fault("onnx_same_upper_as_lower", "ONNX auto_pad SAME_LOWER where the case's 'same' is SAME_UPPER",
          _odd_same("same"), _unchanged, wraps="node_attributes",
          wrapper=_attributes_changed(_onnx_auto_pad_as("SAME_UPPER", "SAME_LOWER"))),
    Fault("onnx_same_lower_as_upper", "ONNX auto_pad SAME_UPPER where the case is 'same_lower'",
          _odd_same("same_lower"), _unchanged, wraps="node_attributes",
          wrapper=_attributes_changed(_onnx_auto_pad_as("SAME_LOWER", "SAME_UPPER"))),
)
FAULTS_BY_NAME = {f.name: f for f in FAULTS}


# ------------------------------------------------------------------------- the search
@dataclass
class Catch:
    fault: str
    framework: str
    case: str | None  # the first case of the library that caught it (None: not caught)
    target: str | None
    dtype: str | None
    checks: list  # the checks that failed on that case
    clean_failures: list  # checks that failed on the unwrapped adapter for the same case (should be [])
    tried: int  # (case, dtype) pairs tried


def library_pairs(cases, fault: Fault):
    """(case, dtype) pairs where the fault can show, cheapest first: small tensors, float32 first. Not
    the empty tensors of edges.yaml: a fault in what is computed cannot show where nothing is."""
    pairs = [(c, dt) for c in cases for dt in c.dtypes if dt in ("float32", "float64") and fault.applies(c, dt)
             and not (c.no_valid_output or c.empty_batch)]
    size = lambda c: np.prod(c.input_shape) + np.prod(c.output_shape)  # noqa: E731
    return sorted(pairs, key=lambda p: (p[1] != "float32", size(p[0]), p[0].id))


def find_catch(adapter: Adapter, fault: Fault, cases, *, known=(), relations: bool = False,
               limit: int = 60, apis=None) -> Catch:
    """Walk the library until a case catches the fault (a fail or error that no known difference
    explains, on any target of the framework, or of `apis`), then check the unwrapped adapter on
    the same case."""
    faulty = FaultyAdapter(adapter, fault)
    environment = adapter_run_environment(adapter)  # the known differences' `when:` read the clean adapter's
    # Where the CPU's default precision is reduced (OpenVINO's bf16 inference), every float32 and float64
    # output is a known difference there, which would hide any fault: search the profile that computes
    # the case's dtype, as the run does on such a CPU beside the defaults.
    profile = "strict" if "strict" in adapter.cpu_profiles() else "defaults"
    tried = 0
    for case, dtype in library_pairs(cases, fault)[:limit]:
        tried += 1
        for api in apis or adapter.apis:
            unit = Unit(Target(adapter.name, api, "cpu"), dtype, profile)

            def failed(a) -> list[str]:
                records = evaluate_unit(a, unit, case, relations=relations, known=known, environment=environment)
                return [r.check for r in records if r.status in ("fail", "error")]
            caught = failed(faulty)
            if caught:
                return Catch(fault.name, adapter.name, case.id, unit.target.name, dtype, caught, failed(adapter), tried)
    return Catch(fault.name, adapter.name, None, None, None, [], [], tried)


NOT_DEFAULT_LIBRARY = ("seeds.yaml", "upstream_bugs.yaml")  # worked examples and bug reproducers


def default_library(folder=None):
    """The default (geometry) library: the case folder without the worked examples, whose small-integer
    data hide rounding faults, and without the upstream-bug reproducers."""
    folder = folder or library_folder()
    return [c for f in case_files([folder]) if f.name not in NOT_DEFAULT_LIBRARY for c in load_file(f)]


def not_applicable(fault: Fault, adapter: Adapter, api: str) -> str | None:
    """Why `fault` cannot show on the target `api` of `adapter`, or None where it can."""
    if fault.backward and frameworks.forward_only(api):
        return "it shows in gradients only, and this target runs inference only"
    if not fault.reaches(adapter, api):
        return f"it lives in a step this target does not take ({fault.path or fault.wraps})"
    return None


def target_catches(adapter: Adapter, api: str, cases, known, relations: bool) -> dict:
    """fault name -> what caught it on the target `api` (asdict of `Catch`), or {"not_applicable": why}."""
    out = {}
    for fault in FAULTS:
        why = not_applicable(fault, adapter, api)
        out[fault.name] = ({"not_applicable": why} if why else
                           dataclasses.asdict(find_catch(adapter, fault, cases, known=known, relations=relations,
                                                         apis=(api,), limit=TARGET_LIMIT)))
    return out


TARGET_LIMIT = 200  # (case, dtype) pairs per fault and target: channels_last computes no 1-D case, the smallest


def main(argv=None) -> int:
    """Print the table fault x target -> the checks that caught the fault. Each framework kind is
    loaded in this process: run a kind whose settings are read at import (tensorflow-onednn, or
    Keras on another backend: set KERAS_BACKEND) in a process of its own."""
    p = argparse.ArgumentParser(prog="python -m conformance.search.faults", description=main.__doc__)
    p.add_argument("--frameworks", default=None, help="worker kinds (default: every installed one)")
    p.add_argument("--targets", default="", help="globs on target names api@cpu (default: every target)")
    p.add_argument("--relations", action="store_true", help="also the metamorphic relations (slower)")
    p.add_argument("--json", help="also write {framework: {api: {fault: catch}}} here")
    args = p.parse_args(argv)
    try:
        return search_faults(args)
    except ConformanceError as exc:  # a malformed plugin, a bad option: one line, as the CLI says it
        print(f"conformance.search.faults: error: {exc}", file=sys.stderr)
        return 2


def search_faults(args) -> int:
    """`main`'s table for its parsed arguments."""
    cases, known = default_library(), load_known(default_known())
    globs = [g for g in args.targets.split(",") if g]
    table = {}
    kinds = args.frameworks.split(",") if args.frameworks else [k for k in frameworks.kinds() if installed(k)]
    for framework in [f for f in kinds if f]:
        if framework not in frameworks.kinds():
            raise UsageError(f"--frameworks: unknown kind {framework!r}; known: {', '.join(frameworks.kinds())}")
        adapter = load_adapter(framework)
        apis = [a for a in adapter.apis if not missing_packages(framework, a)
                and (not globs or any(fnmatch.fnmatchcase(f"{a}@cpu", g) for g in globs))]
        table[framework] = {api: target_catches(adapter, api, cases, known, args.relations) for api in apis}
        for api, catches in table[framework].items():
            for name, c in catches.items():
                cell = (f"n/a: {c['not_applicable']}" if "not_applicable" in c else "NOT CAUGHT" if c["case"] is None
                        else f"{', '.join(sorted(set(c['checks'])))} (`{c['case']}` {c['dtype']})")
                print(f"| {api}@cpu | {name} | {cell} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
