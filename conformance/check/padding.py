"""Zero padding of a conv's input and cropping of a transposed conv's output, with their adjoints.

`pads` are the (begin, end) amounts per spatial dimension of a case (`Case.pads`); arrays are
channels first (N, C, *spatial). The oracle builds on these, and the planted faults (search/faults.py)
move a case's padding by hand with them.
"""
from __future__ import annotations

import numpy as np


def pad(x, pads):
    """Zero padding (conv): pads are (begin, end) >= 0 per spatial dim."""
    return np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads])


def unpad(xp, pads):
    """Adjoint of `pad`: drop the padded border."""
    return xp[(slice(None), slice(None)) + tuple(slice(b, xp.shape[2 + i] - e) for i, (b, e) in enumerate(pads))]


def crop(full, pads, out_sizes):
    """Transposed conv: drop `begin` elements at the start and `end` at the end of each dim.

    A negative `end` (only 'same' with k_eff + output_padding < stride) extends with zeros instead.
    """
    out = np.zeros(full.shape[:2] + tuple(out_sizes))
    src, dst = [slice(None)] * 2, [slice(None)] * 2
    for size, (b, _e), n_out in zip(full.shape[2:], pads, out_sizes):
        m = min(n_out, size - b)
        src.append(slice(b, b + m))
        dst.append(slice(0, m))
    out[tuple(dst)] = full[tuple(src)]
    return out


def uncrop(g, pads, full_sizes):
    """Adjoint of `crop`: put g back at its place in a zero array of the full size."""
    full = np.zeros(g.shape[:2] + tuple(full_sizes))
    src, dst = [slice(None)] * 2, [slice(None)] * 2
    for size, (b, _e), n_out in zip(full_sizes, pads, g.shape[2:]):
        m = min(n_out, size - b)
        dst.append(slice(b, b + m))
        src.append(slice(0, m))
    full[tuple(dst)] = g[tuple(src)]
    return full
