"""What each framework's constructor arguments mean, as fields of the case model, and what a padding
keyword resolves to at a given input size (the window a transposed keyword keeps of the full output).

Sources: PyTorch's Conv/ConvTranspose docs (padding is zero padding of a conv's input, and for a
transposed conv, `dilation * (kernel_size - 1) - padding` of implicit padding, i.e. a crop of
`padding` at both ends of the full output, with `output_padding` added at the end); Keras 3
(keras/src/utils/conv_utils.py deconv_output_length, and the TensorFlow backend's
tf.nn.conv_transpose with that output length and 'SAME'/'VALID'); JAX's lax.conv_transpose
(_conv_transpose_padding), which Flax ConvTranspose calls. docs/semantics.md derives the case model's
own 'same' and 'valid'.
"""
from __future__ import annotations

from conformance.errors import UsageError
from conformance.spec.case import resolve_padding


def per_dim(value, ndim: int, name: str, dotted: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value] * ndim
    if isinstance(value, (tuple, list)) and len(value) == ndim and all(isinstance(v, int) for v in value):
        return list(value)
    raise UsageError(f"{dotted}: {name}={value!r}: expected an integer or {ndim} integers")


def keras_transposed_window(n: int, k_eff: int, s: int, padding: str, output_padding: int | None) -> tuple[int, int]:
    """(begin, length) of what Keras' ConvNDTranspose keeps of the full transposed output
    (s * (n - 1) + k_eff long; beyond it, only the bias): its output length from deconv_output_length,
    then TensorFlow's conv_transpose at that length, which for 'SAME' crops the forward conv's SAME
    padding, floor(total / 2) at the start."""
    if output_padding is None:
        length = n * s + max(k_eff - s, 0) if padding == "valid" else n * s
    else:
        pad = k_eff // 2 if padding == "same" else 0
        length = (n - 1) * s + k_eff - 2 * pad + output_padding
    total = max((n - 1) * s + k_eff - length, 0) if padding == "same" else 0
    return total // 2, length


