"""A native layer constructor, written the way the user writes it, read into a case of the library's
own model: `torch.nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)` plus an input
shape. The text is parsed with `ast` and its arguments read with `ast.literal_eval`: nothing is ever
evaluated, so a call holds literals only (keywords that do not change the numbers, such as
`rngs=nnx.Rngs(0)` or `name=...`, may hold anything: they are skipped unread).

Each framework's arguments mean what that framework documents; where its padding keyword means
something else than the case model's (a transposed 'same' or 'valid' in Keras or Flax), the padding is
written as the amounts the framework crops (conventions.py), so the case is what that layer computes.
"""
from __future__ import annotations

import ast
import re

from conformance.errors import UsageError, did_you_mean
from conformance.port import conventions

TORCH = re.compile(r"^Conv(Transpose)?([123])d$")
KERAS = re.compile(r"^(Depthwise)?Conv([123])D(Transpose)?$")
FLAX = re.compile(r"^Conv(Transpose)?$")
# keyword -> the argument positions of each constructor, in order (what a positional argument means)
POSITIONAL = {
    "torch.conv": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
                   "padding_mode"),
    "torch.conv_transpose": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                             "groups", "bias", "dilation", "padding_mode"),
    "keras.conv": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
                   "activation", "use_bias"),
    "keras.conv_transpose": ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
                             "dilation_rate", "activation", "use_bias"),
    "keras.depthwise": ("kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate",
                        "activation", "use_bias"),
    "nnx.conv": ("in_features", "out_features", "kernel_size", "strides"),
    "nnx.conv_transpose": ("in_features", "out_features", "kernel_size", "strides"),
    "linen.conv": ("features", "kernel_size", "strides", "padding", "input_dilation", "kernel_dilation",
                   "feature_group_count", "use_bias"),
    "linen.conv_transpose": ("features", "kernel_size", "strides", "padding", "kernel_dilation", "use_bias"),
}
KEYWORD_ONLY = {"nnx.conv": ("padding", "input_dilation", "kernel_dilation", "feature_group_count", "use_bias"),
                "nnx.conv_transpose": ("padding", "kernel_dilation", "use_bias", "transpose_kernel"),
                "linen.conv_transpose": ("transpose_kernel",)}
# Keywords that do not change what the layer computes from given weights: skipped, never read.
NUMERICALLY_INERT = {
    "torch": ("device", "dtype"),
    "keras": ("name", "dtype", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
              "activity_regularizer", "kernel_constraint", "bias_constraint", "trainable", "lora_rank",
              "depthwise_initializer", "depthwise_regularizer", "depthwise_constraint"),
    "flax": ("rngs", "dtype", "param_dtype", "precision", "kernel_init", "bias_init", "name", "parent"),
}


def parse_call(text: str, input_shape: tuple[int, ...]) -> dict:
    """The case dict (Case.from_dict's input) of the constructor call `text` on an input of
    `input_shape` (N, C_in, *spatial: channels first, the suite's layout, whatever the framework's)."""
    call = _call_node(text)
    dotted = ast.unparse(call.func)
    kind, ndim, signature = _constructor(dotted)
    args = _arguments(call, signature, kind, dotted)
    if ndim is not None and len(input_shape) != ndim + 2:
        raise UsageError(f"--input-shape {','.join(map(str, input_shape))}: {dotted} takes {ndim} spatial dims, so "
                         f"the input is N,C,{','.join('d' * ndim)} ({ndim + 2} numbers, channels first)")
    case = conventions.CONVERTERS[signature](args, input_shape, dotted)
    return {"id": case_id(text), **case}


def case_id(text: str) -> str:
    """The call itself, on one line without spaces: the id the records and the output name it by."""
    return re.sub(r"\s+", "", text)


def _call_node(text: str) -> ast.Call:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise UsageError(f"not a constructor call: {text!r} ({exc.msg}); write it as in your code, e.g. "
                         "\"torch.nn.Conv2d(3, 32, 3, stride=2, padding=1)\"") from None
    if not isinstance(tree.body, ast.Call):
        raise UsageError(f"not a constructor call: {text!r}; write it as in your code, e.g. "
                         "\"keras.layers.Conv2D(32, 3, strides=2, padding='same')\"")
    return tree.body


def _constructor(dotted: str) -> tuple[str, int | None, str]:
    """(framework, spatial dims or None, signature key) of a constructor's dotted name."""
    parts = dotted.split(".")
    name = parts[-1]
    if TORCH.match(name):
        m = TORCH.match(name)
        return "torch", int(m.group(2)), "torch.conv_transpose" if m.group(1) else "torch.conv"
    if KERAS.match(name):
        m = KERAS.match(name)
        if m.group(1) and m.group(3):
            raise UsageError(f"{dotted}: Keras has no depthwise transposed layer")
        if m.group(1) and m.group(2) == "3":
            raise UsageError(f"{dotted}: Keras has no DepthwiseConv3D (write Conv3D with groups)")
        return "keras", int(m.group(2)), ("keras.depthwise" if m.group(1) else
                                          "keras.conv_transpose" if m.group(3) else "keras.conv")
    if FLAX.match(name):
        api = "nnx" if "nnx" in parts else "linen"
        return "flax", None, f"{api}.{'conv_transpose' if name.endswith('Transpose') else 'conv'}"
    known = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Conv1D", "Conv2D",
             "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D",
             "Conv", "ConvTranspose"]
    raise UsageError(f"unknown layer {dotted!r}{did_you_mean(name, known)}; known: PyTorch nn.ConvNd and "
                     "nn.ConvTransposeNd, Keras layers.ConvND, ConvNDTranspose and DepthwiseConvND, Flax nnx/linen Conv "
                     "and ConvTranspose")


def _arguments(call: ast.Call, signature: str, framework: str, dotted: str) -> dict:
    """name -> literal value of every argument, positional ones named by the constructor's order."""
    positional = POSITIONAL[signature]
    allowed = positional + KEYWORD_ONLY.get(signature, ())
    if len(call.args) > len(positional):
        raise UsageError(f"{dotted} takes at most {len(positional)} positional arguments "
                         f"({', '.join(positional)}), got {len(call.args)}")
    values = {name: _literal(node, name, dotted) for name, node in zip(positional, call.args)}
    for kw in call.keywords:
        if kw.arg is None:
            raise UsageError(f"{dotted}: **kwargs cannot be read; write each keyword")
        if kw.arg in NUMERICALLY_INERT[framework if framework != "flax" else "flax"]:
            continue
        if kw.arg not in allowed:
            raise UsageError(f"{dotted}: unknown keyword {kw.arg!r}{did_you_mean(kw.arg, allowed)}; allowed: "
                             f"{', '.join(allowed)} (and, unread: {', '.join(NUMERICALLY_INERT[framework])})")
        if kw.arg in values:
            raise UsageError(f"{dotted}: {kw.arg!r} is given twice (by position and by keyword)")
        values[kw.arg] = _literal(kw.value, kw.arg, dotted)
    return values


def _literal(node, name: str, dotted: str):
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise UsageError(f"{dotted}: {name}={ast.unparse(node)} is not a literal; write the value itself "
                         "(numbers, tuples, strings, True/False/None)") from None
