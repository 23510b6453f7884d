"""The feature model of the convolution configuration space: factors, their levels, and which
combinations of levels can exist.

Each factor's level is derived from a `Case` alone (`case_rows`). A case covers every combination of
the levels it has; a case with several dtypes covers each dtype (one row per dtype). `conformance
coverage` counts the t-way combinations (t factors, one level each) that the library covers, out of
the valid ones; `conformance.spec.generate_combinations` adds cases until the rest are covered.

Validity. A combination is valid when some concrete configuration has all its levels. The factors
fall into independent blocks: the geometry (op, dims, stride, dilation, effective kernel against
stride, kernel, padding, output_padding), the channels (grouping, channel range), and factors that
constrain nothing (batch, bias, input parity, dtype). A combination is valid when its projection on
each block is realizable:

- the geometry tuples realizable are found by enumerating per-dim kernels 1-5, dilations 1-3 and
  strides 1-8 in 1-D and 2-D (3-D has the 2-D set: repeating the last dim keeps every level, and
  two dims already realize every level combination a third could add); on top: `causal` only on a
  1-D conv (the case model's rule), output_padding only on a conv_transpose, and only where some
  dim has stride or dilation > 1 (output_padding must be smaller than one of them, as PyTorch's
  ConvTranspose requires);
- the channel tuples by enumerating C_in, C_out 1-12 and every groups value dividing both.

So, e.g., `kernel=1` with `keff_vs_stride=gt`, `kernel=odd, stride=2, keff_vs_stride=eq`, `dims=1d`
with `stride=mixed`, `padding=causal` with `op=conv_transpose`, and `grouping=depthwise` with
`channels=1` are excluded from the denominator.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from conformance.spec.case import Case
from conformance.spec.dtypes import DTYPE_NAMES

KERNELS, DILATIONS, STRIDES = range(1, 6), range(1, 4), range(1, 9)  # the enumerated per-dim domain


def per_dim_level(values) -> str:
    """Stride and dilation: '1', '2', '3+' when every dim has it, else 'mixed'."""
    if len(set(values)) > 1:
        return "mixed"
    v = values[0]
    return "1" if v == 1 else "2" if v == 2 else "3+"


def kernel_level(kernel) -> str:
    if len(set(kernel)) > 1:
        return "non_square"
    k = kernel[0]
    return "1" if k == 1 else "odd" if k % 2 else "even"


def keff_level(effective_kernel, stride) -> str:
    """'lt' when some dim's k_eff < stride, else 'eq' when some dim's equals it, else 'gt'."""
    pairs = list(zip(effective_kernel, stride))
    if any(k < s for k, s in pairs):
        return "lt"
    return "eq" if any(k == s for k, s in pairs) else "gt"


def padding_level(case: Case) -> str:
    if isinstance(case.padding, str):
        return case.padding
    if all(b == 0 and e == 0 for b, e in case.pads):
        return "explicit_zero"
    return "explicit_symmetric" if case.symmetric_padding else "explicit_asymmetric"


def grouping_level(in_channels: int, out_channels: int, groups: int) -> str:
    if groups == 1:
        return "none"
    if groups != in_channels:
        return "grouped"
    return "multiplier" if out_channels > in_channels else "depthwise"


def channel_level(in_channels: int, out_channels: int) -> str:
    c = max(in_channels, out_channels)
    return "1" if c == 1 else "2-8" if c <= 8 else "9+"


@dataclass(frozen=True)
class Factor:
    name: str
    levels: tuple[str, ...]
    derive: Callable[[Case], str]


FACTORS = (
    Factor("op", ("conv", "conv_transpose"), lambda c: c.op),
    Factor("dims", ("1d", "2d", "3d"), lambda c: f"{c.ndim}d"),
    Factor("stride", ("1", "2", "3+", "mixed"), lambda c: per_dim_level(c.stride)),
    Factor("dilation", ("1", "2", "3+", "mixed"), lambda c: per_dim_level(c.dilation)),
    Factor("grouping", ("none", "grouped", "depthwise", "multiplier"),
           lambda c: grouping_level(c.in_channels, c.out_channels, c.groups)),
    Factor("padding", ("valid", "same", "same_lower", "causal", "explicit_zero", "explicit_symmetric",
                       "explicit_asymmetric"), padding_level),
    Factor("keff_vs_stride", ("lt", "eq", "gt"), lambda c: keff_level(c.effective_kernel, c.stride)),
    Factor("kernel", ("1", "odd", "even", "non_square"), lambda c: kernel_level(c.kernel_size)),
    Factor("batch", ("1", "2+"), lambda c: "2+" if c.batch > 1 else "1"),
    Factor("bias", ("bias", "no_bias"), lambda c: "bias" if c.bias else "no_bias"),
    Factor("channels", ("1", "2-8", "9+"), lambda c: channel_level(c.in_channels, c.out_channels)),
    Factor("parity", ("even", "odd"), lambda c: "even" if all(n % 2 == 0 for n in c.in_spatial) else "odd"),
    Factor("output_padding", ("none", "some"), lambda c: "some" if any(c.output_padding) else "none"),
    Factor("dtype", tuple(DTYPE_NAMES), lambda c: c.dtypes[0]),
)
NAMES = tuple(f.name for f in FACTORS)
INDEX = {name: i for i, name in enumerate(NAMES)}
GEOMETRY = ("op", "dims", "stride", "dilation", "keff_vs_stride", "kernel", "padding", "output_padding")
CHANNELS = ("grouping", "channels")
BLOCKS = (tuple(INDEX[n] for n in GEOMETRY), tuple(INDEX[n] for n in CHANNELS))

Row = tuple  # one level per factor, in FACTORS order


def case_rows(case: Case) -> list[Row]:
    """The level vectors a case covers: one per dtype."""
    base = [f.derive(case) for f in FACTORS[:-1]]
    return [tuple(base) + (dtype,) for dtype in case.dtypes]


# ------------------------------------------------------------------------- validity
def _dim_configs():
    return list(itertools.product(KERNELS, DILATIONS, STRIDES))


def geometry_levels(dims: list[tuple[int, int, int]]) -> tuple[str, str, str, str, bool]:
    """(stride, dilation, keff_vs_stride, kernel, output_padding possible) of per-dim (k, d, s)."""
    ks, ds, ss = zip(*dims)
    keff = [(k - 1) * d + 1 for k, d in zip(ks, ds)]
    return (per_dim_level(ss), per_dim_level(ds), keff_level(keff, ss), kernel_level(ks),
            any(max(s, d) > 1 for s, d in zip(ss, ds)))


@lru_cache(maxsize=None)
def shape_examples() -> dict:
    """(dims, stride, dilation, keff_vs_stride, kernel, output_padding possible) -> the smallest
    per-dim (k, d, s) list with those levels (smallest: least sum of k_eff + s, then first)."""
    configs = sorted(_dim_configs(), key=lambda c: ((c[0] - 1) * c[1] + 1 + c[2], c))
    out: dict = {}
    for n in (1, 2):
        for combo in itertools.product(configs, repeat=n):
            key = (f"{n}d",) + geometry_levels(list(combo))
            if key not in out or geometry_size(combo) < geometry_size(out[key]):
                out[key] = list(combo)
    for key, dims in list(out.items()):
        if key[0] == "2d":  # repeat the last dim: every level stays
            out[("3d",) + key[1:]] = dims + [dims[-1]]
    return out


def geometry_size(dims) -> int:
    """How large a per-dim (k, d, s) list is: the sum of k_eff + stride."""
    return sum((k - 1) * d + 1 + s for k, d, s in dims)


@lru_cache(maxsize=None)
def _geometry_tuples() -> frozenset:
    """Every realizable geometry block tuple, in GEOMETRY order."""
    out = set()
    paddings = FACTORS[INDEX["padding"]].levels
    for (dims, stride, dilation, keff, kernel, op_possible) in shape_examples():
        for op, padding, output_padding in itertools.product(("conv", "conv_transpose"), paddings, ("none", "some")):
            if padding == "causal" and (op != "conv" or dims != "1d"):
                continue
            if output_padding == "some" and (op != "conv_transpose" or not op_possible):
                continue
            out.add((op, dims, stride, dilation, keff, kernel, padding, output_padding))
    return frozenset(out)


@lru_cache(maxsize=None)
def _channel_tuples() -> frozenset:
    out = set()
    for cin, cout in itertools.product(range(1, 13), repeat=2):
        for g in range(1, 13):
            if cin % g == 0 and cout % g == 0:
                out.add((grouping_level(cin, cout, g), channel_level(cin, cout)))
    return frozenset(out)


@lru_cache(maxsize=None)
def _projections(block: int, positions: tuple[int, ...]) -> frozenset:
    """The realizable tuples of one block, restricted to some of its positions."""
    full = _geometry_tuples() if block == 0 else _channel_tuples()
    return frozenset(tuple(t[p] for p in positions) for t in full)


def is_valid(assignment: dict[int, str]) -> bool:
    """Whether some concrete configuration has these levels (factor index -> level), any subset."""
    for b, block in enumerate(BLOCKS):
        positions = tuple(p for p, f in enumerate(block) if f in assignment)
        if positions and tuple(assignment[block[p]] for p in positions) not in _projections(b, positions):
            return False
    return True


# ------------------------------------------------------------------------- combinations
Combination = tuple  # ((factor index, level), ...) by factor index


@lru_cache(maxsize=None)
def valid_combinations(t: int) -> tuple[Combination, ...]:
    """Every valid t-way combination, in a fixed order (factors, then levels, as declared)."""
    out = []
    for factors in itertools.combinations(range(len(FACTORS)), t):
        for levels in itertools.product(*(FACTORS[f].levels for f in factors)):
            if is_valid(dict(zip(factors, levels))):
                out.append(tuple(zip(factors, levels)))
    return tuple(out)


def row_combinations(row: Row, t: int):
    """The t-way combinations one row covers."""
    for factors in itertools.combinations(range(len(row)), t):
        yield tuple((f, row[f]) for f in factors)


def covered_combinations(rows, t: int) -> set:
    covered = set()
    for row in rows:
        covered.update(row_combinations(row, t))
    return covered


def describe(combination: Combination) -> str:
    return ", ".join(f"{NAMES[f]}={level}" for f, level in combination)
