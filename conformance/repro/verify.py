"""`conformance repro --check`: run the written script in a subprocess and compare its verdict on each
check with the unit's record from the same `conformance repro` run.

A record's status and the script's verdicts that reproduce it (runtime.py says what each verdict
means): `known` records before the known differences are applied are TF32's alone (evaluate.py);
a refusal may show as a refusal of the target (unsupported) or as the framework's exception (raised),
which the script cannot tell apart from a failure, as the adapter's list of refusals can.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conformance.repro.script import UnitRun
from conformance.results.records import Result
from conformance.run.worker_process import WORKER_ENVIRONMENT

REPRODUCED_BY = {"pass": ("pass",), "fail": ("fail",), "known": ("tf32",), "unsupported": ("unsupported", "raised"),
                 "error": ("raised",)}
VERDICT = re.compile(r"^(\w+): (pass|fail|tf32|unsupported|raised) \((.*)\)$")
RATIO = re.compile(r"^ratio (\S+)")


def check_script(path: Path, run: UnitRun, timeout: float) -> int:
    """0 when the script's verdict on every check reproduces the unit's record, else 1; one line each."""
    env = {**{k: v for k, v in WORKER_ENVIRONMENT.items() if k not in os.environ}, **os.environ}
    try:
        proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        print(f"not reproduced: {path} ran past the timeout of {timeout:g} s (--timeout)")
        return 1
    verdicts = {}
    for line in proc.stdout.splitlines():
        match = VERDICT.match(line)
        if match:
            verdicts[match.group(1)] = (match.group(2), match.group(3))
    ok = True
    for r in run.records:
        line, same = compare_line(r, verdicts.get(r.check))
        print(line)
        ok = ok and same
    if proc.returncode not in (0, 1, 2):
        ok = False
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
        print(f"not reproduced: the script exited {proc.returncode}:", *tail, sep="\n  ")
    elif len(verdicts) < len(run.records) and proc.stderr.strip():
        print("the script's stderr ended with:", *proc.stderr.strip().splitlines()[-12:], sep="\n  ")
    return 0 if ok else 1


def compare_line(r: Result, verdict) -> tuple[str, bool]:
    """The line that says whether the script's verdict on `r`'s check reproduces `r`."""
    ours = f"{r.status}" + (f" (ratio {r.error_ratio:.3g})" if isinstance(r.error_ratio, (int, float)) else "")
    if verdict is None:
        return f"not reproduced: {r.check}: the script printed no verdict; the suite's record: {ours}", False
    word, detail = verdict
    if word not in REPRODUCED_BY.get(r.status, ()):
        return (f"not reproduced: {r.check}: the script says {word} ({detail}); the suite's record: {ours}: "
                f"{r.message}"), False
    ratio = RATIO.match(detail)
    theirs = f" (ratio {ratio.group(1).rstrip(':')})" if ratio else ""
    return f"reproduced: {r.check} {word}{theirs} as the suite's record ({ours})", True
