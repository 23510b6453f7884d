"""Named features of a case (e.g. 'conv_transpose', '2d', 'same', 'kernel_lt_stride').

One vocabulary for selecting cases in known-difference entries and for the rows of the report's
support table. Each feature is derived from the case alone.
"""
from __future__ import annotations

from conformance.spec.case import Case

FEATURES = (
    "conv", "conv_transpose", "1d", "2d", "3d", "valid", "same", "same_lower", "causal", "explicit_padding",
    "asymmetric_padding", "same_odd_total", "same_extends_output", "padding_exceeds_kernel", "strided", "unequal_stride", "kernel_lt_stride", "even_kernel",
    "non_square_kernel", "dilated", "grouped", "depthwise", "depth_multiplier", "output_padding", "bias",
    "no_bias", "batch", "non_square_input", "empty_batch", "no_valid_output",
)


def case_features(case: Case) -> list[str]:
    f = [case.op, f"{case.ndim}d"]
    if isinstance(case.padding, str):
        f.append(case.padding)
    else:
        f.append("explicit_padding")
    if case.padding in ("same", "same_lower"):
        # the resolved amounts decide: an odd total puts the extra element at the end ('same') or the
        # beginning ('same_lower'); a negative end (transposed, k_eff + output_padding < stride)
        # extends the output with zeros instead
        if any(e < 0 for _, e in case.pads):
            f.append("same_extends_output")
        elif not case.symmetric_padding:
            f.append("same_odd_total")
    elif not case.symmetric_padding:
        f.append("asymmetric_padding")
    if any(max(b, e) > k - 1 for (b, e), k in zip(case.pads, case.effective_kernel)):
        # a window can lie wholly in the padding (conv), or a crop eats more than the kernel's overhang
        # (conv_transpose): the backends then see negative padding on the other side
        f.append("padding_exceeds_kernel")
    if any(s > 1 for s in case.stride):
        f.append("strided")
    if len(set(case.stride)) > 1:
        f.append("unequal_stride")
    if any(k < s for k, s in zip(case.effective_kernel, case.stride)):
        f.append("kernel_lt_stride")
    if any(k % 2 == 0 for k in case.kernel_size):
        f.append("even_kernel")
    if len(set(case.kernel_size)) > 1:
        f.append("non_square_kernel")
    if any(d > 1 for d in case.dilation):
        f.append("dilated")
    if case.groups > 1:
        f.append("grouped")
    if case.is_depthwise:
        f.append("depthwise")
        if case.out_channels > case.in_channels:
            f.append("depth_multiplier")
    if any(case.output_padding):
        f.append("output_padding")
    f.append("bias" if case.bias else "no_bias")
    if case.batch > 1:
        f.append("batch")
    if len(set(case.in_spatial)) > 1:
        f.append("non_square_input")
    if case.empty_batch:
        f.append("empty_batch")
    if case.no_valid_output:
        f.append("no_valid_output")
    return f
