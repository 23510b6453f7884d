"""What a run selects: frameworks, devices, dtypes, precision profiles and targets, and the targets
each framework's worker can run (from its hello).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from conformance import adapters
from conformance import options
from conformance.errors import UsageError, did_you_mean
from conformance.results.diff import FAILED_TO_START
from conformance.run.environment import framework_section
from conformance.run.targets import (api_devices, check_available, check_possible, frameworks_for, possible_targets, selected,
                                     skip_selected, target_name)
from conformance.spec.case import Case
from conformance.spec.dtypes import DTYPE_NAMES
from conformance.spec import frameworks

DEVICES = ("cpu", "gpu")
PROFILES = ("strict", "defaults")


# ------------------------------------------------------------------------- selection
@dataclass
class Selection:
    """What to run: frameworks (None = every installed one), devices, dtypes, precision profiles."""

    frameworks: list[str] | None = None
    devices: list[str] | None = None  # None: cpu, plus gpu where a framework sees one
    dtypes: list[str] | None = None  # None: each case's own dtypes
    precision: list[str] | None = None  # None: 'defaults' on cpu, both profiles on gpu
    seed: int = options.SEED.default
    timeout: float = options.TIMEOUT.default
    jobs: int | None = None  # requests in flight at once (CPU cores used); None: the CPU count
    relations: bool = options.RELATIONS.default  # also the metamorphic relation checks (conformance/check/relations.py)
    targets: list[str] | None = None  # globs on target names api@device (conformance/run/targets.py)
    retries: int = options.RETRIES.default  # more attempts, each in a fresh worker, for a unit that crashed or errored
    repeat: int = options.REPEAT.default  # attempts of every unit, each in another worker (conformance/run/attempts.py)
    verbose: bool = options.VERBOSE.default  # workers write to this terminal, not to files in the pool's scratch folder
    cache_dir: str | None = None  # the compilers' persistent caches ('none' or None: the run's own folder)
    kernel_logs: int = options.KERNEL_LOGS.default  # failing oneDNN-backed units re-run to log their kernels

    @property
    def shared_cache(self) -> str | None:
        """The folder the workers share their caches in, kept between runs; None: the pool's own."""
        if not self.cache_dir or self.cache_dir.lower() == "none":
            return None
        return os.path.abspath(os.path.expanduser(self.cache_dir))

    def validate(self) -> None:

        if self.jobs is not None and (not isinstance(self.jobs, int) or self.jobs < 1):
            raise UsageError(f"--jobs must be a whole number of at least 1, got {self.jobs}")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise UsageError(f"--retries must be a whole number of at least 0, got {self.retries}")
        if not isinstance(self.repeat, int) or self.repeat < 1:
            raise UsageError(f"--repeat must be a whole number of at least 1, got {self.repeat}")
        if not isinstance(self.kernel_logs, int) or self.kernel_logs < 0:
            raise UsageError(f"--kernel-logs must be a whole number of at least 0, got {self.kernel_logs}")
        check_possible(self.targets)

        if not self.timeout > 0 or self.timeout == float("inf"):  # also refuses nan
            raise UsageError(f"--timeout must be a positive number of seconds, got {self.timeout:g}")
        for name, given, allowed in (("framework", self.frameworks, frameworks.kinds()),
                                     ("device", self.devices, DEVICES), ("dtype", self.dtypes, DTYPE_NAMES),
                                     ("precision profile", self.precision, PROFILES)):
            for value in given or ():
                if value not in allowed:
                    raise UsageError(f"unknown {name} {value!r}{did_you_mean(value, allowed)}; "
                                     f"allowed: {', '.join(allowed)}")


