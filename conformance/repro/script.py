"""The text of a `conformance repro` script, assembled in the parent from what the unit's worker sent
(conformance/check/reproduce.py): a header, the variables the worker kind forces, the constants (the
case's inputs and the oracle's values, base64 of .npz bytes, the inputs with a sha256 each), the
native call (the adapter's snippet, adapters/snippet.py) and the comparison (runtime.py).
"""
from __future__ import annotations

import base64
import io
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conformance.adapters import FORWARD_ONLY_APIS, KERAS_BACKENDS, VARIABLES
from conformance.check.unit import Unit
from conformance.repro import runtime
from conformance.repro.compact import compact_parts
from conformance.results.records import Result
from conformance.run.worker_process import WORKER_ENVIRONMENT
from conformance.spec.case import Case

GRADIENTS = ("grad_input", "grad_weight", "grad_bias")
# What the adapters' `precision(device, 'strict')` sets (on a GPU; JAX's on every device), for the
# paths whose snippets do not say it themselves (jax.lax and Flax write their matmul precision, ONNX
# its provider options).
STRICT = {
    "torch": ["import torch", "torch.backends.cudnn.allow_tf32 = False", "torch.backends.cuda.matmul.allow_tf32 = False",
              'torch.set_float32_matmul_precision("highest")'],
    "tensorflow": ["import tensorflow as tf", "tf.config.experimental.enable_tensor_float_32_execution(False)"],
    "jax": ["import jax", 'jax.config.update("jax_default_matmul_precision", "highest")'],
}
PACKAGE = {"tensorflow-onednn": "tensorflow"}  # a kind's framework package, where its name is not one


@dataclass
class UnitRun:
    """One unit run by `conformance repro` in a worker of its kind (repro/unit.py)."""

    case: Case
    unit: Unit
    seed: int
    records: list[Result]  # the oracle checks' records, unmarked, as the worker sent them
    material: dict  # reproduce.material's
    info: dict  # the worker's hello: version, devices, environment
    known: dict | None = None  # the known-difference entry that explains a record, if one does


def script_text(run: UnitRun, command: str, *, compact: bool = False) -> str:
    """The script; `compact`: without the arrays, which it draws and recomputes (repro/compact.py)."""
    inputs, expected = unpack(run.material["inputs"]), unpack(run.material["expected"])
    body = run.material["body"]
    kind = PACKAGE.get(run.unit.framework, run.unit.framework)
    if run.unit.profile == "strict" and (run.unit.device == "gpu" or kind == "jax"):  # JAX's applies on every device
        body = "\n".join(STRICT.get(kind, [])) + "\n" + body
    code = runtime_code()
    return "\n".join([*header(run, command), "import os", *environment_lines(run.unit), "",
                      "import base64", "import hashlib", "import io", "import sys", "", "import numpy as np", "",
                      *constants(run, inputs, expected, compact=compact), "", "",
                      "def native(x, w, b, dy, out):",
                      '    """The target\'s native call on the suite-layout arrays; fills `out`."""',
                      textwrap.indent(body, "    "), "", "", code.strip(), "", "",
                      *(compact_parts(run.case, run.seed, run.unit.dtype) + ["", ""] if compact else []),
                      'if __name__ == "__main__":', "    sys.exit(main())", ""])


def header(run: UnitRun, command: str) -> list[str]:
    case, unit = run.case, run.unit
    lines = [f"# Reproduces conv-conformance's oracle checks of one unit, exactly: made by `{command}`.",
             f"# case {case.id}: {case.describe()}"]
    if case.origin:
        lines.append(f"#   from {case.origin[0]}:{case.origin[1]}")
    lines += [f"# target {unit.target.name} (worker kind {unit.framework}), dtype {unit.dtype}, precision profile "
              f"{unit.profile}, seed {run.seed}",
              f"# this machine: {versions(run.info, unit.api)}",
              "# the suite's records of this unit: " + "; ".join(record_text(r) for r in run.records)]
    if run.material.get("tf32"):
        lines.append("# float32 on a GPU under 'defaults': TF32 may apply; a value beyond the float32 bound but within "
                     "the TF32 bound is the verdict 'tf32' (the suite's 'known', tf32-defaults)")
    if run.known:
        reason = " ".join(str(run.known.get("reason", "")).split())
        lines += [f"# known difference {run.known.get('id')}: {run.known.get('link')}",
                  *("#   " + line for line in textwrap.wrap(reason, 96)),
                  "#   so this script reproduces a failure: it exits 1"]
    lines += ["# Runs with NumPy and the target's framework only. It prints one line per check: pass, fail, tf32,",
              "# unsupported (the target computes no such value) or raised (the framework raised), and exits 1",
              "# when a check fails, else 2 when the framework raised, else 0; 3 when an embedded input was altered.",
              "# The arrays: x (N, C, *spatial), w (O, I/groups, *k) or (I, O/groups, *k) transposed, b, dy (the",
              "# output's layout), float64 values exactly representable in the dtype; expected values, and each",
              "# element's error bound 2 * (K * u + 2 * u_operand) * (|x| (*) |w| + |b|) (the same conv of absolute",
              "# values), are the suite's float64 oracle's."]
    return lines


