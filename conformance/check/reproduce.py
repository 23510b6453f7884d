"""The worker's side of `conformance repro` (conformance/repro/): one unit run exactly as a run runs it
(`evaluate_unit`), its records, and what the standalone script reproducing them is made of: the body
the adapter's snippet writes (adapters/snippet.py), the inputs the adapter got, the oracle's values
and the error bounds its checks used. Everything leaves the worker as plain types and bytes (NumPy's
.npz), never a framework's object.
"""
from __future__ import annotations

import io

import numpy as np

from conformance.adapters.base import Adapter
from conformance.check import tolerance
from conformance.check.evaluate import QUANTITIES, Reference, evaluate_unit
from conformance.check.unit import Unit
from conformance.spec.case import Case

REPRO_FIELD = "repro"  # the key of the first record dict that carries the material


class RecordingAdapter:
    """An adapter that keeps the last `Observation` its `run` returned; everything else is the
    adapter's own."""

    def __init__(self, adapter: Adapter):
        self.adapter = adapter
        self.last = None

    def __getattr__(self, name):
        return getattr(self.adapter, name)

    def run(self, *args, **kwargs):
        self.last = None
        self.last = self.adapter.run(*args, **kwargs)
        return self.last


def repro_records(adapter: Adapter, unit: Unit, case: Case, *, seed: int, ref: Reference) -> list[dict]:
    """The unit's record dicts (unmarked, as a worker sends them), the first one carrying the
    reproducer's material under REPRO_FIELD."""
    recording = RecordingAdapter(adapter)
    records = evaluate_unit(recording, unit, case, seed=seed, ref=ref, mark=False)
    dicts = [r.to_dict() for r in records]
    dicts[0][REPRO_FIELD] = material(adapter, recording.last, unit, case, ref)
    return dicts


def material(adapter: Adapter, obs, unit: Unit, case: Case, ref: Reference) -> dict:
    """body: the script's native part (None where the adapter returned no observation: it refused
    or failed before a native call; or where its observation has no snippet writer, `no_snippet`);
    inputs, expected: .npz bytes; the arithmetic of the bounds."""
    out = {"body": None, "body_error": None, "no_snippet": obs is not None and obs.repro is None, "arithmetic": tolerance.arithmetic_for(unit.dtype).name,
           "terms": {c: int(ref.terms[c]) for c in QUANTITIES if ref.values[c] is not None},
           "native_weight_shape": None}
    if obs is not None and obs.repro is not None:
        try:
            out["body"] = obs.repro(grads=True).body()
        except Exception as exc:  # noqa: BLE001 - a bug of ours, said in place of a script
            out["body_error"] = f"{type(exc).__name__}: {exc}"
    if unit.target.is_layer:
        out["native_weight_shape"] = [int(d) for d in adapter.native_weight_shape(unit.api, case)]
    x, w, b, dy = ref.inputs
    out["inputs"] = npz({"x": x, "w": w, "b": b, "dy": dy})
    arrays = {}
    out["tf32"] = tf32 = tolerance.tf32_applies(unit.dtype, unit.device, unit.profile)
    for check in out["terms"]:
        arrays[check] = ref.values[check]
        terms, magnitude = ref.terms[check], ref.magnitudes[check]
        arrays[f"bound_{check}"] = tolerance.bound(magnitude, terms, tolerance.arithmetic_for(unit.dtype))
        if tf32:
            arrays[f"tf32_bound_{check}"] = tolerance.bound(magnitude, terms, tolerance.TF32)
    out["expected"] = npz(arrays)
    return out


def npz(arrays: dict) -> bytes:
    """np.savez_compressed of the arrays that are not None, as float64."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(a, dtype=np.float64) for k, a in arrays.items() if a is not None})
    return buffer.getvalue()
