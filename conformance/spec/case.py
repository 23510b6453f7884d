"""The case model: one validated convolution configuration and what follows from it.

A `Case` is built from a plain dict (`Case.from_dict`), the same way the YAML loader builds it.
Everything derived (resolved padding, output shape, weight shape, parameter count) is computed
from the case alone, with the reference semantics of docs/semantics.md, and kept on the case,
so that adapters never re-derive padding rules of their own.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from conformance.spec.dtypes import DTYPE_NAMES
from conformance.errors import CaseError, did_you_mean
from conformance.spec.hints import FIELD_HINTS
from conformance.spec.threads import validate_threads

OPS = ("conv", "conv_transpose")
PADDING_KEYWORDS = ("valid", "same", "same_lower", "causal")
DATA_KEYS = ("input", "weight", "bias", "grad_output")
EXPECT_KEYS = ("output", "output_shape", "weight_shape", "param_count")

REQUIRED = ("id", "op", "input_shape", "out_channels", "kernel_size")
DEFAULTS: dict[str, Any] = {
    "stride": 1,
    "padding": "valid",
    "dilation": 1,
    "groups": 1,
    "output_padding": 0,
    "bias": True,
    "dtypes": ["float32"],
    "data": None,
    "expect": None,
    "source": None,
    "tags": [],
    "description": None,
    "threads": [1],
}

FIELDS = REQUIRED + tuple(DEFAULTS)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class _Validator:
    """Checks one raw dict; every failure names the case id and the field."""

    def __init__(self, case_id: str | None):
        self.case_id = case_id

    def fail(self, field_name: str | None, message: str):
        raise CaseError(message, case_id=self.case_id, field=field_name)

    def int_(self, name: str, value, *, minimum: int) -> int:
        if not _is_int(value):
            self.fail(name, f"expected an integer >= {minimum}, got {value!r}")
        if value < minimum:
            self.fail(name, f"must be >= {minimum}, got {value}")
        return int(value)

    def per_dim(self, name: str, value, ndim: int, *, minimum: int) -> tuple[int, ...]:
        """An int (the same for every spatial dim) or one int per spatial dim."""
        if isinstance(value, (list, tuple)):
            if len(value) != ndim:
                self.fail(name, f"expected one value per spatial dim ({ndim}), got {len(value)}: {list(value)}")
            return tuple(self.int_(name, v, minimum=minimum) for v in value)
        if not _is_int(value):
            self.fail(name, f"expected an integer or a list of {ndim} integers, got {value!r}")
        return (self.int_(name, value, minimum=minimum),) * ndim

    def padding(self, value, ndim: int):
        """Normalise to a keyword string or a tuple of (begin, end) pairs, one per spatial dim."""
        allowed = ("'valid', 'same', 'same_lower', 'causal', an integer, one integer per spatial dim, "
                   "or one [begin, end] pair per spatial dim")
        if isinstance(value, str):
            if value.lower() not in PADDING_KEYWORDS:
                self.fail("padding", f"unknown padding {value!r}{did_you_mean(value.lower(), PADDING_KEYWORDS)}; allowed: {allowed}")
            return value.lower()
        if _is_int(value):
            v = self._pad_amount(value)
            return ((v, v),) * ndim
        if isinstance(value, (list, tuple)):
            if len(value) != ndim:
                self.fail("padding", f"expected one entry per spatial dim ({ndim}), got {len(value)}: {list(value)}")
            pairs = []
            for entry in value:
                if _is_int(entry):
                    v = self._pad_amount(entry)
                    pairs.append((v, v))
                elif isinstance(entry, (list, tuple)) and len(entry) == 2:
                    pairs.append((self._pad_amount(entry[0]), self._pad_amount(entry[1])))
                else:
                    self.fail("padding", f"each per-dim entry must be an integer or a [begin, end] pair, got {entry!r}")
            return tuple(pairs)
        self.fail("padding", f"got {value!r}; allowed: {allowed}")

    def _pad_amount(self, value) -> int:
        if not _is_int(value):
            self.fail("padding", f"padding amounts must be integers, got {value!r}")
        if value < 0:
            self.fail("padding", f"negative padding is not allowed, got {value}")
        return int(value)


def resolve_padding(op: str, padding, in_sizes, kernel, stride, dilation, output_padding):
    """The [begin, end] padding (conv) or cropping (conv_transpose) per spatial dim.

    For conv_transpose with 'same' and k_eff + output_padding < stride, the end value is negative:
    the full output is shorter than in * stride and is extended with zeros (what the adjoint of the
    'same' conv gives). 'same_lower' is 'same' with the odd element of an odd total at the
    beginning (ONNX's SAME_LOWER); its negative total extends at the end too, as the adjoint of the
    'same_lower' conv (whose total is clamped at zero) does.
    """
    if not isinstance(padding, str):
        return tuple(padding)
    pads = []
    for n, k, s, d, op_pad in zip(in_sizes, kernel, stride, dilation, output_padding):
        k_eff = (k - 1) * d + 1
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "causal":
            pads.append((k_eff - 1, 0))
        else:  # same, same_lower: conv out = ceil(n / s), conv_transpose out = n * s
            total = max(0, (-(-n // s) - 1) * s + k_eff - n) if op == "conv" else s * (n - 1) + k_eff + op_pad - n * s
            half = total // 2  # the odd element at the end ('same', SAME_UPPER) or the beginning
            if total < 0:
                pads.append((0, total))
            else:
                pads.append((total - half, half) if padding == "same_lower" else (half, total - half))
    return tuple(pads)


@dataclass(frozen=True, eq=False)
class Case:
    """One convolution configuration. Build with `Case.from_dict`; fields are normalised tuples."""

    id: str
    op: str
    input_shape: tuple[int, ...]
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: Any  # a keyword ('valid' | 'same' | 'same_lower' | 'causal') or a tuple of (begin, end) pairs
    dilation: tuple[int, ...]
    groups: int
    output_padding: tuple[int, ...]
    bias: bool
    dtypes: tuple[str, ...]
    data: dict[str, np.ndarray] | None = None
    expect: dict[str, Any] | None = None
    source: str | None = None
    tags: tuple[str, ...] = ()
    description: str | None = None
    threads: tuple = (1,)  # the worker thread counts each unit runs at (conformance/spec/threads.py)
    # Where the case was declared (file, line); set by the loader, not part of the case's identity.
    origin: tuple[str, int] | None = field(default=None, compare=False)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, raw: dict, *, origin: tuple[str, int] | None = None) -> "Case":
        if not isinstance(raw, dict):
            raise CaseError(f"a case must be a mapping of field: value, got {type(raw).__name__}")
        case_id = raw.get("id")
        v = _Validator(case_id if isinstance(case_id, str) else None)
        _check_fields(v, raw, case_id)
        values = {**DEFAULTS, **raw}
        conv = _conv_fields(v, values)
        dtypes = _dtypes(v, values["dtypes"])
        tags = _labels(v, values)
        geometry = cls(id=case_id, **conv, dtypes=tuple(dtypes), source=values["source"], tags=tuple(tags),
                       description=values["description"],
                       threads=validate_threads(v, values["threads"]), origin=origin)
        # data and expected values are checked against the shapes the geometry gives
        return dataclasses.replace(geometry, data=_validate_data(v, values["data"], geometry),
                                   expect=_validate_expect(v, values["expect"], geometry))

    def to_dict(self) -> dict:
        """A plain dict that `from_dict` turns back into an equal case (JSON- and YAML-safe)."""
        d: dict[str, Any] = {
            "id": self.id, "op": self.op, "input_shape": list(self.input_shape), "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size), "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else [list(p) for p in self.padding],
            "dilation": list(self.dilation), "groups": self.groups, "bias": self.bias, "dtypes": list(self.dtypes)}
        if self.op == "conv_transpose":
            d["output_padding"] = list(self.output_padding)
        if self.data:
            d["data"] = {k: a.tolist() for k, a in self.data.items()}
        if self.expect:
            d["expect"] = {k: (list(x) if isinstance(x, tuple) else x) for k, x in self.expect.items()}
        for name in ("source", "description"):
            if getattr(self, name) is not None:
                d[name] = getattr(self, name)
        d.update({name: list(getattr(self, name)) for name, empty in (("tags", ()), ("threads", (1,)))
                  if getattr(self, name) != empty})
        return d

    def __eq__(self, other):
        return isinstance(other, Case) and self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"Case({self.id!r}, {self.describe()})"

    # ----------------------------------------------------------------- derived
    @property
    def ndim(self) -> int:
        return len(self.input_shape) - 2

    @property
    def batch(self) -> int:
        return self.input_shape[0]

    @property
    def in_channels(self) -> int:
        return self.input_shape[1]

    @property
    def in_spatial(self) -> tuple[int, ...]:
        return self.input_shape[2:]

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation))

    @cached_property
    def pads(self) -> tuple[tuple[int, int], ...]:
        """Resolved [begin, end] padding (conv) or cropping (conv_transpose) per spatial dim."""
        return resolve_padding(self.op, self.padding, self.in_spatial, self.kernel_size,
                               self.stride, self.dilation, self.output_padding)

    @cached_property
    def out_spatial(self) -> tuple[int, ...]:
        return output_sizes(self.op, self.in_spatial, self.kernel_size, self.stride, self.dilation,
                            self.output_padding, self.pads)

    @property
    def no_valid_output(self) -> bool:  # a raise is right, and so is the empty tensor (docs/semantics.md)
        return 0 in self.out_spatial

    @property
    def empty_batch(self) -> bool:  # to be computed: empty outputs, zero weight and bias gradients
        return self.batch == 0

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels) + self.out_spatial

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Canonical: conv (C_out, C_in/g, *k); conv_transpose (C_in, C_out/g, *k)."""
        if self.op == "conv":
            return (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        return (self.in_channels, self.out_channels // self.groups) + self.kernel_size

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        return (self.out_channels,) if self.bias else None

    @property
    def working_set_bytes(self) -> int:
        """Float64 bytes one evaluation of the case holds at once, to refuse oversized cases up front.

        The oracle's largest buffer is its im2col matrix: one row per output position (conv), or per
        input position (conv_transpose, which scatters), k * C/g columns. Around it: input, output,
        their gradients and a framework's native copies (about 3 of each), and the weight likewise.
        """
        if self.op == "conv":
            positions, channels = math.prod(self.out_spatial), self.in_channels // self.groups
        else:
            positions, channels = math.prod(self.in_spatial), self.out_channels // self.groups
        columns = self.batch * positions * math.prod(self.kernel_size) * channels
        tensors = 3 * (math.prod(self.input_shape) + math.prod(self.output_shape) + math.prod(self.weight_shape))
        return 8 * (columns + tensors)

    @property
    def param_count(self) -> int:
        return math.prod(self.weight_shape) + (self.out_channels if self.bias else 0)

    @property
    def symmetric_padding(self) -> bool:
        return all(b == e for b, e in self.pads)

    @property
    def is_depthwise(self) -> bool:
        """groups == C_in (each input channel its own group), any depth multiplier."""
        return self.groups == self.in_channels and self.groups > 1

    def describe(self) -> str:
        """A one-line summary for messages and reports."""
        pad = self.padding if isinstance(self.padding, str) else [list(p) for p in self.padding]
        parts = [f"{self.op} {self.ndim}-D", f"input {list(self.input_shape)}",
                 f"out_channels {self.out_channels}", f"kernel {list(self.kernel_size)}",
                 f"stride {list(self.stride)}", f"padding {pad}", f"dilation {list(self.dilation)}",
                 f"groups {self.groups}"]
        if self.op == "conv_transpose":
            parts.append(f"output_padding {list(self.output_padding)}")
        parts.append("bias" if self.bias else "no bias")
        return ", ".join(parts)


def _check_fields(v: _Validator, raw: dict, case_id) -> None:
    """No unknown field, every required one, and an id on one line."""
    unknown = [k for k in raw if k not in FIELDS]
    if unknown:
        k = unknown[0]
        hint = f"; {FIELD_HINTS[k]}" if k in FIELD_HINTS else did_you_mean(k, FIELDS)
        v.fail(str(k), f"unknown field{hint}; allowed fields: {', '.join(FIELDS)}")
    for name in REQUIRED:
        if name not in raw:
            v.fail(name, "required field is missing")
    if not isinstance(case_id, str) or not case_id.strip() or any(c in case_id for c in "\n\r\t"):
        v.fail("id", f"expected a non-empty one-line string, got {case_id!r}")


def _conv_fields(v: _Validator, values: dict) -> dict:
    """The convolution's own fields, normalised (per-dim tuples, padding pairs), as `Case` names them."""
    op = values["op"]
    if op not in OPS:
        v.fail("op", f"got {op!r}{did_you_mean(op, OPS)}; allowed: {', '.join(OPS)}")
    shape = values["input_shape"]
    if not isinstance(shape, (list, tuple)) or not 3 <= len(shape) <= 5:
        v.fail("input_shape", f"expected [N, C_in, *spatial] with 1 to 3 spatial dims, got {shape!r}")
    # a batch may be empty (docs/semantics.md#empty-tensors); channels and spatial sizes may not
    input_shape = tuple(v.int_("input_shape", s, minimum=0 if i == 0 else 1) for i, s in enumerate(shape))
    ndim = len(input_shape) - 2
    in_channels = input_shape[1]

    out_channels = v.int_("out_channels", values["out_channels"], minimum=1)
    kernel = v.per_dim("kernel_size", values["kernel_size"], ndim, minimum=1)
    stride = v.per_dim("stride", values["stride"], ndim, minimum=1)
    dilation = v.per_dim("dilation", values["dilation"], ndim, minimum=1)
    output_padding = v.per_dim("output_padding", values["output_padding"], ndim, minimum=0)
    groups = v.int_("groups", values["groups"], minimum=1)
    padding = v.padding(values["padding"], ndim)

    if op == "conv" and any(output_padding):
        v.fail("output_padding", "only a conv_transpose has output_padding; remove it from this conv")
    if padding == "causal" and (op != "conv" or ndim != 1):
        v.fail("padding", f"'causal' is defined for 1-D conv only; this case is a {ndim}-D {op}")
    if in_channels % groups:
        v.fail("groups", f"input channels ({in_channels}) are not divisible by groups ({groups})")
    if out_channels % groups:
        v.fail("groups", f"out_channels ({out_channels}) is not divisible by groups ({groups})")

    bias = values["bias"]
    if not isinstance(bias, bool):
        v.fail("bias", f"expected true or false, got {bias!r}")
    return dict(op=op, input_shape=input_shape, out_channels=out_channels, kernel_size=kernel, stride=stride,
                padding=padding, dilation=dilation, groups=groups, output_padding=output_padding, bias=bias)


def _dtypes(v: _Validator, dtypes) -> list:
    if isinstance(dtypes, str):
        dtypes = [dtypes]
    if not isinstance(dtypes, (list, tuple)) or not dtypes:
        v.fail("dtypes", f"expected a non-empty list of dtype names, got {dtypes!r}")
    for name in dtypes:
        if name not in DTYPE_NAMES:
            v.fail("dtypes", f"unknown dtype {name!r}{did_you_mean(name, DTYPE_NAMES)}; allowed: {', '.join(DTYPE_NAMES)}")
    if len(set(dtypes)) != len(dtypes):
        v.fail("dtypes", f"a dtype is listed twice: {list(dtypes)}")
    return dtypes


def _labels(v: _Validator, values: dict) -> list:
    """Checks `source` and `description`; returns the tags."""
    for name in ("source", "description"):
        if values[name] is not None and not isinstance(values[name], str):
            v.fail(name, f"expected a string, got {values[name]!r}")
    tags = values["tags"] or []
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        v.fail("tags", f"expected a list of strings, got {tags!r}")
    return tags


def output_sizes(op, in_sizes, kernel, stride, dilation, output_padding, pads) -> tuple[int, ...]:
    """Output size per spatial dim, clamped at 0: a dim whose formula gives < 1 (a conv's effective kernel
    wider than its padded input, a transposed crop that leaves nothing) has no valid output, and its
    output is the empty tensor of this shape (docs/semantics.md#no-valid-output)."""
    out = []
    for n, k, s, d, op_pad, (b, e) in zip(in_sizes, kernel, stride, dilation, output_padding, pads):
        k_eff = (k - 1) * d + 1
        size = (n + b + e - k_eff) // s + 1 if op == "conv" else s * (n - 1) + k_eff + op_pad - b - e
        out.append(max(0, size))
    return tuple(out)


def _materialise(v: _Validator, field_name: str, spec, shape: tuple[int, ...]) -> np.ndarray:
    """Explicit data: a nested list, {fill: value} or {arange: start} (row-major, step 1)."""
    if isinstance(spec, dict):
        if set(spec) == {"fill"} and isinstance(spec["fill"], (int, float)) and not isinstance(spec["fill"], bool):
            return np.full(shape, float(spec["fill"]))
        if set(spec) == {"arange"} and isinstance(spec["arange"], (int, float)) and not isinstance(spec["arange"], bool):
            return np.arange(math.prod(shape), dtype=np.float64).reshape(shape) + float(spec["arange"])
        v.fail(field_name, f"expected a nested list, {{fill: number}} or {{arange: start}}, got {spec!r}")
    try:
        arr = np.asarray(spec, dtype=np.float64)
    except (ValueError, TypeError):
        v.fail(field_name, "expected a rectangular nested list of numbers")
    if arr.shape != tuple(shape):
        v.fail(field_name, f"shape {list(arr.shape)} does not match the shape the case implies, {list(shape)}")
    return arr


def _validate_data(v: _Validator, data, case: Case):
    if data is None:
        return None
    if not isinstance(data, dict):
        v.fail("data", f"expected a mapping with keys among {', '.join(DATA_KEYS)}")
    shapes = {"input": case.input_shape, "weight": case.weight_shape,
              "bias": case.bias_shape, "grad_output": case.output_shape}
    out = {}
    for key, spec in data.items():
        if key not in DATA_KEYS:
            v.fail(f"data.{key}", f"unknown data key{did_you_mean(key, DATA_KEYS)}; allowed: {', '.join(DATA_KEYS)}")
        if key == "bias" and not case.bias:
            v.fail("data.bias", "the case has bias: false, so it takes no bias data")
        out[key] = _materialise(v, f"data.{key}", spec, shapes[key])
    return out


def _validate_expect(v: _Validator, expect, case: Case):
    if expect is None:
        return None
    if not isinstance(expect, dict):
        v.fail("expect", f"expected a mapping with keys among {', '.join(EXPECT_KEYS)}")
    out: dict[str, Any] = {}
    for key, value in expect.items():
        if key not in EXPECT_KEYS:
            v.fail(f"expect.{key}", f"unknown expectation{did_you_mean(key, EXPECT_KEYS)}; allowed: {', '.join(EXPECT_KEYS)}")
        if key in ("output_shape", "weight_shape"):
            if not isinstance(value, (list, tuple)) or not all(_is_int(x) for x in value):
                v.fail(f"expect.{key}", f"expected a list of integers, got {value!r}")
            out[key] = tuple(int(x) for x in value)
        elif key == "param_count":
            out[key] = v.int_(f"expect.{key}", value, minimum=0)
        else:
            out[key] = _materialise(v, "expect.output", value, case.output_shape)
    return out
