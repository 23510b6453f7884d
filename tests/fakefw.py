"""A fake framework for the suite's own tests: correct (it calls the oracle) unless a case's tags
ask it to misbehave. It lets the runner, CLI and pytest plugin be tested for every status, crash and
hang in milliseconds, without importing a real framework.

It is a target plugin, as a package outside the suite would be one: fakefw_plugin/ holds its
distribution's metadata, whose entry point (group conv_conformance.targets) gives the
`DECLARATIONS` of fakefw_plugin/fakefw_targets.py.
A process (and its workers) has it with this folder and fakefw_plugin/ on its path:
`environment_variables` for a subprocess, `enable` for this one.
"""
from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from conformance.check import oracle
from conformance.adapters.base import (SCRATCH_VARIABLE, SHARED_CACHE_VARIABLE, THREADS_VARIABLE, Adapter, Observation,
                                       Unsupported, worker_threads)
from conformance.adapters.refusal import Refusal
from conformance.spec import frameworks

# its distribution's metadata (entry_points.txt) and its declarations (fakefw_targets.py)
PLUGIN = Path(__file__).resolve().parent / "fakefw_plugin"


def environment_variables(tests_dir) -> dict:
    """PYTHONPATH for a subprocess (and its workers) that has the fake framework."""
    given = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join([str(tests_dir), str(Path(tests_dir) / PLUGIN.name)] + given)}


def enable(monkeypatch, tests_dir=None) -> None:
    """This process has the fake framework, as a plugin, until the test ends: its entry point on
    sys.path (the workers it spawns inherit it), PYTHONPATH for its subprocesses, and the
    declarations read afresh (they are read once per process)."""
    for name, value in environment_variables(tests_dir or Path(__file__).resolve().parent).items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(PLUGIN))
    fresh = functools.lru_cache(maxsize=1)(frameworks.declarations.__wrapped__)
    monkeypatch.setattr(frameworks, "declarations", fresh)


def known_differences(stale_case_glob: str) -> str:
    """A known-differences file for the fake framework: one entry that explains its `fake_wrong`
    outputs, and `fake-never`, in scope for the cases matching `stale_case_glob` but explaining
    nothing there (they pass), so it is reported stale."""
    return f"""known_differences:
  - id: fake-first-element
    reason: The fake framework adds one to the first output element.
    link: https://example.org/fakefw/issues/1
    match: {{framework: fakefw, check: output, features: [conv, 1d]}}
  - id: fake-never
    reason: In scope (its cases run) but explains nothing, as they pass.
    link: https://example.org/fakefw/issues/2
    match: {{framework: fakefw, case: "{stale_case_glob}", check: output}}
"""


class FakeVersion(str):
    """A version string of the framework's own type, as torch.__version__ (a TorchVersion) is: the
    worker must send plain strings, or unpickling this imports the framework into the parent."""


