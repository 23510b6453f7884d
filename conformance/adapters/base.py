"""What every framework adapter provides, and the vocabulary shared by all of them.

An adapter is one class per worker kind (einops' backends are the model): the framework's session in
its process. Its class attribute `name` is the kind, the registry key and the CLI word. `__init__`
imports the framework; no other module does. The native calls are its paths' (adapters/path.py: one
small class per API, named by the API's declaration), which convert canonical arrays (float64,
channels-first, weights as in docs/semantics.md#layouts) to the framework's native layout and dtype,
call the API a user calls, and convert back.
Padding semantics live in the case model and the oracle, not here: a path passes the case's own
keyword where the API has one, explicit amounts otherwise, and says `Unsupported` when the API
cannot express the case. It never emulates silently.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.adapters.path import Path, load_paths
from conformance.adapters.refusal import Refusal, refusal_for
from conformance.errors import strip_escapes
from conformance.spec.case import Case
from conformance.spec.frameworks import api_packages
from conformance.spec.inputs import Inputs
from conformance.wording import shorten


# Folders an adapter may keep files in, where its process was given them (a framework worker is):
# the environment variables name them, and whoever made a folder removes it, even after a process
# that used it was killed.
SCRATCH_VARIABLE = "CONFORMANCE_WORKER_SCRATCH"  # this process's own files
# Caches that every worker of the run may share (JAX's compilation cache): the pool's scratch
# folder, or under pytest-xdist one folder of the controller's for all xdist workers' pools.
SHARED_CACHE_VARIABLE = "CONFORMANCE_SHARED_CACHE"
# The thread count a worker was started with (conformance/run/worker_process.py): the adapters give
# it to the pools that no variable sets (TensorFlow's intra-op pool, torch's, LiteRT's interpreter).
THREADS_VARIABLE = "CONFORMANCE_WORKER_THREADS"


def worker_threads() -> int | None:
    """This worker's thread count, or None outside a worker (the framework's own default)."""
    try:
        return int(os.environ[THREADS_VARIABLE])
    except (KeyError, ValueError):
        return None


class Unsupported(Exception):
    """The API cannot express the case (reason given), or the framework refused it (its own text)."""


class CompiledPathError(Exception):
    """A compiler (torch.compile, XLA) failed, or did not compile, a call that the framework's eager
    mode computes: a difference of the compiled path, reported as an error, never as a refusal."""


def compiled_failure(adapter: "Adapter", eager_call, failure: Exception, path: str, framework: str) -> Exception:
    """What a compiled call's exception means: a refusal where the eager call refuses the case too
    (with a refusal the adapter declares; the compiler's own text is kept, as the user sees it), the
    eager call's own failure where it fails, else `CompiledPathError`: the compiler failed a case that
    eager mode computes. The caller raises what this returns."""
    try:
        with adapter.native():
            eager_call()
    except Unsupported:
        return failure if isinstance(failure, Unsupported) else Unsupported(
            f"{type(failure).__name__}: {first_lines(str(failure))}")
    except Exception as eager_failure:  # noqa: BLE001 - eager fails too: that failure is the finding
        return eager_failure
    return CompiledPathError(f"{path} failed on a case eager {framework} computes: "
                             f"{type(failure).__name__}: {first_lines(str(failure))}")


@dataclass(frozen=True)
class Target:
    framework: str  # torch | tensorflow | jax
    api: str  # torch.functional | torch.layer | tf.nn | keras.layer | jax.lax | flax.layer
    device: str  # cpu | gpu

    @property
    def name(self) -> str:
        return f"{self.api}@{self.device}"

    @property
    def is_layer(self) -> bool:
        return self.api.endswith(".layer")


def api_modifiers(api: str) -> frozenset[str]:
    """The words of an API name between its first and last, which a planted fault of one path matches
    (search/faults.py; the adapters run a path by its class, never by these words):
    'torch.compile.channels_last.layer' -> {'compile', 'channels_last'}; 'tf.nn' -> {}."""
    return frozenset(api.split(".")[1:-1])


@dataclass
class Observation:
    """What one native call produced, converted back to canonical layout and float64.

    Any array field may instead hold an `Unsupported` (that part could not be computed, e.g. a
    gradient the framework does not implement for the dtype), another exception (computing that part
    raised: an `error` of its checks alone), or None (the framework returned nothing for it, as
    autograd does for a parameter the graph does not use: a `fail` where the case needs it). The
    output is kept whenever it was computed. Layer APIs fill `layer_weight_shape`
    (the shape the layer itself created, read from it) and `param_count` (the layer's own count).
    """

    output: Any
    grad_input: Any = None
    grad_weight: Any = None
    grad_bias: Any = None
    layer_weight_shape: tuple | None = None
    param_count: int | None = None
    call: str = ""  # the native call, as code a user can paste (the reproducer)
    notes: list[str] = field(default_factory=list)  # e.g. which jax transpose_kernel setting was used
    # The function of `grads` that wrote `call` (adapters/snippet.py `attach`): `conformance repro`
    # calls it with grads=True for its script's body.
    repro: Any = None


class Adapter:
    """Base class. Subclasses set `name`, `apis`, `refusals` and implement the environment's methods;
    each API's path class (its declaration's `path`) does the rest, or a subclass overrides `run` and
    `native_weight_shape` to serve its APIs itself."""

    name: str = ""
    apis: tuple[str, ...] = ()
    # How the framework refuses a call (conformance/adapters/refusal.py): an exception raised in a
    # `native()` block that matches one becomes `unsupported` with the framework's own text; any other
    # exception is an `error`. None declared: every exception is an error.
    refusals: tuple[Refusal, ...] = ()

    # ---------------------------------------------------------------- environment
    def version(self) -> str:
        raise NotImplementedError

    def devices(self) -> list[str]:
        """Devices this installation can run on: always 'cpu', plus 'gpu' when one is usable."""
        raise NotImplementedError

    def environment(self) -> dict:
        """Versions, device names, CUDA/cuDNN versions: recorded in the results."""
        raise NotImplementedError

    def precision(self, device: str, profile: str):
        """A context manager applying a precision profile; yields a dict of the settings in force.

        'strict': TF32 and reduced-precision reductions off, highest precision.
        'defaults': whatever a user gets out of the box (settings left untouched).
        """
        return contextlib.nullcontext({})

    def cpu_profiles(self) -> tuple[str, ...]:
        """The precision profiles that compute differently on the CPU, each run there: ('defaults',)
        where the CPU has one precision; an adapter whose CPU default is a reduced precision (OpenVINO's
        bf16 inference on some CPUs) adds 'strict'."""
        return ("defaults",)

    # ---------------------------------------------------------------- semantics
    @functools.cached_property
    def paths(self) -> dict[str, Path]:
        """The kind's API paths by name, each built with this adapter (conformance/adapters/path.py):
        the class its declaration names (`Declaration.path`)."""
        return load_paths(self)

    def path_for(self, api: str) -> Path:
        """The path object of `api` (`paths`)."""
        try:
            return self.paths[api]
        except KeyError:
            raise NotImplementedError(f"{type(self).__name__} has no path for {api!r}: its declaration names no "
                                      f"path class (Declaration.path) and the adapter does not run it itself") from None

    def native_weight_shape(self, api: str, case: Case) -> tuple[int, ...]:
        """The weight shape the framework documents for this API, derived from the canonical shape by rule."""
        return self.path_for(api).native_weight_shape(case)

    def run(self, api: str, case: Case, dtype: str, device: str, inputs: Inputs) -> Observation:
        """Forward and gradients (upstream gradient inputs.grad_output) with the API a user calls: its
        path's `run`. Raises `Unsupported` when the API cannot express the case or the dtype."""
        return self.path_for(api).run(case, dtype, device, inputs)

    def start_errors(self) -> dict[str, str]:
        """The APIs of this kind that cannot start here although their own packages are installed
        (`frameworks.api_packages`: Keras on a backend, flax, onnxscript), each with the import's error,
        and those whose path says why it cannot start (`Path.start_error`: the LiteRT interpreter): a
        broken install or upgrade is a failed start of that target, never a refusal of every case. A
        package that is not installed at all is not here: the run skips its API."""
        errors = {}
        for api in self.apis:
            for package in api_packages(api):
                if importlib.util.find_spec(package) is None:
                    continue
                try:
                    self.import_package(api, package)
                except Unsupported:  # it cannot run in this process, for a reason its records give
                    continue
                except Exception as exc:  # noqa: BLE001 - whatever the import raised is the failure
                    errors[api] = f"{package} failed to import: {type(exc).__name__}: {first_lines(str(exc))}"
                    break
            if api not in errors and api in self.paths:
                failure = self.paths[api].start_error()
                if failure:
                    errors[api] = failure
        return errors

    def import_package(self, api: str, package: str):
        """Import `package` as `api` imports it when it runs (its path's way: Keras with its backend)."""
        if api in self.paths:
            return self.paths[api].import_package(package)
        return importlib.import_module(package)

    # ---------------------------------------------------------------- helpers for subclasses
    @contextlib.contextmanager
    def native(self):
        """Wrap the framework call: its declared refusals (`refusals`) become `Unsupported` with the
        framework's own text, any other exception passes unchanged (an error), and its warnings are
        kept (see `take_warnings`) instead of going to the worker's stderr."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            except Unsupported:
                raise
            except Exception as exc:
                if refusal_for(exc, self.refusals) is None:
                    raise
                raise Unsupported(f"{type(exc).__name__}: {first_lines(str(exc))}") from exc
            finally:
                self.keep_warnings(f"{w.category.__name__}: {first_lines(str(w.message), 300)}" for w in caught)

    def keep_warnings(self, texts) -> None:
        """Keep warning texts for `take_warnings`, each once (a kept artifact's, given again on a hit)."""
        seen = self.__dict__.setdefault("_warnings", [])
        seen.extend(t for t in dict.fromkeys(texts) if t not in seen)

    def take_warnings(self) -> list[str]:
        """Warnings the framework issued in `native()` blocks since the last call."""
        return self.__dict__.pop("_warnings", [])

    @staticmethod
    def to_numpy64(array) -> np.ndarray:
        return np.asarray(array, dtype=np.float64)


@functools.cache
def dist_version(name: str) -> str | None:
    """An installed distribution's version, read from its metadata without importing it (None: not
    installed)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def converted(value, convert):
    """`convert(value)` for a quantity the framework computed. None (the framework returned none) and
    an exception (computing it raised) pass through, and so does an exception `convert` raises: each
    quantity is judged on its own (check/evaluate.py `_missing`), so one missing piece hides no other."""
    if value is None or isinstance(value, BaseException):
        return value
    try:
        return convert(value)
    except Exception as exc:  # noqa: BLE001 - kept as this quantity's value, reported as its error
        return exc


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def first_lines(text: str, limit: int = 600) -> str:
    """A framework's message as one line: no terminal colours, traced frames or object addresses,
    its first six lines joined, at most `limit` characters."""
    text = _without_traced_frames(strip_escapes(text))  # Keras colours its error messages for terminals
    text = _ADDRESS.sub("", text)  # a Python object's repr: its address differs in every process
    text = " ".join(line.strip() for line in text.strip().splitlines()[:6] if line.strip())
    return shorten(text, limit)


def _without_traced_frames(text: str) -> str:
    """The framework's own words of an error raised in code that tf.function traced. TensorFlow puts
    the traced frames first ('in user code:', then each frame's `File "<path>", line N, in f` and its
    source line), then the error's type and text: the frames name our files on this machine, so a
    message would differ between installations and say nothing about the case."""
    if not text.startswith("in user code:"):
        return text
    kept, source_line_next = [], False
    for line in text.splitlines()[1:]:
        if line.strip().startswith('File "'):
            source_line_next = True
        elif source_line_next:
            source_line_next = False
        else:
            kept.append(line)
    return re.sub(r"^\w+: ", "", "\n".join(kept).strip(), count=1)  # the type, which the caller names


def channels_last(a: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) -> (N, *spatial, C)."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def channels_first(a: np.ndarray) -> np.ndarray:
    """(N, *spatial, C) -> (N, C, *spatial)."""
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


def kernel_last(w: np.ndarray) -> np.ndarray:
    """Canonical weight (A, B, *k) -> (*k, B, A): TF/Keras/Flax conv layout (*k, I/g, O)."""
    nd = w.ndim - 2
    return np.ascontiguousarray(np.transpose(w, tuple(range(2, 2 + nd)) + (1, 0)))


def kernel_first(w: np.ndarray) -> np.ndarray:
    """Inverse of `kernel_last`: (*k, B, A) -> (A, B, *k)."""
    nd = w.ndim - 2
    return np.ascontiguousarray(np.transpose(w, (nd + 1, nd) + tuple(range(nd))))
