"""Runs the Keras-backend targets (keras.jax.layer, keras.torch.layer, keras.jax.ops, keras.torch.ops) in a
process of their own.

Keras reads KERAS_BACKEND once per process, and a test session imports keras with TensorFlow's
backend, so tests reach these targets through `probe`: a fresh interpreter started with
KERAS_BACKEND set, running this file on a JSON request and writing a JSON answer to a file.
A request names its `api` and any of:
- observe: a list of {case, dtype, inputs[, repro]}: the adapter's raw Observation for each, the output
  shape its reproducer snippet computes when run, and with `repro: true` the values (`out`) that
  the body of its `conformance repro` script computes;
- evaluate: a list of [case, dtype]: each check's [status, message], as `conformance run` records them.
(Their planted faults are searched by tests/test_sensitivity.py, one process per framework kind.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORK = {"keras.jax.layer": "jax", "keras.torch.layer": "torch", "keras.jax.ops": "jax", "keras.torch.ops": "torch"}


def probe(request: dict, tmp_path, *, backend: str | None = None, timeout: float = 600) -> dict:
    """Run `request` in a fresh interpreter whose KERAS_BACKEND is `backend` (the API's by default)."""
    answer = Path(tmp_path) / f"answer-{os.getpid()}-{id(request)}.json"
    env = {**os.environ, "KERAS_BACKEND": backend or FRAMEWORK[request["api"]],
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("CONFORMANCE_WORKER_SCRATCH", None)
    done = subprocess.run([sys.executable, __file__, str(answer)], input=json.dumps(request), text=True, env=env,
                          cwd=ROOT, capture_output=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(answer.read_text())


def _value(value):
    import numpy as np

    if value is None:
        return None
    if isinstance(value, BaseException):
        return {"raised": f"{type(value).__name__}: {value}"}
    return np.asarray(value).tolist()


def _observe(adapter, api: str, request: dict) -> dict:
    import numpy as np

    from conformance.adapters.base import Unsupported
    from conformance.spec.case import Case
    from conformance.spec.inputs import Inputs

    case = Case.from_dict(request["case"])
    arrays = {k: None if v is None else np.asarray(v, dtype=np.float64) for k, v in request["inputs"].items()}
    try:
        obs = adapter.run(api, case, request["dtype"], "cpu", Inputs(**arrays))
    except Unsupported as exc:
        return {"unsupported": str(exc)}
    scope: dict = {}
    exec(obs.call, scope)  # noqa: S102 - the reproducer must run as printed
    repro: dict = {"x": arrays["input"], "w": arrays["weight"], "b": arrays["bias"], "dy": arrays["grad_output"],
                   "out": {}}
    if request.get("repro"):  # its JAX float64 version turns x64 on for the whole process
        exec(obs.repro(grads=True).body(), repro)  # noqa: S102 - the repro script's native part, as written
    layer = obs.layer_weight_shape
    return {"output": _value(obs.output), "grad_input": _value(obs.grad_input), "grad_weight": _value(obs.grad_weight),
            "grad_bias": _value(obs.grad_bias), "layer_weight_shape": None if layer is None else list(layer),
            "param_count": obs.param_count, "call": obs.call, "snippet_output_shape": list(scope["y"].shape),
            "native_weight_shape": list(adapter.native_weight_shape(api, case)),
            "repro": {k: _value(v) for k, v in repro["out"].items()}}


def _evaluate(adapter, api: str, pair: list) -> dict:
    from conformance.adapters.base import Target
    from conformance.check.evaluate import evaluate
    from conformance.spec.case import Case

    case, dtype = pair
    return {r.check: [r.status, r.message] for r in evaluate(adapter, Target(adapter.name, api, "cpu"),
                                                             Case.from_dict(case), dtype)}


def main(answer: str) -> None:
    from conformance.adapters import load_adapter

    request = json.loads(sys.stdin.read())
    if request.get("import_keras_first"):
        import keras  # noqa: F401 - with this process's KERAS_BACKEND, before the adapter runs
    api = request["api"]
    adapter = load_adapter(FRAMEWORK[api])
    out = {"observe": [_observe(adapter, api, item) for item in request.get("observe", ())],
           "evaluate": [_evaluate(adapter, api, pair) for pair in request.get("evaluate", ())]}
    Path(answer).write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
