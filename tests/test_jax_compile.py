"""One XLA compilation per (case, dtype, device) for the two JAX targets together (issue 6), counted
with JAX's monitoring events, not timed: jax.lax and flax.layer must lower a case to the same program
so that the persistent compilation cache hands the second target the first one's executable."""
from __future__ import annotations

import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")

from conformance import Case  # noqa: E402
from conformance.adapters import Target, load_adapter  # noqa: E402
from conformance.check.evaluate import Reference, evaluate  # noqa: E402

COMPILE = "/jax/core/compile/backend_compile_duration"
HIT = "/jax/compilation_cache/cache_hits"


@pytest.fixture(scope="module")
def counter():
    from jax import monitoring

    seen = {"requests": 0, "hits": 0}

    def on_event(event, **kwargs):
        if event == HIT:
            seen["hits"] += 1

    def on_duration(event, duration, **kwargs):
        if event == COMPILE:
            seen["requests"] += 1

    monitoring.register_event_listener(on_event)
    monitoring.register_event_duration_secs_listener(on_duration)
    return seen


@pytest.mark.parametrize("fields", [
    dict(op="conv", input_shape=[2, 3, 7, 6], out_channels=4, kernel_size=3, stride=2, padding="same"),
    dict(op="conv", input_shape=[1, 4, 9], out_channels=4, kernel_size=2, groups=2, padding=[[1, 0]], bias=False),
    dict(op="conv_transpose", input_shape=[1, 3, 4, 5], out_channels=2, kernel_size=3, stride=2, padding=1,
         output_padding=1),
], ids=["conv2d-same-bias", "conv1d-grouped-nobias", "convT2d-bias"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_both_jax_targets_compile_once(counter, fields, dtype):
    adapter = load_adapter("jax")
    case = Case.from_dict({"id": f"compile-once-{sorted(fields.items())}-{dtype}", **fields})
    ref = Reference(case, dtype, 0)
    before = dict(counter)
    for api in ("jax.lax", "flax.layer"):
        records = evaluate(adapter, Target("jax", api, "cpu"), case, dtype, ref=ref)
        assert {r.status for r in records} == {"pass"}, [(r.check, r.message) for r in records]
    compiled = (counter["requests"] - before["requests"]) - (counter["hits"] - before["hits"])
    assert counter["requests"] - before["requests"] == 2  # one request per target: forward + gradients together
    assert compiled == 1


SECOND_WORKER = """
import json, os, sys
from jax import monitoring
from conformance import Case
from conformance.adapters import Target, load_adapter
from conformance.check.evaluate import evaluate

seen = {"requests": 0, "hits": 0}
monitoring.register_event_listener(lambda event, **kw: seen.__setitem__("hits", seen["hits"] + (event == %r)))
monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: seen.__setitem__("requests", seen["requests"] + (event == %r)))
adapter = load_adapter("jax")
case = Case.from_dict({"id": "shared", "op": "conv", "input_shape": [1, 2, 6, 5], "out_channels": 3,
                       "kernel_size": 3, "stride": 2, "padding": "same"})
statuses = {r.status for r in evaluate(adapter, Target("jax", "jax.lax", "cpu"), case, "float32")}
print(json.dumps({**seen, "statuses": sorted(statuses), "where": adapter.environment()["compilation_cache"]["dir"]}))
""" % (HIT, COMPILE)


def test_a_program_one_worker_compiled_is_loaded_by_the_next(tmp_path, monkeypatch):
    """Workers given one shared cache folder (a pool's, or every xdist worker's pools') compile a
    program once between them: the second process loads the first one's executable."""
    import json
    import subprocess
    import sys

    from conformance.adapters.base import SHARED_CACHE_VARIABLE

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv(SHARED_CACHE_VARIABLE, str(tmp_path))
    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", SECOND_WORKER], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.splitlines()[-1]))
    first, second = runs
    assert first["statuses"] == second["statuses"] == ["pass"]
    assert first["requests"] == 1 and first["hits"] == 0  # compiled, and written to the shared folder
    assert second["requests"] == 1 and second["hits"] == 1  # loaded, not compiled
    assert list((tmp_path / "jax-compilation-cache").iterdir())
    assert first["where"] == "the run's cache folder (--cache-dir)"
