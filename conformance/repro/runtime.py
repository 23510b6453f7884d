"""The comparison part of a `conformance repro` script: the code below the marker is copied into every
script as it is, after the script's constants (conformance/repro/script.py), so a script needs only
NumPy and its framework. It decides each check as conformance/check/evaluate.py does: the shapes
first (a shape that differs fails the value check too), then each element's error over its bound
(conformance/check/compare.py), the worst element reported; gradients are not compared where the
output's shape is not the case's (the case's upstream gradient does not apply).

Its verdicts: pass, fail, tf32 (beyond the dtype's bound, within TF32's, where TF32 may apply:
the suite records it as `known`), unsupported (the target computes no such value), raised (the
framework raised). Exit status: 1 when a check fails (fail or tf32), else 2 when the framework
raised, else 0; 3 when an embedded input is not the recorded one.
"""
from __future__ import annotations

import base64
import hashlib
import io
import sys

import numpy as np

# The script's constants (script.py writes them above the copied code); these stand-ins let the code
# below be read, linted and tested here.
CHECKS: tuple = ()
OUTPUT_SHAPE: tuple = ()
WEIGHT_SHAPE: tuple | None = None
PARAM_COUNT: int | None = None
NOT_COMPUTED: dict = {}
ARITHMETIC = "float32"
TF32 = False
INPUT_DIGESTS: dict = {}
INPUTS = ""
EXPECTED = ""
QUANTITIES = {"output": "output", "grad_input": "gradient for the input", "grad_weight": "gradient for the weight",
              "grad_bias": "gradient for the bias"}


def native(x, w, b, dy, out):  # the script's own: the target's native call
    raise NotImplementedError


MARKER = "# ---- the comparison, as the suite makes it"
# ---- the comparison, as the suite makes it


def digest(a):
    """sha256 of an array's float64 bytes (C order) and its shape."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    return hashlib.sha256(a.tobytes() + repr([int(s) for s in a.shape]).encode()).hexdigest()


def unpack(text):
    with np.load(io.BytesIO(base64.b64decode("".join(text.split())))) as arrays:
        return {name: arrays[name] for name in arrays.files}


def load_inputs():
    """x, w, b, dy, each checked against its recorded digest."""
    arrays = unpack(INPUTS)
    for name, wanted in INPUT_DIGESTS.items():
        if name not in arrays or digest(arrays[name]) != wanted:
            print(f"input {name}: not the recorded array (its sha256 differs): the embedded data were altered")
            sys.exit(3)
    return arrays["x"], arrays["w"], arrays.get("b"), arrays["dy"]


def compare(expected, got, bound):
    """(ratio, worst index, expected there, got there): the worst |got - expected| / bound; 0 where
    they are equal (even with a zero bound), inf where got is NaN or infinite."""
    err = np.abs(got - expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = err / bound
    ratios[err == 0] = 0.0
    ratios[~np.isfinite(got)] = np.inf
    if ratios.size == 0:
        return 0.0, [], 0.0, 0.0
    flat = int(np.argmax(ratios))
    where = [int(i) for i in np.unravel_index(flat, ratios.shape)]
    return float(ratios.flat[flat]), where, float(expected.flat[flat]), float(got.flat[flat])


def raised_text(exc):
    text = " ".join(str(exc).split())
    if len(text) > 600:  # cut at a word, never inside one (conformance/wording.py: the script imports no suite)
        text = text[:597].rsplit(" ", 1)[0] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def judge_array(check, value, expected):
    if isinstance(value, BaseException):
        return "raised", raised_text(value)
    if value is None:
        return "fail", f"the framework returned no {QUANTITIES[check]}"
    want = expected[check]
    if tuple(np.shape(value)) != want.shape:
        return "fail", f"shape {list(np.shape(value))}, but should be {list(want.shape)}"
    got = np.asarray(value, dtype=np.float64)
    ratio, where, at_expected, at_got = compare(want, got, expected[f"bound_{check}"])
    text = f"ratio {ratio:.3g} at {where}: got {at_got!r}, expected {at_expected!r}; {ARITHMETIC} bound"
    if ratio <= 1.0:
        return "pass", text
    if TF32:
        tf32, *_ = compare(want, got, expected[f"tf32_bound_{check}"])
        if tf32 <= 1.0:
            return "tf32", f"{text}, but within the TF32 bound (ratio {tf32:.3g}): TF32 may apply here"
    return "fail", text


def judge(check, out, raised, expected):
    """(verdict, detail) of one check."""
    if check in NOT_COMPUTED:
        return "unsupported", NOT_COMPUTED[check]
    key = "output" if check == "output_shape" else check
    if key not in out:
        return ("raised", raised_text(raised)) if raised is not None else ("fail", f"no {key} was computed")
    value = out[key]
    if check == "output_shape":
        if isinstance(value, BaseException):
            return "raised", raised_text(value)
        shape = [int(s) for s in np.shape(value)]
        return ("pass", str(shape)) if shape == list(OUTPUT_SHAPE) else \
            ("fail", f"output_shape={shape}, but should be {list(OUTPUT_SHAPE)}")
    if check in ("weight_shape", "param_count"):
        wanted = list(WEIGHT_SHAPE) if check == "weight_shape" else PARAM_COUNT
        got = list(value) if check == "weight_shape" else value
        return ("pass", str(got)) if got == wanted else ("fail", f"{check}={got}, but should be {wanted}")
    output = out.get("output")
    if check != "output" and output is not None and not isinstance(output, BaseException) \
            and tuple(np.shape(output)) != tuple(OUTPUT_SHAPE):
        return "unsupported", (f"gradients not compared: the output is {list(np.shape(output))}, not the case's "
                               f"{list(OUTPUT_SHAPE)}, so the case's upstream gradient does not apply")
    return judge_array(check, value, expected)


def load_expected(x, w, b, dy):
    """The oracle's values and bounds per check (a compact script recomputes them: repro/compact.py)."""
    return unpack(EXPECTED)


def main():
    x, w, b, dy = load_inputs()
    expected = load_expected(x, w, b, dy)
    out, raised = {}, None
    try:
        native(x, w, b, dy, out)
    except Exception as exc:  # the framework raised: the checks it left undecided say so
        raised = exc
        print(f"the framework raised {raised_text(exc)}")
    verdicts = []
    for check in CHECKS:
        verdict, detail = judge(check, out, raised, expected)
        verdicts.append(verdict)
        print(f"{check}: {verdict} ({detail})")
    if "fail" in verdicts or "tf32" in verdicts:
        return 1
    return 2 if "raised" in verdicts else 0
