"""The run environment a results file records, and the `when:` of known differences read:
`{"host": ..., "frameworks": {kind: section}}`.

The host's part is the same in every process of the machine (`host_environment`). A framework's
section is its worker's: the adapter's facts (version, devices, precision settings) and the
variables that process runs with (`hostinfo.process_variables`), which a worker may start with
settings of its own (`worker_process.WORKER_ENVIRONMENT`). A worker assembles its section once, in
its hello (`adapter_info`); the parent only reads those hellos (`framework_section`).
"""
from __future__ import annotations

import json
import os
import platform
import sys

import numpy

from conformance.run.hostinfo import host_facts, process_variables


def host_environment() -> dict:
    """The machine's facts (the same in the parent and every worker): python, platform, numpy,
    cpu_count, and from `hostinfo` the CPU with its ISA flags, numpy's BLAS and the NVIDIA driver.
    The variables a process ran with are per process: each framework's section has its worker's."""
    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "numpy": numpy.__version__, "cpu_count": os.cpu_count(), **host_facts()}


def worker_environment(adapter) -> dict:
    """A framework's section of the environment, as the process that loaded `adapter` sees it: the
    adapter's facts and the thread and kernel-selection variables this process runs with."""
    return {**adapter.environment(), "variables": process_variables()}


def adapter_info(adapter) -> dict:
    """What a worker says of its framework in its hello: version, devices, environment section, the
    APIs whose own installed packages fail to import (`Adapter.start_errors`), and the precision
    profiles that differ on its CPU (`Adapter.cpu_profiles`).

    Plain JSON types only: a framework's own type in here (torch.__version__ is a TorchVersion, a str
    subclass) is pickled with its module, and unpickling it would import all of PyTorch into the
    parent (seconds, and loggers that pytest then visits on every test phase)."""
    info = {"version": adapter.version(), "devices": adapter.devices(), "environment": worker_environment(adapter),
            "start_errors": adapter.start_errors(), "cpu_profiles": list(adapter.cpu_profiles())}
    return json.loads(json.dumps(info, default=str))


def framework_section(info: dict) -> dict:
    """A framework's section of the run environment, from its worker's hello `info` (`adapter_info`)."""
    return {"version": info["version"], "devices": info["devices"], **info["environment"]}


def local_environment(framework: str, info: dict) -> dict:
    """The run environment of one framework, `{"host", "frameworks": {framework: section}}`, as a
    run records it."""
    return {"host": host_environment(), "frameworks": {framework: framework_section(info)}}


def adapter_run_environment(adapter) -> dict:
    """`local_environment` of an adapter loaded in this process (explore and faults run in-process)."""
    return local_environment(adapter.name, adapter_info(adapter))
