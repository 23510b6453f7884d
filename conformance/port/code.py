"""The porting answer's code and words: each target's call as a user writes it, the weight and input
transposes from the case's (PyTorch's) layout, and what a keyword's padding is at an input size."""
from __future__ import annotations

from conformance.spec.case import Case

WORDS = {1: "one", 2: "two", 3: "three"}


def count_words(n: int) -> str:
    return WORDS.get(n, str(n))


def size(case: Case) -> str:
    return "x".join(map(str, case.in_spatial))


def axes(case: Case) -> str:
    return ", ".join(str(2 + i) for i in range(case.ndim))


def channels_last(case: Case) -> str:
    return f"x.transpose(0, {axes(case)}, 1) (N, *spatial, C)"


def kernel_last_text(case: Case) -> str:
    what = "(I, O/groups, *k) -> (*k, O/groups, I)" if case.op == "conv_transpose" else "(O, I/groups, *k) -> (*k, I/groups, O)"
    return f"kernel = w.transpose({axes(case)}, 1, 0)  # {what}"


def keras_weight(case: Case) -> str:
    from_depthwise = case.op == "conv" and case.is_depthwise and case.ndim in (1, 2)
    if from_depthwise:
        mult = case.out_channels // case.in_channels
        return (f"depthwise_kernel = w.reshape({case.in_channels}, {mult}, *w.shape[2:]).transpose({axes(case)}, 0, 1)"
                "  # (C*m, 1, *k) -> (*k, C, m)")
    return kernel_last_text(case)


def windows_text(case: Case, windows) -> str:
    if case.op == "conv":
        return "pads " + ", ".join(f"({b}, {e})" for b, e in windows) + " (begin, end per dim)"
    return "a crop keeping " + ", ".join(f"[{b}:{b + n}]" for b, n in windows) + " of the full output per dim"


def amounts(pairs, ndim: int) -> str:
    pairs = [tuple(p) for p in pairs]
    return str(pairs[0]) if ndim == 1 else str(tuple(pairs))


def keras_code(core: Case, cls: str, kwargs: dict, zero_padding=None, cropping=None) -> str:
    """`layers.X(...)`, in a `keras.Sequential` with the padding or cropping layer where there is one."""
    shown = {k: v for k, v in kwargs.items() if k not in ("dtype", "data_format") and v is not None
             and not (k == "groups" and v == 1) and not (k == "use_bias" and v)
             and not (k == "dilation_rate" and set(v) == {1})}
    text = f"layers.{cls}(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"
    nd = core.ndim
    if zero_padding:
        return f"keras.Sequential([layers.ZeroPadding{nd}D({amounts(zero_padding, nd)}), {text}])"
    if cropping:
        return f"keras.Sequential([{text}, layers.Cropping{nd}D({amounts(cropping, nd)})])"
    return text


def construction_label(case: Case, layers: dict) -> str:
    nd = case.ndim
    if layers.get("zero_padding"):
        return f"ZeroPadding{nd}D({amounts(layers['zero_padding'], nd)}) + padding='valid'"
    return f"padding='valid' + Cropping{nd}D({amounts(layers['cropping'], nd)})"


def torch_call(case: Case, layer: bool = False) -> str:
    """The functional call, or on a `.layer` target the layer built with the same arguments, called on x."""
    nd = case.ndim
    pad = case.padding if isinstance(case.padding, str) else [list(p) for p in case.pads]
    symmetric = not isinstance(pad, str) and all(b == e for b, e in case.pads)
    if case.op == "conv":
        padding = repr(pad) if isinstance(pad, str) else (str(tuple(b for b, _ in case.pads)) if symmetric else
                                                          f"<asymmetric {pad}: F.pad first>")
        args = f"stride={case.stride}, padding={padding}, dilation={case.dilation}, groups={case.groups}"
        name = f"Conv{nd}d"
    else:
        args = (f"stride={case.stride}, padding={tuple(b for b, _ in case.pads)}, output_padding={case.output_padding}, "
                f"groups={case.groups}, dilation={case.dilation}")
        name = f"ConvTranspose{nd}d"
    if layer:
        return (f"torch.nn.{name}({case.in_channels}, {case.out_channels}, {case.kernel_size}, {args}"
                f"{'' if case.bias else ', bias=False'})(x)")
    fn = f"conv{nd}d" if case.op == "conv" else f"conv_transpose{nd}d"
    return f"torch.nn.functional.{fn}(x, w, b, {args})"


def lax_pads(case: Case) -> list[tuple[int, int]]:
    """lax's explicit padding: a conv's own pads; a transposed conv's padding of the stride-dilated input
    (k_eff - 1 - begin, k_eff - 1 - end + output_padding), as conformance/adapters/jax_adapter.py passes it."""
    if case.op == "conv":
        return [tuple(p) for p in case.pads]
    return [(k - 1 - b, k - 1 - e + op) for k, (b, e), op in zip(case.effective_kernel, case.pads, case.output_padding)]


