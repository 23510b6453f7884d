"""Target names and the `--targets` selection.

A target is named `api@device`, as the results, the report and the terminal print it: `tf.nn@cpu`,
`torch.functional@gpu`. `--targets GLOB[,GLOB]` (pytest: `--conformance-targets`) keeps the targets
whose name matches one of the globs (`'torch.*'`, `'*@cpu'`, `keras.layer@gpu`).
"""
from __future__ import annotations

import fnmatch

from conformance import adapters
from conformance.errors import UsageError
from conformance.run.standalone import hellos, start_failure
from conformance.spec import frameworks

DEVICES = ("cpu", "gpu")


def target_name(api: str, device: str) -> str:
    return f"{api}@{device}"


def api_devices(api: str) -> tuple[str, ...]:
    """The devices an API exists on (its declaration's: oneDNN switches, CPU interpreters exist on the CPU only)."""
    return frameworks.api_devices(api)


def possible_targets(kinds=None) -> list[str]:
    """Every target name the frameworks (default: all known ones) could have, installed or not."""
    return [target_name(api, device) for fw in kinds or frameworks.kinds()
            for api in frameworks.kind_apis(fw) for device in api_devices(api)]


def selected(name: str, globs) -> bool:
    """Whether the target `name` is selected: no globs select everything."""
    return not globs or any(fnmatch.fnmatchcase(name, g) for g in globs)


def check_possible(globs, option: str = "--targets") -> None:
    """Each glob must match some target that exists in principle (a typo is caught before anything
    starts); whether one matches a target this machine has is `check_available`'s question."""
    names = possible_targets()
    for glob in globs or ():
        if not glob or not any(fnmatch.fnmatchcase(n, glob) for n in names):
            raise UsageError(f"{option} {glob!r} matches no target; targets are named api@device, e.g. "
                             f"tf.nn@cpu, 'torch.*', '*@cpu'; known: {', '.join(names)}")


def check_available(globs, available, option: str = "--targets") -> None:
    """Each glob must match one of the `available` target names (those this run can have)."""
    for glob in globs or ():
        if not any(fnmatch.fnmatchcase(n, glob) for n in available):
            listed = ", ".join(sorted(available)) or "none"
            raise UsageError(f"{option} {glob!r} matches no available target; available here: {listed}")


def frameworks_for(globs, frameworks) -> list[str]:
    """The frameworks that have a target the globs select (no need to start the others)."""
    return [fw for fw in frameworks if any(selected(n, globs) for n in possible_targets([fw]))]


def skip_selected(skip: dict, globs) -> bool:
    """Whether a skip record (`selection.targets_for`: an API not installed, a device not visible)
    concerns a target that the globs select: the others are not news to this run."""
    framework, api, device = skip.get("framework"), skip.get("target"), skip.get("device")
    apis = [api] if api else frameworks.kind_apis(framework)
    devices = [device] if device else api_devices(api) if api else DEVICES
    return any(selected(target_name(a, d), globs) for a in apis for d in devices)


def availability(kinds=None) -> list[tuple[str, str, str]]:
    """(target name, framework, state) for every target of the frameworks (default: all known ones):
    'available', or why not. Whether a framework sees a GPU only its own process can tell: each
    installed framework starts a worker (as a run does) to say which devices it sees."""
    kinds = list(kinds or frameworks.kinds())
    installed = [fw for fw in kinds if not adapters.missing_packages(fw)]
    infos = hellos(installed, jobs=max(1, len(installed)))
    rows = []
    for fw in kinds:
        info = infos.get(fw, {})
        failure = start_failure(fw, info)
        for api in frameworks.kind_apis(fw):
            missing = adapters.missing_packages(fw, api)
            for device in api_devices(api):
                if missing:
                    state = f"not installed (missing: {', '.join(missing)})"
                elif failure:
                    state = failure
                elif device not in info.get("devices", ()):
                    state = f"no {device} visible to {fw}"
                else:
                    state = "available"
                rows.append((target_name(api, device), fw, state))
    return rows
