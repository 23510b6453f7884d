"""The kernels a unit ran, read from oneDNN's verbose log: what a record's `kernels` field holds.

oneDNN prints one line per primitive it creates and executes when `ONEDNN_VERBOSE` is set (`2`:
creation and execution; `1`: execution only), e.g. (oneDNN 3.x)

    onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,forward_training,<memory
    descriptors>,<attributes>,alg:convolution_direct,mb1_ic4oc8_ih12oh12kh3sh1dh0ph1_iw12ow12kw3sw1dw0pw1,0.0168

and oneDNN 2.x (`DNNL_VERBOSE`) `dnnl_verbose,exec,cpu,convolution,jit:avx2,forward_training,...`:
the same fields after the operation (exec or create:...): engine, primitive, implementation,
propagation kind, memory descriptors, attributes, auxiliary, problem, time
(https://oneapi-src.github.io/oneDNN/dev_guide_verbose.html; a timestamp may precede the
operation). A primitive that was created but never executed (a crash inside it: the exec line is
printed after the run) stays in the list, with `executed: false`.

A record's `kernels` is a dict:
    onednn: [{primitive, implementation, propagation, problem, executed}], in the order of first use;
    rerun:  the status of this record's check in the logged re-run (a flaky unit may pass there);
    note:   why the list is empty, or why there is no log.
"""
from __future__ import annotations

MARKERS = ("onednn_verbose", "dnnl_verbose")
# The primitives that compute a convolution (gemm_api: oneDNN's sgemm under TensorFlow's Eigen
# convolutions); the others (reorders of layouts) only move data.
MAIN_PRIMITIVES = ("convolution", "deconvolution", "gemm_api")
NO_ONEDNN = "oneDNN logged no primitive in the re-run: this unit ran no oneDNN kernel"


def _operation_index(fields: list[str]) -> int | None:
    """Where a primitive line's operation (exec, create:...) is, or None for other lines (info, graph)."""
    for i, value in enumerate(fields[1:5], start=1):
        if value == "exec" or value.startswith("create"):
            return i if fields[i - 1] != "graph" else None
    return None


def parse_onednn_verbose(text: str) -> list[dict]:
    """The primitives a oneDNN verbose log names, one entry per (primitive, implementation,
    propagation, problem), in the order of first appearance; `executed` when an exec line names it."""
    entries: dict[tuple, dict] = {}
    for line in text.splitlines():
        fields = line.strip().split(",")
        if fields[0] not in MARKERS:
            continue
        op = _operation_index(fields)
        if op is None or len(fields) < op + 10:
            continue
        primitive, implementation, propagation = fields[op + 2], fields[op + 3], fields[op + 4]
        key = (primitive, implementation, propagation, fields[op + 8])
        entry = entries.setdefault(key, {"primitive": primitive, "implementation": implementation,
                                         "propagation": propagation, "problem": fields[op + 8], "executed": False})
        entry["executed"] = entry["executed"] or fields[op] == "exec"
    return list(entries.values())


def kernels_field(log_text: str | None, rerun_status: str, why_no_log: str | None = None) -> dict:
    """A record's `kernels` from the log of its unit's re-run (None: there is none, `why_no_log`)."""
    if log_text is None:
        return {"onednn": [], "rerun": rerun_status, "note": why_no_log or "no log"}
    used = parse_onednn_verbose(log_text)
    out = {"onednn": used, "rerun": rerun_status}
    if not used:
        out["note"] = NO_ONEDNN
    return out


def kernel_lines(kernels: dict | None) -> list[str]:
    """`kernels` as text, one line per primitive: 'convolution brg_conv_fwd:avx512_core forward_training
    mb1_ic4oc8_...', and the note where there is one."""
    if not kernels:
        return []
    lines = []
    for k in kernels.get("onednn", ()):
        line = f"{k['primitive']} {k['implementation'] or '(no implementation named)'} {k['propagation']}"
        line += f" {k['problem']}" if k.get("problem") else ""
        lines.append(line + ("" if k.get("executed", True) else " (created, never finished executing)"))
    if kernels.get("note"):
        lines.append(kernels["note"])
    return lines


def kernel_summary(kernels: dict | None) -> str | None:
    """One line for the terminal: the convolution kernels (and oneDNN matrix products) with their
    propagation kinds, 'jit:avx512_core (forward_training), ...', or the note; None without a log."""
    if not kernels:
        return None
    named = []
    for k in kernels.get("onednn", ()):
        if k["primitive"] in MAIN_PRIMITIVES:
            text = f"{k['implementation'] or k['primitive']} ({k['propagation']})"
            if text not in named:
                named.append(text)
    if named:
        return ", ".join(named)
    return kernels.get("note") or "only " + ", ".join(sorted({k["primitive"] for k in kernels["onednn"]}))