def lax_call(case: Case, keyword: str | None = None) -> str:
    nd = case.ndim
    dims = (("NWC", "WIO", "NWC"), ("NHWC", "HWIO", "NHWC"), ("NDHWC", "DHWIO", "NDHWC"))[nd - 1]
    padding = repr(keyword) if keyword else str(tuple(lax_pads(case)))
    if case.op == "conv":
        return (f"jax.lax.conv_general_dilated(x, kernel, window_strides={case.stride}, padding={padding}, "
                f"rhs_dilation={case.dilation}, dimension_numbers={dims}, feature_group_count={case.groups}) + b")
    return (f"jax.lax.conv_transpose(x, kernel, strides={case.stride}, padding={padding}, "
            f"rhs_dilation={case.dilation}, dimension_numbers={dims}, transpose_kernel=True) + b")


def flax_call(case: Case, keyword: str | None = None) -> str:
    pad = keyword or (case.padding.upper() if isinstance(case.padding, str) else None)
    if case.op == "conv":
        padding = repr(pad) if pad else str(tuple(tuple(p) for p in case.pads))
        return (f"flax.linen.Conv({case.out_channels}, {case.kernel_size}, strides={case.stride}, padding={padding}, "
                f"kernel_dilation={case.dilation}, feature_group_count={case.groups}, use_bias={case.bias})")
    padding = repr(pad) if pad and not any(case.output_padding) else str(tuple(lax_pads(case)))
    return (f"flax.linen.ConvTranspose({case.out_channels}, {case.kernel_size}, strides={case.stride}, "
            f"padding={padding}, kernel_dilation={case.dilation}, use_bias={case.bias}, transpose_kernel=True)")


def pad_text(pairs) -> str:
    flat = tuple(int(v) for pair in reversed([tuple(p) for p in pairs]) for v in pair)
    return f"{flat} (the last dim first)"


def slice_text(crops) -> str:
    return "[..., " + ", ".join(f"{b}:{-e if e else ''}" for b, e in crops) + "]"


def torch_pad_call(core: Case, pads, layer: bool = False) -> str:
    call = torch_call(core, layer)
    flat = pad_text(pads).split(" (")[0]
    return call[:-3] + f"(F.pad(x, {flat}))" if layer else call.replace("(x, w, b,", f"(F.pad(x, {flat}), w, b,", 1)


def torch_slice_call(core: Case, crops, layer: bool = False) -> str:
    return torch_call(core, layer) + slice_text(crops)


def tf_call(case: Case, pads=None, crops=None) -> str:
    """tf.nn's call on channels-last x: the case's own padding (a keyword, or explicit pairs on the 2-D
    functions), or 'VALID' after tf.pad (`pads`) or before a slice (`crops`)."""
    nd = case.ndim
    if isinstance(case.padding, str):
        padding = repr(case.padding.upper())
    else:
        padding = str([[0, 0]] + [list(p) for p in case.pads] + [[0, 0]])
    x = f"tf.pad(x, {[[0, 0]] + [list(p) for p in pads] + [[0, 0]]})" if pads else "x"
    if case.op == "conv":
        name = "conv2d" if nd == 2 and not isinstance(case.padding, str) else "convolution"
        text = (f"tf.nn.{name}({x}, kernel, strides={list(case.stride)}, padding={padding}, "
                f"dilations={list(case.dilation)}) + b")
    else:
        shape = [case.batch, *case.out_spatial, case.out_channels]
        text = (f"tf.nn.conv{nd}d_transpose({x}, kernel, output_shape={shape}, strides={list(case.stride)}, "
                f"padding={padding}, dilations={list(case.dilation)})")
        if crops:
            text += "[:, " + ", ".join(f"{b}:{-e if e else ''}" for b, e in crops) + ", :]"
        text += " + b"
    return text


def tf_depthwise_call(case: Case) -> str:
    """tf.nn.depthwise_conv2d on channels-last x: the grouped kernel (*k, 1, C*m) reshaped to (*k, C, m)."""
    padding = repr(case.padding.upper()) if isinstance(case.padding, str) else str(
        [[0, 0]] + [list(p) for p in case.pads] + [[0, 0]])
    shape = (*case.kernel_size, case.in_channels, case.out_channels // case.in_channels)
    return (f"tf.nn.depthwise_conv2d(x, tf.reshape(kernel, {shape}), strides={[1, *case.stride, 1]}, "
            f"padding={padding}, dilations={list(case.dilation)}) + b")


def onnx_node(case: Case, attrs: dict) -> str:
    op = "Conv" if case.op == "conv" else "ConvTranspose"
    return f"onnx.helper.make_node({op!r}, ['X', 'W', 'B'], ['Y'], " + ", ".join(
        f"{k}={v!r}" for k, v in attrs.items()) + ")"
