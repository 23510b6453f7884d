"""Host facts that change which kernels a framework picks, and so its numbers: the CPU and its ISA
extensions, numpy's BLAS, the NVIDIA driver, and the thread and kernel-selection variables.

The ISA flags are booleans where they were read (Linux /proc/cpuinfo; macOS sysctl for the flags it
names) and None where they could not be: a missing fact is recorded as unknown, never guessed.
On a CPU that is not x86 they are False: these are x86 extensions.

`process_variables()` describes the process that calls it. The parent of a run computes nothing;
each framework worker records its own in its hello (`environment.adapter_info`), as workers may
start with settings of their own (`worker_process.WORKER_ENVIRONMENT`, e.g. OMP_NUM_THREADS=1
unless the user set it).
"""
from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys

import numpy

from conformance.spec import frameworks

# avx512bw, amx_fp16 and avx_ne_convert decide whether TensorFlow hands float16/bfloat16 to oneDNN
# (IsDataTypeSupportedByOneDNNOnThisCPU, tensorflow/core/util/util.cc).
ISA_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni",
             "avx_ne_convert", "amx_tile", "amx_bf16", "amx_fp16", "amx_int8")
# macOS sysctl spells the few flags it reports on Intel Macs in upper case without underscores; the
# others stay unknown there rather than being inferred from the model.
MACOS_FLAGS = {"avx2": "AVX2", "avx512f": "AVX512F", "avx512_vnni": "AVX512VNNI"}
X86_MACHINES = ("x86_64", "amd64", "i386", "i686", "x86")

# Variables that set thread counts or select kernels, recorded when set (never their absence), with
# those the targets' declarations set (`declared_variables`).
VARIABLES = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "VECLIB_MAXIMUM_THREADS",
    "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "MKL_DEBUG_CPU_TYPE", "KMP_AFFINITY", "KMP_BLOCKTIME",
    "ATEN_CPU_CAPABILITY", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
    "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
    "ONEDNN_DEFAULT_FPMATH_MODE", "DNNL_DEFAULT_FPMATH_MODE", "NVIDIA_TF32_OVERRIDE", "CUBLAS_WORKSPACE_CONFIG",
    "CUDA_VISIBLE_DEVICES", "XLA_FLAGS", "TF_XLA_FLAGS", "JAX_PLATFORMS", "JAX_ENABLE_X64",
    "JAX_DEFAULT_MATMUL_PRECISION",
)
NVIDIA_DRIVER_FILE = "/proc/driver/nvidia/version"


@functools.lru_cache(maxsize=1)
def host_facts() -> dict:
    """The facts of this machine (the same in every process of it): cpu, blas, nvidia_driver."""
    facts = {"cpu": cpu_facts(), "blas": numpy_blas()}
    driver = nvidia_driver()
    if driver is not None:
        facts["nvidia_driver"] = driver
    return facts


def process_variables(environ=None) -> dict:
    """The thread and kernel-selection variables set in this process (`VARIABLES`, `declared_variables`),
    name -> value."""
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in VARIABLES + declared_variables() if name in environ}


def declared_variables() -> tuple[str, ...]:
    """The variables some target's declaration sets: its kind's (`TF_ENABLE_ONEDNN_OPTS`), and
    KERAS_BACKEND where a path runs Keras."""
    found = [name for d in frameworks.declarations() for name in d.variables]
    found += ["KERAS_BACKEND"] if any(d.keras_backend for d in frameworks.declarations()) else []
    return tuple(name for name in dict.fromkeys(found) if name not in VARIABLES)


# ------------------------------------------------------------------------- the CPU
def cpu_facts() -> dict:
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        facts = parse_cpuinfo(_read("/proc/cpuinfo") or "")
    elif sys.platform == "darwin":
        facts = _macos_cpu()
    else:
        facts = {"model": platform.processor() or None, "vendor": None, "isa": unknown_isa()}
    if machine and machine not in X86_MACHINES:
        facts["isa"] = {flag: False for flag in ISA_FLAGS}
    return facts


def parse_cpuinfo(text: str) -> dict:
    """Model, vendor and ISA flags from the text of Linux's /proc/cpuinfo (its first processor).

    Without a `flags` line (not x86, or the file could not be read) the flags are unknown (None)."""
    fields: dict = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:  # the first processor's block is enough: every core reports the same
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or fields.get("Model") or fields.get("cpu model") or None
    vendor = fields.get("vendor_id") or fields.get("CPU implementer") or None
    if "flags" not in fields:
        return {"model": model, "vendor": vendor, "isa": unknown_isa()}
    present = set(fields["flags"].split())
    return {"model": model, "vendor": vendor, "isa": {flag: flag in present for flag in ISA_FLAGS}}


def unknown_isa() -> dict:
    return {flag: None for flag in ISA_FLAGS}


def _macos_cpu() -> dict:
    model = _sysctl("machdep.cpu.brand_string")
    vendor = _sysctl("machdep.cpu.vendor")
    features = _sysctl("machdep.cpu.features")
    isa = unknown_isa()
    if features is not None:
        present = set((features + " " + (_sysctl("machdep.cpu.leaf7_features") or "")).split())
        isa.update({flag: name in present for flag, name in MACOS_FLAGS.items()})
    return {"model": model, "vendor": vendor, "isa": isa}


def _sysctl(name: str) -> str | None:
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


# ------------------------------------------------------------------------- libraries and drivers
def numpy_blas() -> dict | None:
    """numpy's BLAS (the oracle's matrix products): name, version, and OpenBLAS's configuration,
    which names the core type it chose for this CPU. None where numpy cannot say (numpy < 1.26)."""
    try:
        config = numpy.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    out = {"name": blas.get("name"), "version": blas.get("version")}
    if blas.get("openblas configuration"):
        out["configuration"] = " ".join(str(blas["openblas configuration"]).split())
    simd = config.get("SIMD Extensions", {})
    if isinstance(simd, dict) and "found" in simd:
        out["numpy_simd"] = list(simd.get("baseline", [])) + list(simd.get("found", []))
    return out


def nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version (Linux), e.g. '550.54.15'; None without one."""
    text = _read(NVIDIA_DRIVER_FILE)
    if not text:
        return None
    for word in text.split():
        parts = word.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts):
            return word
    return None