def default_jobs() -> int:
    """The CPU cores this process may use (its affinity, else the CPU count)."""

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_frameworks(selection: Selection) -> tuple[list[str], list[dict]]:
    """Frameworks to run, and the visible skips. A requested framework that is missing is an error.
    Without --frameworks, --targets leaves out the frameworks it selects no target of."""

    skipped = []
    if selection.frameworks:
        for name in selection.frameworks:
            missing = adapters.missing_packages(name)
            if missing:
                raise UsageError(f"framework {name!r} was requested but is not installed (missing: "
                                 f"{', '.join(missing)}); install it with: pip install 'conv-conformance[{name}]'")
        return list(selection.frameworks), skipped
    chosen = []
    for name in frameworks_for(selection.targets, frameworks.kinds()):
        missing = adapters.missing_packages(name)
        if missing:
            skipped.append({"framework": name, "reason": f"not installed (missing: {', '.join(missing)})"})
        else:
            chosen.append(name)
    return chosen, skipped


def targets_for(framework: str, info: dict, selection: Selection) -> tuple[list[tuple], list[dict]]:
    """(api, device, profile) triples for a framework whose worker reported `info`, and the skips;
    --targets is applied by `plan_targets`."""
    skipped = []
    available = info.get("devices", ["cpu"])
    wanted = selection.devices or DEVICES
    devices = [d for d in wanted if d in available]
    for d in wanted:  # a device none of the kind's APIs exists on (oneDNN on a GPU) is no news
        if d not in available and any(d in api_devices(api) for api in frameworks.kind_apis(framework)):
            skipped.append({"framework": framework, "device": d, "reason": f"no {d} visible to {framework}"})
    triples = []
    broken = info.get("start_errors") or {}
    for api in frameworks.kind_apis(framework):
        missing = adapters.missing_packages(framework, api)
        if missing:
            skipped.append({"framework": framework, "target": api, "reason": f"not installed (missing: {', '.join(missing)})"})
            continue
        if api in broken:  # installed but broken: a failed start, which fails the run (cli.py `_start_failures`)
            skipped.append({"framework": framework, "target": api, "reason": f"{FAILED_TO_START}{broken[api]}"})
            continue
        for device in [d for d in devices if d in api_devices(api)]:
            profiles = selection.precision or (["defaults"] if device == "cpu" else list(PROFILES))
            if device == "cpu":  # the profiles differ on GPUs, and on CPUs whose kind says they do
                cpu = info.get("cpu_profiles", ["defaults"])
                profiles = [p for p in (selection.precision or PROFILES) if p in cpu] if len(cpu) > 1 else profiles[-1:]
            triples.extend((api, device, p) for p in profiles)
    return triples, skipped


def plan_targets(infos: dict, selection: Selection) -> tuple[dict, dict, list[dict]]:
    """From the workers' hello (`WorkerPool.start`): the (api, device, profile) triples per framework,
    the frameworks' environment records, and the skips (a framework that failed to start, a device
    or an API it lacks)."""

    plan, environment, skipped, available = {}, {}, [], set()
    for name, info in infos.items():
        if "fatal" in info:  # its targets count as there, so that --targets shows the failure, not a usage error
            available.update(possible_targets([name]))
            skipped.append({"framework": name, "reason": f"{FAILED_TO_START}{info['fatal']}"})
            environment[name] = {"error": info["fatal"]}
            continue
        environment[name] = framework_section(info)
        triples, skips = targets_for(name, info, selection)
        skipped.extend(s for s in skips if skip_selected(s, selection.targets))
        available.update(target_name(api, device) for api, device, _ in triples)
        available.update(target_name(s["target"], device) for s in skips  # so --targets shows the failure
                         if s.get("target") and s["reason"].startswith(FAILED_TO_START) for device in api_devices(s["target"]))
        triples = [t for t in triples if selected(target_name(t[0], t[1]), selection.targets)]
        if triples:
            plan[name] = triples
    check_available(selection.targets, available)
    return plan, environment, skipped


def dtypes_for(case: Case, selection: Selection) -> list[str]:
    return [d for d in case.dtypes if not selection.dtypes or d in selection.dtypes]