def versions(info: dict, api: str) -> str:
    """The framework's version and those of the packages the API's path uses, as the worker reported them."""
    env = info.get("environment", {})
    found = [(PACKAGE.get(info.get("framework", ""), info.get("framework", "framework")), info.get("version"))]
    keys = ["jaxlib", "onnxruntime"] + (["flax"] if api.startswith("flax") else []) + \
        (["keras"] if api.startswith("keras") or api.startswith("litert") else []) + \
        {"openvino.onnx": ["onnx"], "openvino.torch": ["torch"], "executorch.xnnpack": ["torch", "torchao"]}.get(api, [])
    found += [(key, env[key]) for key in keys if isinstance(env.get(key), str)]
    for nested, names, used in (("onnx", ("onnx", "onnxscript", "onnxruntime"), api.startswith("torch.onnx")),
                                ("litert", ("ai_edge_litert",), api.startswith("litert"))):
        section = env.get(nested)
        if used and isinstance(section, dict):
            found += [(key, section[key]) for key in names if section.get(key)]
    host = info.get("host", {})
    found += [("python", host.get("python")), ("numpy", host.get("numpy"))]
    return ", ".join(f"{name} {version}" for name, version in found if version)


def record_text(r: Result) -> str:
    ratio = f" (ratio {r.error_ratio:.3g})" if isinstance(r.error_ratio, (int, float)) else ""
    return f"{r.check} {r.status}{ratio}"


def environment_lines(unit: Unit) -> list[str]:
    """The variables the kind's workers force (frameworks.VARIABLES; KERAS_BACKEND where Keras runs),
    set before any framework is imported, and the workers' defaults where the user has set none."""
    forced = dict(VARIABLES.get(unit.framework, {}))
    keras = unit.api.startswith("keras") or unit.api == "litert.layer" or unit.framework.startswith("tensorflow")
    if keras and unit.framework in KERAS_BACKENDS:
        forced["KERAS_BACKEND"] = KERAS_BACKENDS[unit.framework]
    lines = [f"os.environ[{k!r}] = {v!r}  # as the {unit.framework} worker kind sets it" for k, v in forced.items()]
    defaults = {"OMP_NUM_THREADS": WORKER_ENVIRONMENT["OMP_NUM_THREADS"], "TF_CPP_MIN_LOG_LEVEL": "2"}
    return lines + [f"os.environ.setdefault({k!r}, {v!r})  # as the suite's workers, unless set" for k, v in
                    defaults.items()]


def constants(run: UnitRun, inputs: dict, expected: dict, *, compact: bool = False) -> list[str]:
    case, unit, material = run.case, run.unit, run.material
    checks = tuple(r.check for r in run.records)
    not_computed = {r.check: r.message for r in run.records if r.check in GRADIENTS and unit.api in FORWARD_ONLY_APIS}
    weight = tuple(material["native_weight_shape"]) if material.get("native_weight_shape") else None
    return [f"CHECKS = {checks!r}", f"OUTPUT_SHAPE = {tuple(case.output_shape)!r}",
            f"WEIGHT_SHAPE = {weight!r}  # the kernel shape the framework documents (layer targets)",
            f"PARAM_COUNT = {case.param_count if unit.target.is_layer else None!r}",
            f"NOT_COMPUTED = {not_computed!r}",
            f"ARITHMETIC = {material['arithmetic']!r}  # the bounds' unit roundoff: the dtype's",
            f"TF32 = {bool(material.get('tf32'))!r}",
            f"TERMS = {material['terms']!r}  # K: products summed per element, per check",
            f"QUANTITIES = {runtime.QUANTITIES!r}",
            "INPUT_DIGESTS = {", *(f"    {k!r}: {runtime.digest(a)!r}," for k, a in inputs.items()), "}",
            "# sha256 of the expected values (not verified: a changed value shows as a failing check)",
            "EXPECTED_DIGESTS = {", *(f"    {k!r}: {runtime.digest(a)!r}," for k, a in expected.items()), "}",
            *(['INPUTS = ""  # drawn again: load_inputs below', 'EXPECTED = ""  # recomputed: load_expected below']
              if compact else
              [*blob("INPUTS", material["inputs"], "x, w, b, dy: np.savez_compressed, base64"),
               *blob("EXPECTED", material["expected"], "the oracle's values and bounds per check: np.savez_compressed, "
                                                       "base64")])]


def blob(name: str, data: bytes, what: str) -> list[str]:
    text = base64.b64encode(data).decode()
    return [f"{name} = (  # {what}", *(f'    "{text[i:i + 96]}"' for i in range(0, len(text), 96)), ")"]


def unpack(data: bytes) -> dict:
    with np.load(io.BytesIO(data)) as arrays:
        return {name: arrays[name] for name in arrays.files}


def runtime_code() -> str:
    text = Path(runtime.__file__).read_text(encoding="utf-8")
    return text[text.index("\n" + runtime.MARKER + "\n") + 1:]


def default_path(run: UnitRun) -> Path:
    safe = lambda s: "".join(c if c.isalnum() or c in "-" else "_" for c in s).strip("_")  # noqa: E731
    return Path(f"repro_{safe(run.case.id)}_{safe(run.unit.api)}_{run.unit.dtype}.py")
