"""`conformance repro`: a standalone script that reproduces one unit's oracle-check records exactly.

The unit (case, target, dtype, precision profile) runs in a worker of its kind, as in a run
(check/reproduce.py there); the parent assembles the script from what the worker sent (script.py,
with the comparison of runtime.py), writes it, and with --check runs it and compares its verdicts
with the unit's records (verify.py). The command: command.py. No module here imports a framework.
"""
from __future__ import annotations

import shlex


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
