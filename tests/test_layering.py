"""The package's layout rules, read from the source (AST), not from a running import.

Layers, lowest first, in the order the data flows; a module imports only from its own layer or
lower ones, lazily or not:

    errors, files, wording -> spec -> options -> adapters, recipes -> results -> check -> run
        -> search, repro, port -> report -> cli, pytest_plugin

Cases and options go in; the adapters compute; the checks write records (results/ holds the record
and the known differences a check applies, and what is made of records, so it sits below check);
the run collects them; explore, repro and port ask the same workers; the report shows all of it.

Adapters know nothing of processes, results, checks or reports; results know nothing of the
adapters; spec imports no other subpackage; a framework is imported only inside the functions of
the adapters' modules; imports sit at module top except the lazy ones (frameworks, hypothesis,
Jinja); no private name (`_x`) is used outside the module that defines it; no module is over 450
lines and no function over 60.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conformance.spec.frameworks import BUILTIN

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"

LAYERS = (
    ("errors", "files", "wording"),
    ("spec", "__init__"),  # the package's own __init__ exports the case model and the loader
    ("options",),  # every option declared once; defaults from spec.library
    ("adapters", "recipes"),  # recipes: what a user writes where a target's own call cannot (conformance port)
    ("results",),  # the records that the checks write, and what is made of them
    ("check",),
    ("run",),
    ("search", "repro", "port"),
    ("report",),  # shows what all of the above made (the porting view quotes repro's command)
    ("cli", "pytest_plugin", "__main__"),
)
RANK = {group: rank for rank, groups in enumerate(LAYERS) for group in groups}
# Every package a target declares (spec/frameworks.py): what it needs, and what decides its numbers.
FRAMEWORK_PACKAGES = {p for d in BUILTIN for p in (*d.packages, *d.versions)}
LAZY_PACKAGES = FRAMEWORK_PACKAGES | {"hypothesis", "jinja2", "markupsafe"}
# Modules that import a lazy package at their top: imported lazily themselves.
LAZY_MODULES = ("conformance.report.html", "conformance.search.strategies")  # Jinja; hypothesis
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
LONG_LITERALS = {("spec/schema.py", "case_file_schema")}  # the JSON Schema of case files, one literal


class Module:
    def __init__(self, path: Path, root: Path):
        self.rel = path.relative_to(root).as_posix()
        parts = path.relative_to(root).with_suffix("").parts
        self.group = parts[0]
        self.text = path.read_text(encoding="utf-8")
        self.tree = ast.parse(self.text, filename=str(path))

    def imports(self) -> list[tuple[int, str, bool]]:
        """(line, imported module or module.name, inside a function) for every import."""
        out = []

        def visit(node, in_function):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import):
                    out.extend((child.lineno, a.name, in_function) for a in child.names)
                elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                    out.extend((child.lineno, f"{child.module}.{a.name}", in_function) for a in child.names)
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        visit(self.tree, False)
        return out

    def where(self, line: int) -> str:
        return f"conformance/{self.rel}:{line}"


def read_package(root: Path = PACKAGE) -> list[Module]:
    return [Module(p, root) for p in sorted(root.rglob("*.py"))]


def group_of(imported: str) -> str | None:
    """The layer group of an imported `conformance.x.y[.name]`; None outside the package."""
    parts = imported.split(".")
    if parts[0] != "conformance":
        return None
    if len(parts) == 1 or parts[1] not in RANK:  # `import conformance`, `from conformance import __version__`
        return "__init__"
    return parts[1]


def conformance_imports(module: Module):
    for line, imported, _ in module.imports():
        group = group_of(imported)
        if group is not None:
            yield line, imported, group


# ------------------------------------------------------------------------- the rules
def unplaced(mods) -> list[str]:
    return [f"conformance/{m.rel}: in no layer" for m in mods if m.group not in RANK]


def upward_imports(mods) -> list[str]:
    return [f"{m.where(line)}: {m.group} imports {imported} ({group}, a higher layer)"
            for m in mods if m.group in RANK for line, imported, group in conformance_imports(m)
            if RANK[group] > RANK[m.group]]


ALLOWED = {
    "adapters": {"errors", "files", "wording", "spec", "__init__", "adapters"},  # no run, results, check, search, report
    "recipes": {"errors", "files", "wording", "spec", "__init__", "adapters", "recipes"},
    "results": {"errors", "files", "wording", "spec", "__init__", "options", "results"},  # no adapters, recipes
    "spec": {"errors", "files", "wording", "spec", "__init__"},
}


def forbidden_imports(mods, group: str) -> list[str]:
    return [f"{m.where(line)}: {group} imports {imported}" for m in mods if m.group == group
            for line, imported, imported_group in conformance_imports(m) if imported_group not in ALLOWED[group]]


def framework_imports(mods) -> list[str]:
    return [f"{m.where(line)}: imports {imported}" + ("" if inside else " at module top")
            for m in mods for line, imported, inside in m.imports()
            if imported.split(".")[0] in FRAMEWORK_PACKAGES and not (inside and m.group == "adapters")]


def function_imports(mods) -> list[str]:
    return [f"{m.where(line)}: imports {imported} inside a function"
            for m in mods for line, imported, inside in m.imports()
            if inside and imported.split(".")[0] not in LAZY_PACKAGES and not imported.startswith(LAZY_MODULES)]


def private_definitions(module: Module) -> set[str]:
    """Private names a module defines: functions, classes, variables, arguments, attributes it sets."""
    names = set()
    for node in ast.walk(module.tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_uses(mods) -> list[str]:
    """`from conformance.x import _y`, `x._y` on an imported conformance module, and `obj._y` where
    only another module of the package defines `_y` (a private method called from outside)."""
    defined = {m.rel: private_definitions(m) for m in mods}
    definers: dict[str, list[str]] = {}
    for rel, names in defined.items():
        for n in names:
            definers.setdefault(n, []).append(rel)
    bad = []
    for m in mods:
        aliases = set()
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("conformance"):
                bad += [f"{m.where(node.lineno)}: from {node.module} import {a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
                aliases.update(a.asname or a.name for a in node.names)
            elif isinstance(node, ast.Import):
                aliases.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("conformance"))
        for node in ast.walk(m.tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in aliases:
                bad.append(f"{m.where(node.lineno)}: {ast.unparse(node)}")
            elif node.attr not in defined[m.rel] and node.attr in definers:
                bad.append(f"{m.where(node.lineno)}: {ast.unparse(node)} (defined in {', '.join(definers[node.attr])})")
    return bad


def long_modules(mods) -> list[str]:
    return [f"conformance/{m.rel}: {len(m.text.splitlines())} lines" for m in mods
            if len(m.text.splitlines()) > MAX_MODULE_LINES]


def long_functions(mods) -> list[str]:
    return [f"{m.where(node.lineno)}: {node.name} has {node.end_lineno - node.lineno + 1} lines"
            for m in mods for node in ast.walk(m.tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (m.rel, node.name) not in LONG_LITERALS
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


RULES = {
    "every module has a layer": unplaced,
    "lower layers never import higher ones": upward_imports,
    "adapters import nothing from run, results, check, search, report": lambda mods: forbidden_imports(mods, "adapters"),
    "spec imports no other subpackage": lambda mods: forbidden_imports(mods, "spec"),
    "recipes import only the adapters and lower layers": lambda mods: forbidden_imports(mods, "recipes"),
    "results import nothing from the adapters or recipes": lambda mods: forbidden_imports(mods, "results"),
    "frameworks are imported only inside the adapters' functions": framework_imports,
    "imports are at module top, except frameworks, hypothesis and Jinja": function_imports,
    "no private name is used outside its module": private_uses,
    f"no module is over {MAX_MODULE_LINES} lines": long_modules,
    f"no function is over {MAX_FUNCTION_LINES} lines": long_functions,
}


@pytest.mark.parametrize("rule", list(RULES))
def test_the_package_follows_the_rule(rule):
    bad = RULES[rule](read_package())
    assert not bad, f"{rule}:\n" + "\n".join(bad)


BROKEN = {  # a package that breaks every rule once (each rule must be able to fail)
    "stray.py": "",
    "adapters/__init__.py": ("import torch\nfrom conformance.run.worker import SCRATCH\n"
                             "from conformance.check import oracle\n\n\n"
                             "def f(pool):\n    import os\n    return os, oracle._pad, pool._spawn\n"),
    "recipes/__init__.py": "from conformance.run.pool import WorkerPool\n",
    "results/__init__.py": "from conformance.adapters.base import Target\n",
    "spec/__init__.py": ("from conformance.results.records import Result\nfrom conformance.check.oracle import _pad\n\n\n"
                         "class P:\n    def _spawn(self):\n        pass\n\n\n"
                         "def g():\n" + "    x = 1\n" * 61 + "\n" * 400),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_the_rule_catches_what_it_forbids(rule, tmp_path):
    for name, text in BROKEN.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert RULES[rule](read_package(tmp_path))
