"""A concrete, small case for one row of the feature model (one level per factor), and its YAML text.

The geometry comes from `feature_model.shape_examples()` (the smallest per-dim kernel, dilation and
stride with the row's levels); channels, batch and input sizes are the smallest that give the rest:
channels up to 8, or 9 where the row asks for more than 8; batch 1 or 2; each spatial size the
smallest of the row's parity that fits the effective kernel and the stride.
"""
from __future__ import annotations

from conformance.spec.case import Case
from conformance.spec.features import case_features
from conformance.spec.feature_model import NAMES, Row, case_rows, geometry_size, shape_examples

# (grouping, channel range) -> (C_in, C_out, groups)
CHANNELS = {
    ("none", "1"): (1, 1, 1), ("none", "2-8"): (2, 3, 1), ("none", "9+"): (3, 9, 1),
    ("grouped", "2-8"): (4, 2, 2), ("grouped", "9+"): (6, 9, 3),
    ("depthwise", "2-8"): (3, 3, 3), ("depthwise", "9+"): (9, 9, 9),
    ("multiplier", "2-8"): (2, 4, 2), ("multiplier", "9+"): (3, 9, 3),
}
TAGGED = ("grouped", "depthwise", "depth_multiplier", "causal", "output_padding")  # features used as tags
DTYPE_WORDS = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}


def _input_size(k_eff: int, stride: int, odd: bool, op: str) -> int:
    """A conv's input fits the effective kernel and two strides (so 'valid' has an output); a
    transposed conv's input is as short as the parity allows, since its output grows with the stride."""
    low = max(k_eff, stride + 1, 3) if op == "conv" else 2
    return low + (low % 2 != odd)


def _padding(form: str, k_eff: list[int]):
    """The YAML value of an explicit padding form; amounts stay within the kernel's overhang
    (k_eff - 1) where the form allows, so a window never lies wholly in the padding."""
    if form == "explicit_zero":
        return 0
    half = [(k - 1) // 2 for k in k_eff]
    if form == "explicit_symmetric":
        if not any(half):
            widest = k_eff.index(max(k_eff))
            half[widest] = max(1, k_eff[widest] - 1)
        return half
    widest = k_eff.index(max(k_eff))
    return [[h, h + 1] if i == widest else [h, h] for i, h in enumerate(half)]


def _fit_crop(spatial, stride, k_eff, padding) -> list[int]:
    """Input sizes, grown by 2 (the parity stays) until the crop leaves an output in every dim; the
    output_padding is left out of the full size, so this holds with or without it."""
    pairs = [(padding, padding)] * len(spatial) if isinstance(padding, int) else \
        [p if isinstance(p, list) else (p, p) for p in padding]
    out = []
    for n, s, k, (begin, end) in zip(spatial, stride, k_eff, pairs):
        while s * (n - 1) + k - begin - end < 1:
            n += 2
        out.append(n)
    return out


def case_dict(row: Row) -> dict:
    """The case (as the YAML loader reads it) whose levels are the row's."""
    lv = dict(zip(NAMES, row))
    key = tuple(lv[n] for n in ("dims", "stride", "dilation", "keff_vs_stride", "kernel"))
    # output_padding needs a dim with stride or dilation > 1; without it, the smaller example of either
    examples = [shape_examples().get(key + (True,))]
    if lv["output_padding"] == "none":
        examples.append(shape_examples().get(key + (False,)))
    dims = min((e for e in examples if e), key=geometry_size)
    kernel, dilation, stride = (list(x) for x in zip(*dims))
    k_eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    cin, cout, groups = CHANNELS[(lv["grouping"], lv["channels"])]
    spatial = [_input_size(k, s, lv["parity"] == "odd", lv["op"]) for k, s in zip(k_eff, stride)]
    d = {"op": lv["op"], "input_shape": [2 if lv["batch"] == "2+" else 1, cin, *spatial],
         "out_channels": cout, "kernel_size": _compact(kernel), "stride": _compact(stride)}
    form = lv["padding"]
    d["padding"] = form if not form.startswith("explicit") else _padding(form, k_eff)
    if lv["op"] == "conv_transpose" and form.startswith("explicit"):
        d["input_shape"][2:] = _fit_crop(spatial, stride, k_eff, d["padding"])
    d["dilation"] = _compact(dilation)
    if groups > 1:
        d["groups"] = groups
    if lv["output_padding"] == "some":
        # below the stride where a dim is strided (every framework's rule); where none is, below the
        # dilation (PyTorch's rule, output_padding < max(stride, dilation))
        strided = [1 if s > 1 else 0 for s in stride]
        d["output_padding"] = _compact(strided if any(strided) else [1 if dl > 1 else 0 for dl in dilation])
    if lv["bias"] == "no_bias":
        d["bias"] = False
    d["dtypes"] = [lv["dtype"]]
    d["id"] = case_id(lv, d)
    return d


def _compact(values: list[int]):
    return values[0] if len(set(values)) == 1 else values


def _word(value) -> str:
    return "x".join(map(str, value)) if isinstance(value, list) else str(value)


def case_id(lv: dict, d: dict) -> str:
    """An id that says every level: comb_conv2d_s2x1_d2_depthwise_same_lower_k3_gt_n2_nobias_c3to3_odd_f16."""
    op = "conv" if lv["op"] == "conv" else "convT"
    pad = lv["padding"].replace("explicit_", "pad_")
    parts = [f"comb_{op}{lv['dims'][0]}d", f"s{_word(d['stride'])}", f"d{_word(d['dilation'])}", lv["grouping"], pad,
             f"k{_word(d['kernel_size'])}", f"keff_{lv['keff_vs_stride']}",
             f"n{d['input_shape'][0]}", "bias" if lv["bias"] == "bias" else "nobias",
             f"c{d['input_shape'][1]}to{d['out_channels']}", lv["parity"]]
    if "output_padding" in d:
        parts.append(f"op{_word(d['output_padding'])}")
    return "_".join(parts + [DTYPE_WORDS[lv["dtype"]]])


def build(row: Row) -> Case:
    """The concrete case of a row, checked: its derived levels are the row's."""
    d = case_dict(row)
    case = Case.from_dict(d)
    if case_rows(case) != [tuple(row)]:
        raise AssertionError(f"{d['id']}: built levels {case_rows(case)} are not the row {row}")
    features = case_features(case)
    tags = [t for t in TAGGED if t in features]
    if case.padding == "same" and any(case.output_padding):
        tags.append("same_output_padding")
    if tags:
        d["tags"] = tags
    return Case.from_dict(d)


def _flow(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


FIELD_ORDER = ("id", "op", "input_shape", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
               "output_padding", "bias", "dtypes", "tags")


def case_yaml(case: Case) -> str:
    d = case_dict(case_rows(case)[0])
    if case.tags:
        d["tags"] = list(case.tags)
    lines = [f"  - id: {d['id']}"]
    lines += [f"    {k}: {_flow(d[k])}" for k in FIELD_ORDER[1:] if k in d]
    return "\n".join(lines) + "\n"

