"""Two runs' environments compared: which facts that can change a framework's numbers differ.

An environment (`RunResults.environment`) is read as dotted keys (`host.cpu.isa.avx512f`); facts that
differ between any two runs (when it started, where caches went) are left out, and the rest are
grouped by what they touch (versions, CPU, oneDNN, GPU, precision, threads), the most likely to change
numbers first. `describe_environment` names what ran where in one line.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Mapping

ABSENT = "(not recorded)"
# Facts that differ between any two runs and say nothing about the kernels or the numbers: when and
# how the run was started, how many workers it used, where caches and scratch files went.
# fnmatch patterns on the dotted keys of `flatten_environment`.
ENV_IGNORED = ("started", "finished", "command", "jobs", "workers_started", "workers_started.*", "source",
               "*.compilation_cache.dir", "*cache_dir*", "*scratch*", "pid", "*.pid", "*timings*")
# Display order of the groups, the facts most likely to change numbers first.
ENV_GROUP_ORDER = ("versions", "cpu", "onednn", "gpu", "precision", "threads", "platform", "other")
# Which group a key belongs to: the first rule whose pattern the lower-cased dotted key matches
# (specific words before broad ones: `defaults.cudnn.allow_tf32` is precision, not gpu).
ENV_GROUP_RULES = (
    ("versions", re.compile(r"^frameworks\.[^.]+\.(version|error|keras|jaxlib|flax|onnx|onnxruntime|"
                            r"onnx\.(onnx|onnxruntime|onnxscript)|litert\.ai_edge_litert|openvino|executorch|torchao|torch)$|"
                            r"^host\.numpy$")),
    ("onednn", re.compile(r"onednn|mkldnn|dnnl")),
    ("precision", re.compile(r"precision|tf32|x64|xla_flags|fpmath|\.defaults\.|deterministic")),
    ("gpu", re.compile(r"gpu|cuda|cudnn|nvidia|driver|devices|device_kinds|backend|cublas")),
    ("cpu", re.compile(r"^host\.(cpu|machine)|cpu_capability|\.isa\.")),
    ("threads", re.compile(r"thread|omp_|mkl|openblas|blas|kmp_|veclib|variables")),
    ("platform", re.compile(r"^host\.")),
)


@dataclass(frozen=True)
class EnvChange:
    """One environment fact (a dotted key of `flatten_environment`) that differs between the runs."""

    key: str
    old: str  # ABSENT where that run did not record it
    new: str
    group: str = "other"  # one of ENV_GROUP_ORDER: versions, cpu, onednn, gpu, precision, threads, ...

    def to_dict(self) -> dict:
        return {"key": self.key, "group": self.group, "old": self.old, "new": self.new}


def flatten_environment(env: Mapping) -> dict[str, str]:
    """An environment as dotted keys -> text, in recording order (`host.cpu.isa.avx512f` -> 'true').

    A merged run's environment (`merged_from`, one per input) is read as one: a key the inputs
    agree on keeps its value, one they disagree on lists them, `a | b`.
    """
    if not isinstance(env, Mapping):
        return {}
    flat = _flatten({k: v for k, v in env.items() if k != "merged_from"})
    inputs = [_flatten(e) for e in env.get("merged_from") or () if isinstance(e, Mapping)]
    for key in dict.fromkeys(k for one in inputs for k in one):
        values = list(dict.fromkeys(one[key] for one in inputs if key in one))
        flat.setdefault(key, " | ".join(values))
    return flat


def env_group(key: str) -> str:
    lower = key.lower()
    for name, pattern in ENV_GROUP_RULES:
        if pattern.search(lower):
            return name
    return "other"


def environment_changes(old_env: Mapping, new_env: Mapping) -> list[EnvChange]:
    """The facts whose values differ between two environments (one absent counts), `ENV_IGNORED`
    left out, the most important group first (`ENV_GROUP_ORDER`), then by key."""
    old, new = flatten_environment(old_env), flatten_environment(new_env)
    # A framework that failed to start in one run recorded only its error: its other facts would
    # all read "not recorded", which says nothing the error does not.
    failed = {k.split(".")[1] for k in old.keys() ^ new.keys() if re.fullmatch(r"frameworks\.[^.]+\.error", k)}
    changes = [EnvChange(k, old.get(k, ABSENT), new.get(k, ABSENT), env_group(k))
               for k in dict.fromkeys([*old, *new])
               if old.get(k) != new.get(k) and not _ignored(k) and not _of_failed(k, failed)]
    rank = {g: i for i, g in enumerate(ENV_GROUP_ORDER)}
    return sorted(changes, key=lambda c: (rank[c.group], c.key))


def _of_failed(key: str, failed: set) -> bool:
    parts = key.split(".")
    return len(parts) > 2 and parts[0] == "frameworks" and parts[1] in failed and parts[2] not in ("version", "error")


def _ignored(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key.lower(), pattern) for pattern in ENV_IGNORED)


# The packages besides each worker kind's own that decide what a target computes, in the order the
# one-line description names them: (package, the key under `frameworks.<kind>.` that records its
# version; the adapters' `environment()` write them).
PACKAGE_KEYS = (("keras", "keras"), ("flax", "flax"), ("jaxlib", "jaxlib"), ("onnx", "onnx"), ("onnx", "onnx.onnx"),
                ("onnxruntime", "onnxruntime"), ("onnxruntime", "onnx.onnxruntime"), ("onnxscript", "onnx.onnxscript"),
                ("ai-edge-litert", "litert.ai_edge_litert"))
NOT_RECORDED = ("", "null")  # a version or name the run recorded as absent (None)


def describe_environment(env: Mapping) -> str:
    """One line naming what ran where: each worker kind with its version (and oneDNN's state), every
    other package that decides a target (Keras, Flax, ONNX, ONNX Runtime, onnxscript, LiteRT), the
    CPU, and a GPU only where a framework saw one: `torch 2.13.0, tensorflow 2.21.0 (oneDNN off);
    keras 3.15.1, onnxruntime 1.32.0 on AMD EPYC 7B13 [avx2 avx512f], gpu NVIDIA H200`."""
    flat = flatten_environment(env)
    kinds = list(dict.fromkeys(k.split(".")[1] for k in flat if k.startswith("frameworks.") and k.count(".") >= 2))
    frameworks = ", ".join(_describe_framework(name, flat) for name in kinds) or "no framework"
    packages = _packages(flat, kinds)
    cpu = flat.get("host.cpu.model") or flat.get("host.machine") or "an unrecorded CPU"
    flags = [k.rsplit(".", 1)[1] for k, v in flat.items() if k.startswith("host.cpu.isa.") and v == "true"]
    text = frameworks + (f"; {', '.join(packages)}" if packages else "") + f" on {cpu}"
    text += f" [{' '.join(flags)}]" if flags else ""
    gpus = _gpus(flat, kinds)
    if gpus:
        text += ", gpu " + ", ".join(gpus)
    if flat.get("partial"):
        text += " (partial)"
    return text


def _packages(flat: Mapping[str, str], kinds: list[str]) -> list[str]:
    """`name version` of each package of PACKAGE_KEYS the kinds recorded, each (name, version) once,
    leaving out one a kind of the same name and version already names (the onnx kind's onnx)."""
    named = {(kind, flat.get(f"frameworks.{kind}.version")) for kind in kinds}
    named |= {("jaxlib", version) for kind, version in named if kind == "jax"}  # jaxlib: only where it is not jax's
    found: dict[tuple[str, str], None] = {}
    for package, key in PACKAGE_KEYS:
        for kind in kinds:
            versions = flat.get(f"frameworks.{kind}.{key}", "").split(" | ")
            found.update(dict.fromkeys((package, v) for v in versions if v not in NOT_RECORDED))
    return [f"{package} {version}" for package, version in found if (package, version) not in named]


def _gpus(flat: Mapping[str, str], kinds: list[str]) -> list[str]:
    """The GPUs the run saw: a kind's `gpu` name where its `devices` list has a gpu. Settings that
    merely mention one (torch.onnx's `providers.gpu`, a provider available in a package) name none."""
    names: dict[str, None] = {}
    for kind in kinds:
        prefix = f"frameworks.{kind}."
        if '"gpu"' not in flat.get(prefix + "devices", ""):
            continue
        recorded = [n for n in flat.get(prefix + "gpu", "").split(" | ") if n not in NOT_RECORDED]
        names.update(dict.fromkeys(recorded or ["(name not recorded)"]))
    return list(names)


def _describe_framework(name: str, flat: Mapping[str, str]) -> str:
    prefix = f"frameworks.{name}."
    if prefix + "error" in flat:
        return f"{name} (failed to start)"
    text = f"{name} {flat.get(prefix + 'version', '?')}"
    onednn = flat.get(prefix + "onednn.enabled")
    if onednn in ("true", "false"):
        text += f" (oneDNN {'on' if onednn == 'true' else 'off'})"
    return text


def environment_items(env: Mapping, prefix: str = ""):
    """(dotted key, value) for every leaf of a nested environment, in recording order; an empty
    mapping is a leaf."""
    for k, v in env.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            yield from environment_items(v, name + ".")
        else:
            yield name, v


def _flatten(env: Mapping) -> dict[str, str]:
    return {key: _env_text(value) for key, value in environment_items(env)}


def _env_text(value) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, default=str)  # true/false/null, numbers, lists
    except ValueError:  # a structure that contains itself
        return str(value)
