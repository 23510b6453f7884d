"""The export and conversion paths' artifacts kept between runs: the ONNX models `torch.onnx.export`
writes and the flatbuffers the TFLite converter writes, in the run's cache folder (`--cache-dir`).

Why: these paths cost most of a warm run otherwise. The default PyTorch exporter rebuilds its
operator registry from onnxscript on every call (two thirds of its 0.4-0.9 s a case), and the
TFLite converter takes about 0.1 s a case; nothing else in the run is that slow once the compilers'
caches are warm. The runtimes (ONNX Runtime, the LiteRT interpreter) still load and run the model in
every run: only the translation is reused.

An artifact is a function of what its key holds, so a hit is the artifact the exporter or converter
would write again: the installed code of every package that makes it (`installed_code`: its files,
not only its version string, so a local or patched build is never served an artifact another build
made), the exporter or converter and its
options, the layer's class and arguments, the bytes of its parameters, the input's shape and dtype.
A planted fault that changes the case or its data changes the key. The tool's refusal (`Unsupported`,
its own text) is kept as well, and so are the warnings the making gave, which the unit's records
carry either way: a hit gives the records a miss gives.

Entries are written whole (a temporary file, then a rename), so a worker never reads another's
half-written entry. Without the run's cache folder (no worker pool: benchmarks, tests) nothing is
kept. `--cache-dir none` gives a run a folder of its own, so every artifact is made afresh.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import tempfile
from typing import Callable

from conformance.adapters.base import SHARED_CACHE_VARIABLE, Adapter, Unsupported

FOLDER = "artifacts"


def location() -> str | None:
    """For the environment: where artifacts are kept in this process (None: they are not)."""
    return "the run's cache folder (--cache-dir)" if os.environ.get(SHARED_CACHE_VARIABLE) else None


# What an installed package's code is, for a key: its Python sources and native libraries. Headers,
# tests and bytecode caches do not change what it computes, and skipping them keeps the walk to a
# fraction of a second for torch or TensorFlow.
_CODE_SUFFIXES = (".py", ".so", ".pyd", ".dylib")
_NOT_CODE = frozenset({"__pycache__", "include", "tests", "testing"})


@functools.cache
def installed_code(module: str) -> str | None:
    """A digest of the installed files of an importable package (relative path, size and modification
    time of each source and native library), found without importing it; None where it is absent.
    Editing a file of the package, or installing another build of the same version, changes it."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        return None
    h = hashlib.sha256()
    for folder in sorted(spec.submodule_search_locations or ()):
        for path in _code_files(folder):
            _add_file(h, path, folder)
    if not spec.submodule_search_locations and spec.origin:  # a module of one file
        _add_file(h, spec.origin, os.path.dirname(spec.origin))
    return h.hexdigest()


def _code_files(folder: str):
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_CODE)
        yield from (os.path.join(root, n) for n in sorted(files) if n.endswith(_CODE_SUFFIXES) or ".so." in n)


def _add_file(h, path: str, folder: str) -> None:
    try:
        st = os.stat(path)
    except OSError:  # removed while walking: not part of what runs
        return
    h.update(f"{os.path.relpath(path, folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


def digest(*arrays) -> str:
    """A short digest of arrays' dtypes, shapes and bytes, for a key."""
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def made(adapter: Adapter, kind: str, key: Callable[[], dict], make: Callable[[], bytes]) -> bytes:
    """`make()`'s bytes, from the cache when an entry of `kind` has the key `key()` (computed only
    where artifacts are kept: it reads every parameter's bytes). A refusal
    (`Unsupported`) is raised again with its text; the warnings `make()` gave in the adapter's
    `native()` blocks are given again to the adapter."""
    shared = os.environ.get(SHARED_CACHE_VARIABLE)
    if not shared:
        return make()
    name = hashlib.sha256(json.dumps({"kind": kind, **key()}, sort_keys=True, default=str).encode()).hexdigest()
    path = os.path.join(shared, FOLDER, kind, name)
    entry = _read(path)
    if entry is None:
        entry = _make(adapter, make)
        _write(path, entry)
    meta, data = entry
    adapter.keep_warnings(meta["warnings"])
    if "refusal" in meta:
        raise Unsupported(meta["refusal"])
    return data


def _make(adapter: Adapter, make) -> tuple[dict, bytes]:
    earlier = adapter.take_warnings()
    try:
        data, meta = make(), {}
    except Unsupported as exc:
        data, meta = b"", {"refusal": str(exc)}
    meta["warnings"] = adapter.take_warnings()
    adapter.keep_warnings(earlier)
    return meta, data


def _read(path: str) -> tuple[dict, bytes] | None:
    try:
        with open(path, "rb") as f:
            header = f.readline()
            return json.loads(header), f.read()
    except (OSError, ValueError):  # absent, or unreadable: made again
        return None


def _write(path: str, entry: tuple[dict, bytes]) -> None:
    meta, data = entry
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(meta).encode() + b"\n")
            f.write(data)
        os.replace(tmp, path)
    except OSError:  # a full or read-only disk costs the next run the time, not this one its result
        pass
