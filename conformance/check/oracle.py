"""The NumPy float64 oracle: what convolution and transposed convolution mean here.

Canonical layouts (channels first): input (N, C_in, *spatial); conv weight (C_out, C_in/g, *k);
transposed-conv weight (C_in, C_out/g, *k); bias (C_out,).

Three primitives carry everything; each loops over groups, kernel taps and (for cache reuse) batch
items, never over output positions, so the work lands in BLAS matrix products:

- `_gather(xp, w)`: the strided, dilated cross-correlation of an already padded input (a conv);
- `_scatter(y, w)`: its adjoint with respect to the input (the transposed conv, before cropping);
- `_weight_grad(xp, y)`: its adjoint with respect to the weight.

The two adjoints have a faster form for stride 1 (`_scatter_stride1`, `_weight_grad_stride1`): the
same sums, taken over contiguous slices of the flattened input.

A conv is pad -> gather (+ bias). A transposed conv is scatter -> crop (+ bias): by construction the
adjoint of the conv with the same parameters, which is what "transposed convolution" means.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from conformance.check.padding import crop, pad, uncrop, unpad
from conformance.spec.case import Case


class Gradients(NamedTuple):
    input: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None


# ------------------------------------------------------------------------- primitives
# Internally the primitives work channels-last, so that each im2col row (one output position, all taps
# and channels of a group) is a single matrix-product row: one large GEMM per group instead of many
# small ones. That is what makes the oracle faster than PyTorch's float64 CPU convolution. The
# stride-1 forms of the adjoints work channels first, on the flattened input (see there).

def _channels_last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _channels_first(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


def _columns(xc, kernel, stride, dilation, out_sizes):
    """im2col view of a channels-last padded input: (N, *out, *k, C), xc[n, i*s + t*d, c]."""
    nd = len(kernel)
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    view = sliding_window_view(xc, k_eff, axis=tuple(range(1, 1 + nd)))  # (N, *P, C, *k_eff)
    select = (slice(None),)
    select += tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out_sizes, stride))
    select += (slice(None),) + tuple(slice(None, None, d) for d in dilation)
    view = view[select]  # (N, *out, C, *k)
    return np.moveaxis(view, 1 + nd, -1)  # (N, *out, *k, C)


def _group_slices(groups, ch_per_group, out_per_group):
    for g in range(groups):
        yield (slice(g * ch_per_group, (g + 1) * ch_per_group),
               slice(g * out_per_group, (g + 1) * out_per_group))


def _gather(xp, w, groups, stride, dilation, out_sizes):
    """y[n, o, i] = sum_{c in group(o), t} xp[n, c, i*s + t*d] * w[o, c, t]."""
    out_ch, ch_per_group = w.shape[:2]
    kernel = w.shape[2:]
    cols = _columns(_channels_last(xp), kernel, stride, dilation, out_sizes)
    rows = xp.shape[0] * math.prod(out_sizes)
    y = np.empty((rows, out_ch))
    for cs, os_ in _group_slices(groups, ch_per_group, out_ch // groups):
        a = cols[..., cs].reshape(rows, -1)  # (M, k*C/g): the one copy, contiguous rows
        wm = np.moveaxis(w[os_], 1, -1).reshape(w[os_].shape[0], -1)  # (O/g, k*C/g)
        y[:, os_] = a @ wm.T
    return _channels_first(y.reshape((xp.shape[0],) + tuple(out_sizes) + (out_ch,)))


def _tap_slices(out_sizes, stride, dilation, tap):
    """Positions i*s + t*d (i over the output) of one kernel tap t, as slices."""
    return tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                 for o, s, d, t in zip(out_sizes, stride, dilation, tap))


def _flat_taps(full_sizes, out_sizes, kernel, dilation):
    """Stride 1, in flat (row-major) coordinates of the padded input: output position i reads input
    position i + t*d, whose flat index is the flat index of i plus a per-tap offset. So, with the
    output laid out on the input's grid (`_on_input_grid`), each tap is one contiguous slice of
    `span` elements. Returns (the taps' offsets, span)."""
    grid = [math.prod(full_sizes[a + 1:]) for a in range(len(full_sizes))]
    offsets = [sum(t * d * g for t, d, g in zip(tap, dilation, grid)) for tap in np.ndindex(*kernel)]
    span = sum((o - 1) * g for o, g in zip(out_sizes, grid)) + 1
    return offsets, span


def _on_input_grid(y, full_sizes, span):
    """y (N, O, *out) placed at the start of zeros shaped (N, O, *full), flattened, first `span`:
    the grid points that are not output positions hold zeros, so they add nothing."""
    grid = np.zeros(y.shape[:2] + tuple(full_sizes))
    grid[(slice(None), slice(None)) + tuple(slice(0, o) for o in y.shape[2:])] = y
    return grid.reshape(y.shape[0], y.shape[1], -1)[:, :, :span]


def _scatter_stride1(y, w, groups, dilation, full_sizes, rows_per_chunk=4096):
    """`_scatter` for stride 1: each tap's contribution is added to one contiguous slice of the flat
    input, channels first (rows of `span` elements, instead of rows of C/g channels at each output
    position), so neither y nor the result is transposed (faster on the benchmark's large case,
    benchmarks/bench_oracle.py), and the same sums in the same order. Batch items in chunks, as there."""
    out_ch, ch_per_group = w.shape[:2]
    offsets, span = _flat_taps(full_sizes, y.shape[2:], w.shape[2:], dilation)
    yg = _on_input_grid(y, full_sizes, span)
    xp = np.zeros((y.shape[0], groups * ch_per_group, math.prod(full_sizes)))
    step = max(1, rows_per_chunk // span)
    buffer = np.empty((min(step, y.shape[0]), ch_per_group * len(offsets), span))
    for cs, os_ in _group_slices(groups, ch_per_group, out_ch // groups):
        wt = np.ascontiguousarray(w[os_].reshape(w[os_].shape[0], -1).T)  # (C/g*k, O/g)
        for n0 in range(0, y.shape[0], step):
            part = yg[n0:n0 + step, os_]
            cols = np.matmul(wt, part, out=buffer[:part.shape[0]])
            cols = cols.reshape(part.shape[0], ch_per_group, len(offsets), span)
            for t, offset in enumerate(offsets):
                xp[n0:n0 + step, cs, offset:offset + span] += cols[:, :, t]
    return xp.reshape((y.shape[0], groups * ch_per_group) + tuple(full_sizes))


def _weight_grad_stride1(xp, y, groups, kernel, dilation, rows_per_chunk=4096):
    """`_weight_grad` for stride 1: per tap, one product of the output gradient on the input's grid
    with a contiguous slice of the flat input, which BLAS reads in place: no im2col copy (faster than
    the im2col form, most with groups: benchmarks/bench_oracle.py)."""
    out_ch = y.shape[1]
    ch_per_group = xp.shape[1] // groups
    offsets, span = _flat_taps(xp.shape[2:], y.shape[2:], kernel, dilation)
    yg = _on_input_grid(y, xp.shape[2:], span)
    flat = xp.reshape(xp.shape[0], xp.shape[1], -1)
    dw = np.zeros((out_ch, ch_per_group, len(offsets)))
    step = max(1, rows_per_chunk // span)
    for cs, os_ in _group_slices(groups, ch_per_group, out_ch // groups):
        for n0 in range(0, y.shape[0], step):
            for t, offset in enumerate(offsets):
                # (n, O/g, span) @ (n, span, C/g), summed over the chunk's batch items
                products = np.matmul(yg[n0:n0 + step, os_], flat[n0:n0 + step, cs, offset:offset + span].swapaxes(1, 2))
                dw[os_, :, t] += products.sum(axis=0)
    return dw.reshape((out_ch, ch_per_group) + tuple(kernel))


def _scatter(y, w, groups, stride, dilation, full_sizes, rows_per_chunk=4096):
    """Adjoint of `_gather` in xp: xp[n, c, i*s + t*d] += y[n, o, i] * w[o, c, t].

    col2im: one matrix product per group gives every tap's contribution, then a loop over taps adds
    each into its strided positions (within one tap those positions are distinct). Done a few batch
    items at a time (about `rows_per_chunk` output positions), so that the products' columns are
    still in cache when they are added (~10% faster on the benchmark's large case); each element's
    sum is the same, in the same order. Stride 1 has its own, faster form (`_scatter_stride1`).
    """
    if all(s == 1 for s in stride):
        return _scatter_stride1(y, w, groups, dilation, full_sizes)
    out_ch, ch_per_group = w.shape[:2]
    kernel = w.shape[2:]
    out_sizes = tuple(y.shape[2:])
    yl = _channels_last(y)  # (N, *out, O)
    xc = np.zeros((y.shape[0],) + tuple(full_sizes) + (groups * ch_per_group,))
    step = max(1, rows_per_chunk // max(math.prod(out_sizes), 1))
    for cs, os_ in _group_slices(groups, ch_per_group, out_ch // groups):
        wm = np.moveaxis(w[os_], 1, -1).reshape(w[os_].shape[0], -1)  # (O/g, k*C/g)
        for n0 in range(0, y.shape[0], step):
            part = yl[n0:n0 + step]
            lead = part.shape[:1] + out_sizes
            cols = (part.reshape(-1, out_ch)[:, os_] @ wm).reshape(lead + tuple(kernel) + (ch_per_group,))
            for tap in np.ndindex(*kernel):
                region = (slice(n0, n0 + step),) + _tap_slices(out_sizes, stride, dilation, tap) + (cs,)
                xc[region] += cols[(slice(None),) * len(lead) + tap]
    return _channels_first(xc)


def _weight_grad(xp, y, groups, kernel, stride, dilation):
    """Adjoint of `_gather` in w: dw[o, c, t] = sum_{n, i} xp[n, c, i*s + t*d] * y[n, o, i].
    Stride 1 has its own, faster form (`_weight_grad_stride1`)."""
    if all(s == 1 for s in stride):
        return _weight_grad_stride1(xp, y, groups, kernel, dilation)
    out_ch = y.shape[1]
    ch_per_group = xp.shape[1] // groups
    out_sizes = y.shape[2:]
    cols = _columns(_channels_last(xp), kernel, stride, dilation, out_sizes)
    rows = y.shape[0] * math.prod(out_sizes)
    yc = _channels_last(y).reshape(rows, out_ch)
    dw = np.empty((out_ch, ch_per_group) + tuple(kernel))
    for cs, os_ in _group_slices(groups, ch_per_group, out_ch // groups):
        a = cols[..., cs].reshape(rows, -1)  # (M, k*C/g)
        # (a.T @ y).T, not y.T @ a: the same products, but BLAS splits the long M axis of this
        # product across threads only in this orientation (benchmarks/bench_oracle.py)
        part = (a.T @ yc[:, os_]).T.reshape((-1,) + tuple(kernel) + (ch_per_group,))
        dw[os_] = np.moveaxis(part, -1, 1)
    return dw


def _full_transposed_sizes(case: Case):
    return tuple(s * (n - 1) + k + p for n, s, k, p in
                 zip(case.in_spatial, case.stride, case.effective_kernel, case.output_padding))


def _as64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def _check_shapes(case: Case, x, w, b, g=None):
    expected = {"input": case.input_shape, "weight": case.weight_shape, "bias": case.bias_shape}
    given = {"input": x.shape, "weight": w.shape, "bias": None if b is None else b.shape}
    if g is not None:
        expected["grad_output"], given["grad_output"] = case.output_shape, g.shape
    for name, shape in expected.items():
        if tuple(given[name] or ()) != tuple(shape or ()):
            raise ValueError(f"case {case.id!r}: {name} has shape {given[name]}, the case needs {shape}")


def _empty_output(case: Case) -> bool:
    """An empty batch or a dim with no valid output: the output has no element, so the output is the
    empty array of its shape and sum(output * grad_output) is an empty sum, zero whatever the input,
    weight and bias (docs/semantics.md#empty-tensors). The primitives are not asked about such shapes."""
    return math.prod(case.output_shape) == 0


# ------------------------------------------------------------------------- public API
def forward(case: Case, x, w, b=None) -> np.ndarray:
    """The case's output for input x, weight w and bias b (canonical layouts), in float64."""
    x, w, b = _as64(x), _as64(w), _as64(b) if case.bias else None
    _check_shapes(case, x, w, b)
    if _empty_output(case):
        return np.zeros(case.output_shape)
    if case.op == "conv":
        y = _gather(pad(x, case.pads), w, case.groups, case.stride, case.dilation, case.out_spatial)
    else:
        full = _scatter(x, w, case.groups, case.stride, case.dilation, _full_transposed_sizes(case))
        y = crop(full, case.pads, case.out_spatial)
    if b is not None:
        y += b.reshape((1, -1) + (1,) * case.ndim)
    return y


def gradients(case: Case, x, w, b, grad_output) -> Gradients:
    """Gradients of sum(forward(x, w, b) * grad_output) with respect to input, weight and bias."""
    x, w, g = _as64(x), _as64(w), _as64(grad_output)
    b = _as64(b) if case.bias else None
    _check_shapes(case, x, w, b, g)
    if _empty_output(case):  # an empty sum: every gradient is zero, in the shape of what it is for
        return Gradients(np.zeros(case.input_shape), np.zeros(case.weight_shape),
                         np.zeros(case.bias_shape) if case.bias else None)
    if case.op == "conv":
        xp = pad(x, case.pads)
        gx = unpad(_scatter(g, w, case.groups, case.stride, case.dilation, xp.shape[2:]), case.pads)
        gw = _weight_grad(xp, g, case.groups, case.kernel_size, case.stride, case.dilation)
    else:
        g_full = uncrop(g, case.pads, _full_transposed_sizes(case))
        gx = _gather(g_full, w, case.groups, case.stride, case.dilation, case.in_spatial)
        gw = _weight_grad(g_full, x, case.groups, case.kernel_size, case.stride, case.dilation)
    gb = g.sum(axis=(0,) + tuple(range(2, 2 + case.ndim))) if case.bias else None
    return Gradients(gx, gw, gb)


def reduction_sizes(case: Case) -> dict[str, int]:
    """How many products each computed element sums at most (the K of the error bound), per check."""
    k = math.prod(case.kernel_size)
    # the weight gradient sums over the batch and the positions of the conv's input-side tensor:
    # the output of a conv, the input of a transposed conv (the input of its adjoint)
    positions = case.out_spatial if case.op == "conv" else case.in_spatial
    return {"output": case.in_channels // case.groups * k + int(case.bias),
            "grad_input": case.out_channels // case.groups * k,
            "grad_weight": case.batch * math.prod(positions),
            "grad_bias": case.batch * math.prod(case.out_spatial)}
