"""`conformance repro --compact`: a script that carries no arrays of the case's size. Its inputs come
from the suite's own generator (NumPy's default_rng at the case's seed, standard normal draws in the
order input, weight, bias, upstream gradient, rounded to the dtype: spec/inputs.py), verified against
the recorded sha256 of each; its expected values and error bounds are recomputed by an embedded copy
of the oracle (check/padding.py and check/oracle.py, as they are) and of the bound's formula
(check/tolerance.py). Arrays a case gives itself (`data:`) stay embedded. The rest of the script (the
native call, the comparison) is the full script's.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

from conformance.check import oracle, padding, tolerance
from conformance.check.reproduce import npz
from conformance.spec import dtypes
from conformance.spec.case import Case
from conformance.spec.inputs import case_seed

MARK = "# ---- recomputed, not embedded (conformance repro --compact)"
CASE_FIELDS = ("id", "op", "ndim", "batch", "input_shape", "output_shape", "weight_shape", "bias", "bias_shape",
               "kernel_size", "stride", "dilation", "groups", "pads", "output_padding", "in_channels", "out_channels",
               "in_spatial", "out_spatial", "effective_kernel")


def module_code(module) -> str:
    """A module's source without its imports from the package (the script defines those names itself)."""
    lines = Path(module.__file__).read_text(encoding="utf-8").splitlines()
    keep = [line for line in lines if not line.startswith(("from conformance", "from __future__"))]
    return "\n".join(keep)


def compact_parts(case: Case, seed: int, dtype: str) -> list[str]:
    """The script's lines that replace the embedded inputs and expected values: the generator, the
    case's derived fields, the oracle's code and the bounds (TF32's where the script's TF32 is set)."""
    arithmetic = tolerance.arithmetic_for(dtype)
    given = npz(dict(case.data)) if case.data else b""
    fields = {name: getattr(case, name) for name in CASE_FIELDS}
    return [
        MARK,
        f"SEED = {case_seed(case.id, seed)}  # blake2b of '<seed>:<case id>' (conformance/spec/inputs.py)",
        f"DTYPE = {dtype!r}",
        f"CASE_FIELDS = {fields!r}",
        f"TERMS_BOUND = {{'u_acc': {arithmetic.u_acc!r}, 'u_operand': {arithmetic.u_operand!r}, "
        f"'eta': {arithmetic.eta!r}, 'safety': {tolerance.SAFETY!r}}}",
        f"TF32_BOUND = {{'u_acc': {tolerance.TF32.u_acc!r}, 'u_operand': {tolerance.TF32.u_operand!r}, "
        f"'eta': {tolerance.TF32.eta!r}}}",
        f"GIVEN = {base64.b64encode(given).decode()!r}  # the case's own data: arrays, np.savez_compressed, base64",
        "", "",
        "class Case:  # the case's derived fields, as conformance/spec/case.py computes them",
        "    def __init__(self, fields):",
        "        self.__dict__.update(fields)",
        "", "",
        "# conformance/spec/dtypes.py, round_to:",
        function_code(dtypes, "round_to"),
        "", "",
        "# conformance/check/padding.py:",
        module_code(padding),
        "", "",
        "# conformance/check/oracle.py:",
        module_code(oracle),
        "", "",
        GENERATED.strip(),
    ]


def function_code(module, name: str) -> str:
    text = Path(module.__file__).read_text(encoding="utf-8")
    start = text.index(f"def {name}(")
    end = text.find("\n\n\n", start)
    return text[start:end if end >= 0 else len(text)].replace("{', '.join(DTYPE_NAMES)}", "")


GENERATED = '''
def load_inputs():
    """x, w, b, dy drawn again as the suite draws them, each checked against its recorded digest."""
    case = Case(CASE_FIELDS)
    rng = np.random.default_rng(SEED)
    drawn = {"x": rng.standard_normal(case.input_shape), "w": rng.standard_normal(case.weight_shape),
             "b": rng.standard_normal(case.bias_shape) if case.bias else None,
             "dy": rng.standard_normal(case.output_shape)}
    if GIVEN:
        names = {"input": "x", "weight": "w", "bias": "b", "grad_output": "dy"}
        drawn.update({names[k]: v for k, v in unpack(GIVEN).items()})
    arrays = {k: None if a is None else round_to(a, DTYPE) for k, a in drawn.items()}
    for name, wanted in INPUT_DIGESTS.items():
        if arrays.get(name) is None or digest(arrays[name]) != wanted:
            print(f"input {name}: the generator gave another array than the recorded one (its sha256 differs): "
                  "this NumPy's default_rng or the script was changed")
            sys.exit(3)
    return arrays["x"], arrays["w"], arrays["b"], arrays["dy"]


def load_expected(x, w, b, dy):
    """The oracle's values, and each element's bound from the same conv of absolute values."""
    case = Case(CASE_FIELDS)
    grads = gradients(case, x, w, b, dy)
    values = {"output": forward(case, x, w, b), "grad_input": grads.input, "grad_weight": grads.weight,
              "grad_bias": grads.bias}
    ab = None if b is None else np.abs(b)
    agrads = gradients(case, np.abs(x), np.abs(w), ab, np.abs(dy))
    magnitudes = {"output": forward(case, np.abs(x), np.abs(w), ab), "grad_input": agrads.input,
                  "grad_weight": agrads.weight, "grad_bias": agrads.bias}
    expected = {}
    for check, terms in TERMS.items():
        expected[check] = values[check]
        expected[f"bound_{check}"] = _bound(magnitudes[check], terms, TERMS_BOUND)
        if TF32:
            expected[f"tf32_bound_{check}"] = _bound(magnitudes[check], terms, TF32_BOUND)
    return expected


def _bound(a, terms, arithmetic):
    """2 * ((K * u + 2 * u_operand) * A + (K + 1) * eta) where A > 0, else 0 (conformance/check/tolerance.py)."""
    relative = (terms * arithmetic["u_acc"] + 2 * arithmetic["u_operand"]) * a
    return TERMS_BOUND["safety"] * np.where(a > 0, relative + (terms + 1) * arithmetic["eta"], 0.0)
'''


def unpack(data: bytes) -> dict:
    with np.load(io.BytesIO(data)) as arrays:
        return {name: arrays[name] for name in arrays.files}
