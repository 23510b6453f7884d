"""Host facts (conformance/run/hostinfo.py) and the environment a worker records.

The parser is checked on literal /proc/cpuinfo texts (with and without AVX-512 and AMX), so these
tests hold on any machine; the worker test checks the shape, not this machine's values.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import fakefw
from conformance.run import hostinfo

TESTS = Path(__file__).resolve().parent

# Two processors of a Sapphire Rapids machine, abridged: the first processor's block is read.
SAPPHIRE_RAPIDS = """\
processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 143
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: fpu vme sse sse2 ssse3 fma avx f16c avx2 avx512f avx512dq avx512cd avx512bw avx512vl \
avx_vnni avx512_bf16 avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg avx512_fp16 amx_bf16 amx_tile amx_int8
bugs		: spectre_v1

processor	: 1
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: fpu
"""
# A Haswell: AVX2, no AVX-512; and a decoy flag set whose names contain the flags' names.
HASWELL = """\
processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) CPU E5-2690 v3 @ 2.60GHz
flags		: fpu sse sse2 avx avx2 fma
"""
DECOYS = """\
vendor_id	: AuthenticAMD
model name	: AMD EPYC 9654
flags		: avx2 avx512f avx512_vnni avx512_bf16 avx512fp16x amx_tilex
"""
# aarch64 Linux: no `flags` line
GRAVITON = """\
processor	: 0
BogoMIPS	: 243.75
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer	: 0x41
"""


def test_cpuinfo_with_avx512_and_amx():
    facts = hostinfo.parse_cpuinfo(SAPPHIRE_RAPIDS)
    assert facts["model"] == "Intel(R) Xeon(R) Platinum 8480+" and facts["vendor"] == "GenuineIntel"
    # Sapphire Rapids has AVX512_FP16 and AMX, but not AMX_FP16 (Granite Rapids) nor AVX_NE_CONVERT
    assert facts["isa"] == {flag: flag not in ("amx_fp16", "avx_ne_convert") for flag in hostinfo.ISA_FLAGS}


def test_cpuinfo_without_avx512():
    facts = hostinfo.parse_cpuinfo(HASWELL)
    assert facts["model"] == "Intel(R) Xeon(R) CPU E5-2690 v3 @ 2.60GHz"
    assert facts["isa"] == {"avx2": True, "avx512f": False, "avx512bw": False, "avx512_bf16": False,
                            "avx512_fp16": False, "avx512_vnni": False, "avx_vnni": False,
                            "avx_ne_convert": False, "amx_tile": False, "amx_bf16": False, "amx_fp16": False,
                            "amx_int8": False}


def test_flags_are_whole_words():
    isa = hostinfo.parse_cpuinfo(DECOYS)["isa"]
    assert (isa["avx512_vnni"], isa["avx_vnni"], isa["avx512_fp16"], isa["amx_tile"]) == (True, False, False, False)
    assert isa["avx512f"] and isa["avx512_bf16"]


def test_no_flags_line_means_unknown_not_absent():
    assert hostinfo.parse_cpuinfo(GRAVITON)["isa"] == {flag: None for flag in hostinfo.ISA_FLAGS}
    assert hostinfo.parse_cpuinfo("")["isa"] == {flag: None for flag in hostinfo.ISA_FLAGS}


@pytest.mark.parametrize("machine, text, expected", [
    ("x86_64", HASWELL, {"avx2": True, "avx512f": False}),
    ("x86_64", "", {"avx2": None, "avx512f": None}),  # unreadable: unknown
    ("aarch64", GRAVITON, {"avx2": False, "avx512f": False}),  # not x86: none of the x86 extensions
])
def test_cpu_facts_on_linux(monkeypatch, machine, text, expected):
    monkeypatch.setattr(hostinfo.sys, "platform", "linux")
    monkeypatch.setattr(hostinfo.platform, "machine", lambda: machine)
    monkeypatch.setattr(hostinfo, "_read", lambda path: text if path == "/proc/cpuinfo" else None)
    isa = hostinfo.cpu_facts()["isa"]
    assert {k: isa[k] for k in expected} == expected and set(isa) == set(hostinfo.ISA_FLAGS)


def test_process_variables_lists_only_those_set():
    environ = {"OMP_NUM_THREADS": "1", "TF_ENABLE_ONEDNN_OPTS": "0", "XLA_FLAGS": "--xla_cpu_use_thunk_runtime=false",
               "HOME": "/root", "PATH": "/bin"}
    assert hostinfo.process_variables(environ) == {"OMP_NUM_THREADS": "1", "TF_ENABLE_ONEDNN_OPTS": "0",
                                                   "XLA_FLAGS": "--xla_cpu_use_thunk_runtime=false"}
    assert hostinfo.process_variables({}) == {}


def test_nvidia_driver(monkeypatch):
    text = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build  "
            "(dvs-builder@U16-I3-C04-3-1)  Thu Jan 16 08:07:50 UTC 2025\nGCC version:  gcc version 12.2.0\n")
    monkeypatch.setattr(hostinfo, "_read", lambda path: text if path == hostinfo.NVIDIA_DRIVER_FILE else None)
    assert hostinfo.nvidia_driver() == "570.86.15"
    monkeypatch.setattr(hostinfo, "_read", lambda path: None)
    assert hostinfo.nvidia_driver() is None


def test_numpy_blas(monkeypatch):
    import numpy

    config = {"Build Dependencies": {"blas": {"name": "scipy-openblas", "version": "0.3.27", "found": True,
                                              "openblas configuration": "OpenBLAS 0.3.27  DYNAMIC_ARCH Haswell"}},
              "SIMD Extensions": {"baseline": ["SSE3"], "found": ["AVX2"], "not found": ["AVX512_SPR"]}}
    monkeypatch.setattr(numpy, "show_config", lambda mode=None: config)
    assert hostinfo.numpy_blas() == {"name": "scipy-openblas", "version": "0.3.27",
                                     "configuration": "OpenBLAS 0.3.27 DYNAMIC_ARCH Haswell",
                                     "numpy_simd": ["SSE3", "AVX2"]}

    def old_numpy(mode=None):  # numpy < 1.26 has no `mode`
        raise TypeError("show_config() got an unexpected keyword argument 'mode'")
    monkeypatch.setattr(numpy, "show_config", old_numpy)
    assert hostinfo.numpy_blas() is None


def test_host_environment_keeps_its_keys_and_adds_the_cpu():
    from conformance.run.environment import host_environment

    env = host_environment()
    assert {"python", "platform", "machine", "numpy", "cpu_count", "cpu", "blas"} <= set(env)
    assert set(env["cpu"]) == {"model", "vendor", "isa"} and set(env["cpu"]["isa"]) == set(hostinfo.ISA_FLAGS)
    assert all(v is None or isinstance(v, bool) for v in env["cpu"]["isa"].values())


@pytest.mark.parametrize("user_threads", [None, "3"])
def test_a_worker_records_the_variables_it_runs_with(monkeypatch, user_threads):
    """The workers start with OMP_NUM_THREADS=1 unless the user set it (worker_process.WORKER_ENVIRONMENT):
    the framework's section says which, as the worker saw it."""
    from conformance.run.pool import WorkerPool
    from conformance.run.environment import framework_section

    fakefw.enable(monkeypatch)  # read by the spawned worker
    if user_threads is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", user_threads)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    with WorkerPool(["fakefw"], timeout=60) as pool:
        section = framework_section(pool.start()["fakefw"])  # as selection.plan_targets records it
    assert section["variables"]["OMP_NUM_THREADS"] == (user_threads or "1")
    assert section["variables"]["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert section["version"] == "0.0-fake" and section["started_with"]["OMP_NUM_THREADS"] == (user_threads or "1")