class FakeAdapter(Adapter):
    name = "fakefw"
    apis = ("fakefw.functional", "fakefw.layer")
    refusals = (Refusal("RuntimeError", r"^fakefw refuses", "tests/fakefw.py FakeAdapter.run"),)

    def __init__(self):
        # Keeps a file in the worker pool's scratch folder, as JAX keeps its compilation cache there.
        if os.environ.get(SCRATCH_VARIABLE):
            self.scratch = tempfile.mkdtemp(prefix="fakefw-", dir=os.environ[SCRATCH_VARIABLE])
            with open(os.path.join(self.scratch, "kept"), "w") as f:
                f.write("a file this worker keeps")
        self._note_shared_cache()

    @staticmethod
    def _note_shared_cache():
        """Keeps a file in the shared cache folder, as JAX keeps its compilation cache there, and
        (for the tests) appends "<pid> <parent pid> <folder>" to the file FAKEFW_SHARED_LOG names."""
        shared = os.environ.get(SHARED_CACHE_VARIABLE)
        if not shared:
            return
        os.makedirs(os.path.join(shared, "fakefw-cache"), exist_ok=True)
        with open(os.path.join(shared, "fakefw-cache", str(os.getpid())), "w") as f:
            f.write("an entry of a cache the run's workers share")
        if os.environ.get("FAKEFW_SHARED_LOG"):
            with open(os.environ["FAKEFW_SHARED_LOG"], "a") as f:
                f.write(f"{os.getpid()} {os.getppid()} {shared}\n")

    def version(self):
        return FakeVersion("0.0-fake")

    def devices(self):
        # FAKEFW_GPU=1 pretends a GPU is present, so the runner's GPU paths (precision profiles,
        # TF32 classification, GPU item ids) can be tested on machines without one.
        return ["cpu", "gpu"] if os.environ.get("FAKEFW_GPU") else ["cpu"]

    @contextlib.contextmanager
    def precision(self, device, profile):
        self.profile = profile
        yield {"tf32": device == "gpu" and profile == "defaults"}

    def environment(self):
        return {"version": FakeVersion("0.0-fake"),
                "started_with": {v: os.environ.get(v) for v in ("PYTHONHASHSEED", "OMP_NUM_THREADS", THREADS_VARIABLE)}}

    def native_weight_shape(self, api, case):
        return case.weight_shape

    def run(self, api, case, dtype, device, inputs):
        tags = set(case.tags)
        if "fake_noisy" in tags:  # a framework's log line (TensorFlow's C++ logging writes to fd 2)
            os.write(2, f"fakefw log: running {case.id} on {api}\n".encode())
        if "fake_crash" in tags:
            os.kill(os.getpid(), signal.SIGSEGV)
        if "fake_abort_layer" in tags and api == "fakefw.layer":
            os.abort()  # what a C++ assertion in a framework kernel does
        # Faults on every other call of the unit, counted in a file in the pool's scratch folder so
        # that they alternate across worker processes: the first call fails, the second works.
        if "fake_abort_every_other" in tags and _odd_call(case, api, dtype, device):
            print(f"fakefw: about to abort in {case.id} on {api}", file=sys.stderr, flush=True)
            os.abort()
        if "fake_raise_every_other" in tags and _odd_call(case, api, dtype, device):
            raise RuntimeError("fakefw: a fault on every other call")
        if "fake_slow" in tags:
            time.sleep(0.3)
        if "fake_hang" in tags:
            time.sleep(3600)
        if "fake_set_message" in tags:  # a framework message printing a set, as Keras' do
            raise Unsupported(f"padding must be one of {set('valid same causal full reflect circular zeros'.split())}")
        if "fake_unsupported" in tags:
            raise Unsupported("fakefw cannot do this (asked by the case's tags)")
        if "fake_raise" in tags:
            raise KeyError("a bug in the adapter")
        if "fake_raise_coloured" in tags:  # as Keras raises: terminal colour codes, several lines
            raise ValueError("\x1b[1mInvalid kernel\x1b[0m for this layer:\n  \x1b[31mkernel_size\x1b[0m must be "
                             "positive,\r\n\tgot 0")
        with self.native():  # as a framework's call: its declared refusal is `unsupported`, the rest `error`
            if "fake_framework_refuses" in tags:
                raise RuntimeError("fakefw refuses this configuration (a documented limit)")
            if "fake_internal_assert" in tags:
                raise RuntimeError("INTERNAL ASSERT FAILED at fakefw/kernel.cc:42, please report a bug")
            if "fake_raise_on_empty" in tags and 0 in case.output_shape:  # as torch's shape check raises
                raise RuntimeError("fakefw: output size is too small")
        x, w, b, g = inputs
        tf32_on = self.profile == "defaults" or "fake_tf32_ignores_strict" in tags
        if "fake_tf32" in tags and device == "gpu" and tf32_on and dtype == "float32":
            # what a TF32 tensor core does: operands keep 10 of float32's 23 mantissa bits
            x, w = _tf32(x), _tf32(w)
        y = oracle.forward(case, x, w, b)
        grads = oracle.gradients(case, x, w, b, g)
        threaded = "fake_wrong_with_threads" in tags and (worker_threads() or 1) > 1  # a race in a parallel kernel
        if "fake_wrong" in tags or threaded or ("fake_wrong_every_other" in tags and _odd_call(case, api, dtype, device)):
            y = y.copy()
            y.flat[0] += 1.0  # an off-by-something at the first element
        if "fake_nonempty_output" in tags:  # a size of 1 where the output has none: a wrong shape, silently
            y = np.zeros(tuple(max(1, n) for n in case.output_shape))
        if "fake_weight_grad_garbage" in tags:  # uninitialised memory where an empty sum is zero
            grads = grads._replace(weight=grads.weight + 1e30)
        if "fake_varies_by_process" in tags:  # another value in each process, far inside the bound
            y = y.copy()
            y.flat[0] += 1e-15 * os.getpid() * (1.0 + np.abs(y).max())
        layer = api.endswith(".layer")
        return Observation(output=y, grad_input=grads.input, grad_weight=grads.weight, grad_bias=grads.bias,
                           layer_weight_shape=case.weight_shape if layer else None,
                           param_count=case.param_count + (1 if "fake_param_count" in tags else 0) if layer else None,
                           call=f"fakefw.conv(x, w)  # {case.id}")


def _odd_call(case, api, dtype, device) -> bool:
    """Whether this is call 1, 3, 5... of this (case, api, dtype, device) in this worker pool."""
    path = os.path.join(os.environ[SCRATCH_VARIABLE], f"calls-{case.id}-{api}-{dtype}-{device}")
    with open(path, "a+") as f:  # one process at a time runs a unit: no lock needed
        f.seek(0)
        calls = len(f.read()) + 1
        f.write(".")
    return calls % 2 == 1


def _tf32(a):
    bits = np.asarray(a, dtype=np.float32).view(np.uint32)
    return (bits & np.uint32(0xFFFFE000)).view(np.float32).astype(np.float64)


def write_plugin(folder, name: str, code: str) -> dict:
    """A target plugin in `folder`, as an installed distribution is one: its metadata, whose entry
    point `name` (group conv_conformance.targets) gives `DECLARATIONS` of the module `<name>_targets`
    written with `code`. Returns PYTHONPATH for a subprocess that has it and the fake framework's
    module, but not the fake framework's own plugin (so `code` may declare the kind fakefw)."""
    folder = Path(folder)
    info = folder / f"{name}-0.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(f"[conv_conformance.targets]\n{name} = {name}_targets:DECLARATIONS\n")
    (folder / f"{name}_targets.py").write_text(code)
    given = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join([str(folder), str(PLUGIN.parent)] + given)}


def broken_framework(tmp_path) -> dict:
    """The fake framework's adapter spec, but its module raises on import (a framework upgrade that
    does not import): the worker reports it as failing to start. Returns the variables for a
    subprocess (`write_plugin`)."""
    (tmp_path / "plugin").mkdir(exist_ok=True)  # not the command's folder: other commands there have fakefw's own
    (tmp_path / "plugin" / "brokenfw.py").write_text('raise ModuleNotFoundError("No module named \'jaxlib.xla_extension\'")\n')
    return write_plugin(tmp_path / "plugin", "brokenfw_plugin", "from conformance.spec.frameworks import Declaration\n"
                        "DECLARATIONS = [Declaration(api, 'fakefw', 'brokenfw:FakeAdapter', ('fakefw',)) "
                        "for api in ('fakefw.functional', 'fakefw.layer')]\n")
