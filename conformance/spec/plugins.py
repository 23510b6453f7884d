"""Targets declared outside the suite, through the entry point group `conv_conformance.targets`
(as pytest finds its plugins through `pytest11`), and the checks every declaration passes.

A distribution declares, in its pyproject.toml,

    [project.entry-points."conv_conformance.targets"]
    myfw = "myfw_conformance:TARGETS"

where `TARGETS` is a list of `conformance.spec.declaration.Declaration`, each naming its kind's adapter
and its path class as "module:Class" (docs/architecture.md has the whole recipe). Every process of a run, the workers included, reads the same entry points, so a
plugin's targets are everywhere the suite's are. What is wrong with a plugin is a `UsageError` of
one line naming its entry point: the CLI prints it and exits 2.
"""
from __future__ import annotations

import importlib.metadata
import re

from conformance.errors import UsageError
from conformance.spec.declaration import DEVICES, KERAS_BACKEND_NAMES, Declaration

ENTRY_POINT_GROUP = "conv_conformance.targets"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # an API or kind name: a word of ids and globs
ADAPTER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # module:Class


def plugin_declarations(builtin) -> tuple[Declaration, ...]:
    """Every declaration the installed plugins' entry points give, in entry point order; none may
    take a name of the suite's own (`builtin`)."""
    found = []
    for point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        where = _where(point)
        try:
            loaded = point.load()
        except Exception as exc:  # noqa: BLE001 - whatever the plugin's import raised is what is wrong
            raise UsageError(f"{where} failed to load: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
        if not isinstance(loaded, (list, tuple)) or not all(isinstance(d, Declaration) for d in loaded):
            raise UsageError(f"{where} gives {_kind_of_value(loaded)}; it must give a list of "
                             f"Declaration (from conformance.spec.frameworks import Declaration)")
        for declaration in loaded:
            problem = declaration_problem(declaration)
            if problem:
                raise UsageError(f"{where}: target {declaration.api!r}: {problem}")
        found += [(where, d) for d in loaded]
    _check_plugins_against_builtin(found, builtin)
    return tuple(d for _, d in found)


def check_declarations(declarations) -> None:
    """Every API is declared once, and the declarations of one kind agree on its adapter and variables."""
    seen: dict[str, Declaration] = {}
    first_of_kind: dict[str, Declaration] = {}
    for d in declarations:
        if d.api in seen:
            raise UsageError(f"target {d.api!r} is declared twice (kinds {seen[d.api].kind!r} and {d.kind!r}); "
                             f"each API name is declared once")
        seen[d.api] = d
        first = first_of_kind.setdefault(d.kind, d)
        for name in ("adapter", "variables"):
            if getattr(d, name) != getattr(first, name):
                raise UsageError(f"target {d.api!r} of kind {d.kind!r} gives {name} {getattr(d, name)!r}, but "
                                 f"{first.api!r} of that kind gives {getattr(first, name)!r}; a kind has one")


def declaration_problem(d: Declaration) -> str | None:
    """What is wrong with one declaration's fields, or None."""
    if not isinstance(d.api, str) or not NAME.match(d.api) or "@" in d.api:
        return "api must be a name of letters, digits, '.', '_' and '-' (its targets are api@device)"
    if not isinstance(d.kind, str) or not NAME.match(d.kind):
        return f"kind {d.kind!r} must be a name of letters, digits, '.', '_' and '-'"
    if not isinstance(d.adapter, str) or not ADAPTER.match(d.adapter):
        return f"adapter {d.adapter!r} must be 'module:Class'"
    if not isinstance(d.path, str) or (d.path and not ADAPTER.match(d.path)):
        return f"path {d.path!r} must be 'module:Class' (a conformance.adapters.path.Path subclass) or empty"
    for name in ("packages", "versions"):
        value = getattr(d, name)
        if not isinstance(value, (tuple, list)) or not all(isinstance(p, str) and p for p in value):
            return f"{name} must be a tuple of import names, got {value!r}"
    if not d.packages:
        return "packages must name at least the framework's import name (the first is the kind's framework)"
    if not isinstance(d.devices, (tuple, list)) or not d.devices or not set(d.devices) <= set(DEVICES):
        return f"devices {d.devices!r} must be a non-empty tuple of {', '.join(DEVICES)}"
    if not isinstance(d.forward_only, bool):
        return f"forward_only must be True or False, got {d.forward_only!r}"
    if not isinstance(d.variables, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in d.variables.items()):
        return f"variables must be a dict of names to string values, got {d.variables!r}"
    if d.keras_backend is not None and d.keras_backend not in KERAS_BACKEND_NAMES:
        return f"keras_backend {d.keras_backend!r} must be None or one of {', '.join(KERAS_BACKEND_NAMES)}"
    return None


def _check_plugins_against_builtin(found, builtin) -> None:
    builtin_apis = {d.api for d in builtin}
    builtin_kinds = {d.kind for d in builtin}
    apis: dict[str, str] = {}
    for where, d in found:
        if d.api in builtin_apis:
            raise UsageError(f"{where}: target {d.api!r} is one of the suite's own; give it another name")
        if d.kind in builtin_kinds:
            raise UsageError(f"{where}: target {d.api!r}: kind {d.kind!r} is one of the suite's own; a plugin "
                             f"declares kinds of its own")
        if d.api in apis:
            raise UsageError(f"{where}: target {d.api!r} is declared by {apis[d.api]} already")
        apis[d.api] = where


def _where(point) -> str:
    dist = getattr(point, "dist", None)
    source = f" of {dist.name} {dist.version}" if dist is not None else ""
    return f"plugin entry point {point.name!r} ({point.value}){source} in group {ENTRY_POINT_GROUP}"


def _kind_of_value(value) -> str:
    return f"a {type(value).__name__}" if not isinstance(value, (list, tuple)) else \
        f"a {type(value).__name__} holding {', '.join(sorted({type(v).__name__ for v in value}))}"
