"""`conformance repro`: a standalone script that reproduces one unit's oracle-check records exactly.

The unit (case, target, dtype, precision profile) runs in a worker of its kind, as in a run
(check/reproduce.py there); the parent assembles the script from what the worker sent (script.py,
with the comparison of runtime.py), writes it, and with --check runs it and compares its verdicts
with the unit's records (verify.py). The command: command.py. No module here imports a framework.
"""
from __future__ import annotations

import shlex
from pathlib import Path

from conformance.spec.library import library_folder


def command_line(case_id: str, target: str, dtype: str, *, profile: str = "defaults", seed: int = 0,
                 cases: list[str] | None = None) -> str:
    """The `conformance repro` command of one unit, as a report shows it (`cases`: the case files,
    where they are not the library's)."""
    args = ["conformance", "repro", case_id, "--target", target, "--dtype", dtype]
    if profile != "defaults":
        args += ["--precision", profile]
    if seed:
        args += ["--seed", str(seed)]
    if cases:
        args += ["--cases", *cases]
    return " ".join(shlex.quote(a) for a in args)


def case_files_option(origin: str | None) -> list[str] | None:
    """The `--cases` a printed command needs for a case declared at `origin` ('file:line', as results
    files record it): its file, unless that is in the library (the default of `--cases`)."""
    path = (origin or "").rsplit(":", 1)[0]
    if not path:
        return None
    library = library_folder().resolve()
    if path.startswith("cases/") or library in Path(path).resolve().parents:
        return None
    return [path]