def lax_transposed_window(n: int, k_eff: int, s: int, padding: str) -> tuple[int, int]:
    """(begin, length) of lax.conv_transpose's 'SAME'/'VALID' (JAX's _conv_transpose_padding): the
    stride-1 conv of the stride-dilated input padded by (pad_a, pad_len - pad_a) keeps the full output
    from k_eff - 1 - pad_a on."""
    if padding == "same":
        pad_len = k_eff + s - 2
        pad_a = k_eff - 1 if s > k_eff - 1 else -(-pad_len // 2)
    else:
        pad_len = k_eff + s - 2 + max(k_eff - s, 0)
        pad_a = k_eff - 1
    return k_eff - 1 - pad_a, (n - 1) * s + 1 + pad_len - k_eff + 1


def window_as_case(full: int, begin: int, length: int) -> tuple[tuple[int, int], int]:
    """A kept window of the full transposed output as the case model writes it: a (begin, end) crop
    and an output_padding that extends the full output where the window reaches past it."""
    extra = max(0, begin + length - full)
    return (begin, full + extra - begin - length), extra


def transposed_padding(windows, fulls, keyword_pads, ndim):
    """The case's padding and output_padding for per-dim kept windows: the keyword where the case
    model's own keyword keeps the same windows, else explicit amounts."""
    pairs, extras = zip(*(window_as_case(f, b, n) for f, (b, n) in zip(fulls, windows)))
    for keyword, pads in keyword_pads.items():
        if all(p == q for p, q in zip(pads, pairs)) and not any(extras):
            return keyword, [0] * ndim
    return [list(p) for p in pairs], list(extras)


def _torch(args, shape, dotted, transposed):
    ndim = len(shape) - 2
    if args.get("in_channels") != shape[1]:
        raise UsageError(f"{dotted}: in_channels={args.get('in_channels')!r} but --input-shape has {shape[1]} "
                         "channels (N,C,*spatial)")
    if args.get("padding_mode", "zeros") != "zeros":
        raise UsageError(f"{dotted}: padding_mode={args['padding_mode']!r}: the case model pads with zeros only")
    padding = args.get("padding", 0)
    if isinstance(padding, str) and (transposed or padding not in ("same", "valid")):
        raise UsageError(f"{dotted}: padding={padding!r}; allowed: an integer or a tuple"
                         + ("" if transposed else ", 'same', 'valid'"))
    case = dict(op="conv_transpose" if transposed else "conv", input_shape=list(shape),
                out_channels=args.get("out_channels"), kernel_size=per_dim(args.get("kernel_size"), ndim,
                                                                          "kernel_size", dotted),
                stride=per_dim(args.get("stride", 1), ndim, "stride", dotted),
                padding=padding if isinstance(padding, str) else per_dim(padding, ndim, "padding", dotted),
                dilation=per_dim(args.get("dilation", 1), ndim, "dilation", dotted),
                groups=args.get("groups", 1), bias=args.get("bias", True))
    if transposed:
        case["output_padding"] = per_dim(args.get("output_padding", 0), ndim, "output_padding", dotted)
    return case


def _keras_common(args, shape, dotted):
    ndim = len(shape) - 2
    if args.get("activation") not in (None, "linear"):
        raise UsageError(f"{dotted}: activation={args['activation']!r}: the case is the convolution alone; "
                         "port the activation separately (activation=None)")
    padding = str(args.get("padding", "valid")).lower()
    if padding not in ("valid", "same", "causal"):
        raise UsageError(f"{dotted}: padding={args.get('padding')!r}; allowed: 'valid', 'same', 'causal' (Conv1D)")
    return ndim, padding, dict(input_shape=list(shape), kernel_size=per_dim(args.get("kernel_size"), ndim,
                                                                           "kernel_size", dotted),
                               stride=per_dim(args.get("strides", 1), ndim, "strides", dotted),
                               dilation=per_dim(args.get("dilation_rate", 1), ndim, "dilation_rate", dotted),
                               bias=args.get("use_bias", True))


def _keras_conv(args, shape, dotted):
    _, padding, case = _keras_common(args, shape, dotted)
    return dict(op="conv", out_channels=args.get("filters"), padding=padding, groups=args.get("groups", 1), **case)


def _keras_depthwise(args, shape, dotted):
    _, padding, case = _keras_common(args, shape, dotted)
    return dict(op="conv", out_channels=shape[1] * args.get("depth_multiplier", 1), padding=padding,
                groups=shape[1], **case)


def _keras_conv_transpose(args, shape, dotted):
    ndim, padding, case = _keras_common(args, shape, dotted)
    op = args.get("output_padding")
    ops = [None] * ndim if op is None else per_dim(op, ndim, "output_padding", dotted)
    k_eff = [(k - 1) * d + 1 for k, d in zip(case["kernel_size"], case["dilation"])]
    fulls = [s * (n - 1) + k for n, k, s in zip(shape[2:], k_eff, case["stride"])]
    windows = [keras_transposed_window(n, k, s, padding, o) for n, k, s, o in zip(shape[2:], k_eff, case["stride"], ops)]
    pads, output_padding = transposed_padding(windows, fulls, oracle_keywords("conv_transpose", case, shape), ndim)
    return dict(op="conv_transpose", out_channels=args.get("filters"), padding=pads, output_padding=output_padding,
                groups=1, **case)


def oracle_keywords(op, case, shape) -> dict:
    """The case model's 'valid' and 'same' as (begin, end) pairs for these arguments (output_padding 0)."""
    ndim = len(shape) - 2
    return {kw: resolve_padding(op, kw, shape[2:], case["kernel_size"], case["stride"], case["dilation"], [0] * ndim)
            for kw in ("valid", "same")}


def _flax(args, shape, dotted, transposed, nnx):
    ndim = len(shape) - 2
    if nnx and args.get("in_features") != shape[1]:
        raise UsageError(f"{dotted}: in_features={args.get('in_features')!r} but --input-shape has {shape[1]} "
                         "channels (N,C,*spatial)")
    if args.get("input_dilation", 1) not in (1, (1,) * ndim, [1] * ndim):
        raise UsageError(f"{dotted}: input_dilation is not modelled by the case (only kernel_dilation)")
    out = args.get("out_features") if nnx else args.get("features")
    strides = args.get("strides", 1) if args.get("strides") is not None else 1
    case = dict(input_shape=list(shape), out_channels=out,
                kernel_size=per_dim(args.get("kernel_size"), ndim, "kernel_size", dotted),
                stride=per_dim(strides, ndim, "strides", dotted),
                dilation=per_dim(args.get("kernel_dilation") or 1, ndim, "kernel_dilation", dotted),
                bias=args.get("use_bias", True))
    padding = args.get("padding", "SAME")
    if isinstance(padding, str):
        padding = padding.lower()
        if padding not in ("same", "valid", "causal") or (padding == "causal" and (transposed or ndim != 1)):
            raise UsageError(f"{dotted}: padding={args.get('padding')!r}; allowed: 'SAME', 'VALID', 'CAUSAL' (1-D "
                             "Conv), an integer, or (low, high) pairs")
    if not transposed:
        pads = padding if isinstance(padding, str) else flax_pairs(padding, ndim, dotted)
        return dict(op="conv", padding=pads, groups=args.get("feature_group_count", 1), **case)
    k_eff = [(k - 1) * d + 1 for k, d in zip(case["kernel_size"], case["dilation"])]
    fulls = [s * (n - 1) + k for n, k, s in zip(shape[2:], k_eff, case["stride"])]
    if isinstance(padding, str):
        windows = [lax_transposed_window(n, k, s, padding) for n, k, s in zip(shape[2:], k_eff, case["stride"])]
    else:  # explicit lax padding of the stride-dilated input: (lo, hi) keeps [k_eff-1-lo, ...)
        windows = [(k - 1 - lo, (n - 1) * s + 1 + lo + hi - k + 1)
                   for n, k, s, (lo, hi) in zip(shape[2:], k_eff, case["stride"], flax_pairs(padding, ndim, dotted))]
        if any(b < 0 for b, _ in windows):
            raise UsageError(f"{dotted}: padding={padding!r} pads beyond k_eff - 1 at the start: not a crop of the "
                             "full output, which the case model cannot write")
    pads, output_padding = transposed_padding(windows, fulls, oracle_keywords("conv_transpose", case, shape), ndim)
    return dict(op="conv_transpose", padding=pads, output_padding=output_padding, groups=1, **case)


def flax_pairs(padding, ndim: int, dotted: str) -> list[list[int]]:
    if isinstance(padding, int):
        return [[padding, padding]] * ndim
    if isinstance(padding, (tuple, list)) and len(padding) == ndim:
        return [[p, p] if isinstance(p, int) else list(p) for p in padding]
    raise UsageError(f"{dotted}: padding={padding!r}: expected 'SAME', 'VALID', an integer, or {ndim} (low, high) pairs")


CONVERTERS = {
    "torch.conv": lambda a, s, d: _torch(a, s, d, False),
    "torch.conv_transpose": lambda a, s, d: _torch(a, s, d, True),
    "keras.conv": _keras_conv,
    "keras.depthwise": _keras_depthwise,
    "keras.conv_transpose": _keras_conv_transpose,
    "nnx.conv": lambda a, s, d: _flax(a, s, d, False, True),
    "nnx.conv_transpose": lambda a, s, d: _flax(a, s, d, True, True),
    "linen.conv": lambda a, s, d: _flax(a, s, d, False, False),
    "linen.conv_transpose": lambda a, s, d: _flax(a, s, d, True, False),
}
