"""The default case library (cases/*.yaml) covers what it promises, stays small, and its tags are true.

Every assertion is computed from the cases' own attributes (or, for padding forms that the case
model normalises away, from the raw YAML), so removing a case that gives some coverage, or
mis-tagging one, makes a test here fail.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from conformance import load_cases
from conformance.spec.case import DEFAULTS, FIELDS
from conformance.spec.dtypes import DTYPE_NAMES
from conformance.spec.features import FEATURES, case_features
from conformance.spec.loader import case_files, expand_matrix, load_file

CASES_DIR = Path(__file__).resolve().parents[1] / "cases"
README = CASES_DIR / "README.md"

# The default library's own files (seeds.yaml, the lead's worked examples, is checked elsewhere).
LIBRARY_FILES = ("conv1d.yaml", "conv2d.yaml", "conv3d.yaml", "grouped.yaml", "transposed.yaml", "same_lower.yaml",
                 "dtypes.yaml", "combinations.yaml", "edges.yaml")
GEOMETRY_FILES = tuple(f for f in LIBRARY_FILES if f not in ("dtypes.yaml", "combinations.yaml"))

# The size budget is the main job's run time (benchmarks/README.md: every target within 15 minutes
# cold, 3 warm, on 2 cores); the README's test command runs a sample (tests/test_every_target.py).
MIN_CASES, MAX_CASES = 400, 700  # expanded cases in the whole folder
# sum over cases of len(dtypes), edges.yaml apart: the hand-written library's 720 plus the generated
# combinations.yaml's (34 today; regenerated when the hand-written files change), with room for a few more
MAX_CASE_DTYPE_PAIRS = 800
# edges.yaml has a budget of its own, outside the one above: its cases are empty or one-element
# tensors, which compute (almost) nothing, in float32 alone.
EDGE_FILES, MAX_EDGE_CASE_DTYPE_PAIRS = ("edges.yaml",), 60
# layers.yaml, the default library's real layers, has a budget of its own, outside the ones above
# (cases/README.md): few cases, but real layers' tensors in every dtype, some at 1 and at all threads.
# Its run time follows its units (case, dtype, thread count: each is a cold compile or export on the
# compiling targets) and its work, not its count: cases/README.md has its measured time per target
# (benchmarks/README.md's budget: every target within 15 minutes cold, 3 warm, for the whole library).
LAYER_FILES = ("layers.yaml",)
MAX_LAYER_CASES, MAX_LAYER_PAIRS, MAX_LAYER_UNITS = 16, 64, 96
MAX_LAYER_MACS = 300_000_000  # one forward pass of every case, summed
# cases/large/layers.yaml, the extended set run on request, keeps the budget it had.
MAX_LARGE_LAYER_CASES, MAX_LARGE_LAYER_PAIRS = 40, 160
MAX_LARGE_LAYER_MACS = 600_000_000
OPS = ("conv", "conv_transpose")


# --------------------------------------------------------------------------- loading
ALL = load_cases(CASES_DIR)
BY_ID = {c.id: c for c in ALL}


def _file(case) -> str:
    return Path(case.origin[0]).name


LIB = [c for c in ALL if _file(c) in LIBRARY_FILES]


def _raw_cases() -> dict[str, dict]:
    """id -> the raw field dict (file defaults applied, matrix expanded), before normalisation."""
    out = {}
    for path in case_files([CASES_DIR]):
        if path.name not in LIBRARY_FILES:
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        defaults = data.get("defaults") or {}
        for entry in data["cases"]:
            for d in expand_matrix(entry):
                out[d["id"]] = {**DEFAULTS, **defaults, **d}
    return out


RAW = _raw_cases()


def padding_form(raw_padding) -> str:
    """How a case wrote its padding: a keyword, 'int', 'per_dim' (ints), 'pairs' or 'mixed'."""
    if isinstance(raw_padding, str):
        return raw_padding.lower()
    if isinstance(raw_padding, int):
        return "int"
    if all(isinstance(p, int) for p in raw_padding):
        return "per_dim"
    if all(isinstance(p, list) for p in raw_padding):
        return "pairs"
    return "mixed"


def of_op(op):
    return [c for c in LIB if c.op == op]


def _pad_total_minus(c):
    """Per dim: k_eff - stride (the 'same' total for conv_transpose and for conv on divisible sizes)."""
    return [ke - s for ke, s in zip(c.effective_kernel, c.stride)]


# --------------------------------------------------------------------------- size and budget
SMALL = ALL  # the default library; cases/large/ is run on request (cases/README.md)
LAYERS = [c for c in ALL if _file(c) in LAYER_FILES]
LARGE_LAYERS = load_cases(CASES_DIR / "large" / "layers.yaml")


def test_library_size_within_budget():
    n = len(SMALL)
    assert MIN_CASES <= n <= MAX_CASES, f"library has {n} expanded cases, but should have {MIN_CASES}-{MAX_CASES}"


def test_dtype_budget():
    pairs = sum(len(c.dtypes) for c in SMALL if _file(c) not in EDGE_FILES + LAYER_FILES)
    assert pairs <= MAX_CASE_DTYPE_PAIRS, f"{pairs} (case, dtype) pairs, but the budget is {MAX_CASE_DTYPE_PAIRS}"
    edges = [c for c in ALL if _file(c) in EDGE_FILES]
    assert sum(len(c.dtypes) for c in edges) <= MAX_EDGE_CASE_DTYPE_PAIRS
    assert all(math.prod(c.output_shape) <= 64 for c in edges), "edge cases stay empty or tiny"


def _forward_macs(c) -> int:
    """Multiply-adds of one forward pass: each output element of a conv sums C_in/g * prod(k)
    products; each input element of a transposed conv scatters into C_out/g * prod(k) outputs."""
    if c.op == "conv":
        return math.prod(c.output_shape) * c.in_channels // c.groups * math.prod(c.kernel_size)
    return math.prod(c.input_shape) * c.out_channels // c.groups * math.prod(c.kernel_size)


def _reduction(c) -> int:
    """K: the products each output element sums (a transposed conv's gradient w.r.t. its input is a
    conv over C_out / groups * prod(kernel))."""
    return (c.in_channels if c.op == "conv" else c.out_channels) // c.groups * math.prod(c.kernel_size)


def test_real_layers_within_their_budget():
    pairs, macs = sum(len(c.dtypes) for c in LAYERS), sum(_forward_macs(c) for c in LAYERS)
    units = sum(len(c.dtypes) * len(c.threads) for c in LAYERS)
    assert 0 < len(LAYERS) <= MAX_LAYER_CASES and pairs <= MAX_LAYER_PAIRS, (len(LAYERS), pairs)
    assert units <= MAX_LAYER_UNITS, f"layers.yaml has {units} (case, dtype, threads) units; the budget is {MAX_LAYER_UNITS}"
    assert macs <= MAX_LAYER_MACS, f"layers.yaml needs {macs:,} multiply-adds per pass; the budget is {MAX_LAYER_MACS:,}"


def test_large_layers_within_their_budget():
    pairs, macs = sum(len(c.dtypes) for c in LARGE_LAYERS), sum(_forward_macs(c) for c in LARGE_LAYERS)
    assert 0 < len(LARGE_LAYERS) <= MAX_LARGE_LAYER_CASES and pairs <= MAX_LARGE_LAYER_PAIRS
    assert macs <= MAX_LARGE_LAYER_MACS, f"large/layers.yaml needs {macs:,} multiply-adds per pass"


def test_large_layers_do_not_repeat_the_default_ones():
    """The extended set adds layers; the same id in both would run the same records twice."""
    assert not {c.id for c in LAYERS} & {c.id for c in LARGE_LAYERS}
    assert {c.id for c in LARGE_LAYERS}.isdisjoint(BY_ID)


@pytest.mark.parametrize("layers", [LAYERS, LARGE_LAYERS], ids=["layers", "large_layers"])
def test_real_layers_name_their_source_and_run_every_dtype(layers):
    for c in layers:
        assert c.source and ("github.com" in c.source or "arXiv" in c.source), c.id
        assert set(c.dtypes) == set(DTYPE_NAMES), c.id


def _conv2d(c, k, s=1):
    return c.op == "conv" and c.ndim == 2 and c.kernel_size == k and c.stride == (s, s)


# Issue 23's list of real layers, each a rule on the case's geometry: the default library holds them all.
REAL_LAYERS = {
    "ResNet 7x7/2 stem, 3 -> 64": lambda c: _conv2d(c, (7, 7), 2) and (c.in_channels, c.out_channels) == (3, 64),
    "ResNet 1x1 bottleneck, 64-256 ch": lambda c: _conv2d(c, (1, 1)) and c.groups == 1
    and 64 <= min(c.in_channels, c.out_channels) and max(c.in_channels, c.out_channels) <= 256,
    "ResNet 3x3 bottleneck, 64-256 ch": lambda c: _conv2d(c, (3, 3)) and c.groups == 1 and c.dilation == (1, 1)
    and 64 <= c.in_channels <= 256,
    **{f"depthwise {k}x{k} stride {s}, 32-960 ch": (lambda k, s: lambda c: _conv2d(c, (k, k), s) and c.is_depthwise
                                                     and 32 <= c.in_channels <= 960)(k, s)
       for k in (3, 5) for s in (1, 2)},
    "depthwise at 960 ch": lambda c: c.is_depthwise and c.in_channels == 960,
    "DeepLab atrous 3x3, rate 6-18": lambda c: _conv2d(c, (3, 3)) and 6 <= min(c.dilation) <= max(c.dilation) <= 18,
    "Inception 1x7": lambda c: _conv2d(c, (1, 7)),
    "Inception 7x1": lambda c: _conv2d(c, (7, 1)),
    "U-Net 2x2/2 transposed, 64-512 ch": lambda c: c.op == "conv_transpose" and c.kernel_size == (2, 2)
    and c.stride == (2, 2) and 64 <= c.out_channels and c.in_channels <= 512,
    "DCGAN 4x4/2/1 transposed, 64-512 ch": lambda c: c.op == "conv_transpose" and c.kernel_size == (4, 4)
    and c.stride == (2, 2) and c.pads == ((1, 1), (1, 1)) and 64 <= c.out_channels and c.in_channels <= 512,
    "WaveNet/TCN causal dilation 512, a sequence of twice that": lambda c: c.padding == "causal"
    and c.dilation == (512,) and c.in_spatial[0] >= 2 * 512,
    "3-D U-Net 3x3x3 at 32 ch": lambda c: c.op == "conv" and c.kernel_size == (3, 3, 3) and c.in_channels == 32,
    "speech Conv1d 80 -> 512": lambda c: c.op == "conv" and c.ndim == 1
    and (c.in_channels, c.out_channels) == (80, 512),
}


@pytest.mark.parametrize("layer", REAL_LAYERS)
def test_real_layer_in_the_default_library(layer):
    assert any(REAL_LAYERS[layer](c) for c in LAYERS), f"cases/layers.yaml has no {layer}"


def test_real_layers_reach_real_reductions_and_every_cores_threads():
    """At every core's threads: a 1x1, a long 3x3, a depthwise, a transposed, a 1-D dilated and a
    3-D conv (the kinds of kernel whose choice or reduction order depends on the thread count)."""
    threaded = [c for c in LAYERS if c.threads == (1, "all")]
    assert any(c.kernel_size == (1, 1) for c in threaded) and any(c.is_depthwise for c in threaded)
    assert {"conv_transpose", "conv"} == {c.op for c in threaded} and {1, 2, 3} == {c.ndim for c in threaded}
    assert any(c.ndim == 1 and max(c.dilation) > 1 for c in threaded)
    assert any(_reduction(c) >= 2000 for c in threaded if c.op == "conv")
    k = [_reduction(c) for c in LAYERS]
    assert sum(x >= 1000 for x in k) >= 4, sorted(k)
    assert {c.op for c in LAYERS if _reduction(c) >= 2000} == set(OPS), "a conv and a transposed conv with K >= 2000"


@pytest.mark.parametrize("name", LIBRARY_FILES)
def test_file_exists_has_description_and_cases(name):
    path = CASES_DIR / name
    assert path.is_file(), f"{name} is missing"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data.get("description"), str) and data["description"].strip(), f"{name} has no description"
    assert load_file(path), f"{name} has no cases"


@pytest.mark.parametrize("name", GEOMETRY_FILES)
def test_geometry_files_default_to_float32(name):
    data = yaml.safe_load((CASES_DIR / name).read_text(encoding="utf-8"))
    assert (data.get("defaults") or {}).get("dtypes") == ["float32"], f"{name}: defaults.dtypes should be [float32]"


def test_tensors_are_small():
    """Each case must run in milliseconds on a CI CPU core."""
    too_big = []
    # combinations.yaml has its own rule (tests/test_coverage.py): its '9+ channels' depthwise cases need
    # 9 input channels, and its 3-D transposed cases at stride 3+ give up to ~14k output elements
    for c in (c for c in LIB if _file(c) != "combinations.yaml"):
        limit = 6 if c.ndim == 3 else 12
        macs = math.prod(c.output_shape if c.op == "conv" else c.input_shape) \
            * (c.in_channels if c.op == "conv" else c.out_channels) // c.groups * math.prod(c.kernel_size)
        if (c.batch > 3 or c.in_channels > 8 or c.out_channels > 9 or max(c.in_spatial) > limit
                or math.prod(c.output_shape) > 2048 or macs > 100_000):
            too_big.append(f"{c.id}: {c.describe()}")
    assert not too_big, "cases too large for the CI budget:\n" + "\n".join(too_big)


# --------------------------------------------------------------------------- ids
_VALUE = r"(?:[A-Za-z0-9_.+-]|\[[0-9,]+\])+"  # 3, 1x2, [0,1]x[1,0], float16+float32, same
_ITEM = rf"([a-z_]+)={_VALUE}"
ID_RE = re.compile(rf"^[A-Za-z][A-Za-z0-9_]*(\[{_ITEM}(,{_ITEM})*\])?$")


def test_ids_unique():
    counts = Counter(c.id for c in ALL)
    dupes = [i for i, n in counts.items() if n > 1]
    assert not dupes, f"duplicate ids: {dupes}"


def test_ids_readable():
    bad = [c.id for c in LIB if not ID_RE.match(c.id)]
    assert not bad, f"ids not of the form base_id[field=value,...]: {bad[:10]}"
    fields = {m for c in LIB for m in re.findall(r"[\[,]([a-z_]+)=", c.id)}
    assert fields <= set(FIELDS), f"ids name fields that do not exist: {fields - set(FIELDS)}"


# The one id the brief fixes by name; every other base id names its op and dimensionality.
ID_EXCEPTIONS = {"tf_same_k3_s2"}


def test_base_ids_name_op_and_ndim():
    bad = []
    for c in LIB:
        base = c.id.split("[", 1)[0]
        if base in ID_EXCEPTIONS:
            continue
        want = f"conv{c.ndim}d" if c.op == "conv" else f"convT{c.ndim}d"
        if not re.search(rf"(^|_){want}(_|$)", base):
            bad.append(f"{c.id} ({c.op} {c.ndim}-D, expected '{want}' in the id)")
    assert not bad, "ids that do not say what they are:\n" + "\n".join(bad)


# --------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_every_dtype_appears_per_op(dtype, op):
    assert any(dtype in c.dtypes for c in of_op(op)), f"no {op} case runs {dtype}"


def test_float64_in_geometry_files():
    geo = [c for c in LIB if _file(c) in GEOMETRY_FILES]
    n64 = sum("float64" in c.dtypes for c in geo)
    assert n64 >= 20, f"only {n64} geometry cases run float64"
    assert n64 <= len(geo) // 3, f"{n64} of {len(geo)} geometry cases run float64; keep it a modest subset"
    assert {c.op for c in geo if "float64" in c.dtypes} == set(OPS)


def test_dtypes_file():
    cases = [c for c in LIB if _file(c) == "dtypes.yaml"]
    assert 20 <= len(cases) <= 30, f"dtypes.yaml has {len(cases)} cases, but should have 20-30"
    for c in cases:
        assert set(c.dtypes) == set(DTYPE_NAMES), f"{c.id} runs {c.dtypes}, not every dtype"
    assert {(c.op, c.ndim) for c in cases} == {(op, nd) for op in OPS for nd in (1, 2, 3)}
    assert any(c.groups > 1 for c in cases) and any(c.is_depthwise for c in cases)
    assert any(max(c.stride) > 1 for c in cases)
    assert {c.op for c in cases if c.groups > 1} == set(OPS)


# --------------------------------------------------------------------------- geometry coverage
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_ndim(op, ndim):
    assert any(c.ndim == ndim for c in of_op(op)), f"no {ndim}-D {op} case"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_stride(op, stride):
    assert any(stride in c.stride for c in of_op(op)), f"no {op} case with stride {stride}"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("ndim", [2, 3])
def test_unequal_strides(op, ndim):
    assert any(c.ndim == ndim and len(set(c.stride)) > 1 for c in of_op(op)), \
        f"no {ndim}-D {op} case with unequal per-dim strides"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_dilation(op, dilation):
    assert any(dilation in c.dilation for c in of_op(op)), f"no {op} case with dilation {dilation}"


@pytest.mark.parametrize("op", OPS)
def test_dilation_with_stride(op):
    assert any(max(c.dilation) > 1 and max(c.stride) > 1 for c in of_op(op))


# Each padding form as the case file wrote it (the model normalises int / per-dim / pairs alike).
PADDING_FORMS = [("conv", f) for f in ("valid", "same", "causal", "int", "per_dim", "pairs", "mixed")] + \
                [("conv_transpose", f) for f in ("valid", "same", "int", "per_dim", "pairs", "mixed")]


@pytest.mark.parametrize("op,form", PADDING_FORMS, ids=[f"{o}-{f}" for o, f in PADDING_FORMS])
def test_padding_form(op, form):
    hits = [c for c in of_op(op) if padding_form(RAW[c.id]["padding"]) == form]
    assert hits, f"no {op} case writes its padding as {form!r}"
    if form == "per_dim":  # meaningful only where dims get different amounts
        assert any(c.ndim >= 2 and len({b for b, _ in c.pads}) > 1 for c in hits), \
            f"no multi-dim {op} case with different per-dim padding"
    if form in ("pairs", "mixed"):
        assert any(not c.symmetric_padding for c in hits), f"no asymmetric [begin, end] {op} case"


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_asymmetric_pairs_per_ndim(ndim):
    assert any(c.ndim == ndim and padding_form(RAW[c.id]["padding"]) in ("pairs", "mixed")
               and not c.symmetric_padding for c in LIB)


def test_causal_only_1d_conv():
    causal = [c for c in LIB if c.padding == "causal"]
    assert causal and all(c.op == "conv" and c.ndim == 1 for c in causal)
    assert any(max(c.dilation) > 1 for c in causal) and any(max(c.stride) > 1 for c in causal)


SAME_PARITY = [(op, p) for op in OPS for p in ("odd", "even")]


@pytest.mark.parametrize("op,parity", SAME_PARITY, ids=[f"{o}-k_eff_minus_stride_{p}" for o, p in SAME_PARITY])
def test_same_with_k_eff_minus_stride_parity(op, parity):
    """Where frameworks' 'same' diverge: the total padding/crop k_eff - stride is odd."""
    want = 1 if parity == "odd" else 0
    hits = [c for c in of_op(op) if c.padding == "same"
            and any(d > 0 and d % 2 == want for d in _pad_total_minus(c))]
    assert hits, f"no {op} 'same' case with k_eff - stride {parity} and positive"
    assert any(c.stride[i] > 1 and _pad_total_minus(c)[i] % 2 == want and _pad_total_minus(c)[i] > 0
               for c in hits for i in range(c.ndim)), "... and none of them strided"


@pytest.mark.parametrize("op", OPS)
def test_same_odd_total_resolves_with_extra_at_end(op):
    odd = [c for c in of_op(op) if c.padding == "same" and any((b + e) % 2 and b + e > 0 for b, e in c.pads)]
    assert odd, f"no {op} 'same' case with an odd total"
    for c in odd:
        assert all(e - b in (0, 1) for b, e in c.pads if b + e > 0), f"{c.id}: pads {c.pads}"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("padding", ["valid", "same", "explicit"])
def test_kernel_smaller_than_stride(op, padding):
    hits = [c for c in of_op(op) if any(k < s for k, s in zip(c.kernel_size, c.stride))
            and (c.padding == padding or (padding == "explicit" and not isinstance(c.padding, str)))]
    assert hits, f"no {op} case with kernel < stride and {padding} padding"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("parity", ["odd", "even"])
def test_kernel_parity(op, parity):
    want = 1 if parity == "odd" else 0
    assert any(any(k > 1 and k % 2 == want for k in c.kernel_size) for c in of_op(op))


GROUPINGS = {
    "grouped": lambda c: 1 < c.groups < c.in_channels,
    "depthwise": lambda c: c.is_depthwise and c.out_channels == c.in_channels,
    "depth_multiplier": lambda c: c.is_depthwise and c.out_channels > c.in_channels
    and c.out_channels % c.in_channels == 0,
    "fewer_outputs": lambda c: c.groups > 1 and c.out_channels < c.in_channels,
}
GROUP_CASES = [(op, what) for op in OPS for what in GROUPINGS]


@pytest.mark.parametrize("op,what", GROUP_CASES, ids=[f"{o}-{w}" for o, w in GROUP_CASES])
def test_groups(op, what):
    assert any(GROUPINGS[what](c) for c in of_op(op)), f"no {op} case: {what}"


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_depthwise_per_ndim(ndim):
    assert {c.op for c in LIB if c.ndim == ndim and c.is_depthwise} == set(OPS)


OUTPUT_PADDING = [(2, 1), (3, 1), (3, 2)]


@pytest.mark.parametrize("stride,output_padding", OUTPUT_PADDING, ids=[f"s{s}_op{p}" for s, p in OUTPUT_PADDING])
def test_output_padding(stride, output_padding):
    assert any(any(s == stride and p == output_padding for s, p in zip(c.stride, c.output_padding))
               for c in of_op("conv_transpose"))


def test_output_padding_below_stride_or_dilation():
    """PyTorch's rule: output_padding < max(stride, dilation); a case breaking it tests nothing useful."""
    bad = [c.id for c in of_op("conv_transpose")
           if any(p >= max(s, d) for p, s, d in zip(c.output_padding, c.stride, c.dilation))]
    assert not bad, bad


def test_output_padding_per_dim_and_crop_with_same():
    ct = of_op("conv_transpose")
    assert any(len(set(c.output_padding)) > 1 for c in ct), "no per-dim output_padding"
    assert any(c.padding == "same" and any(c.output_padding) for c in ct), "no 'same' with output_padding"
    assert any(any(c.output_padding) and any(b + e for b, e in c.pads) for c in ct), "no output_padding with a crop"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_bias(op, bias):
    assert any(c.bias is bias for c in of_op(op))


@pytest.mark.parametrize("op", OPS)
def test_batch_gt_1(op):
    assert any(c.batch > 1 for c in of_op(op))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("what", ["input", "kernel"])
def test_non_square(op, what):
    attr = "in_spatial" if what == "input" else "kernel_size"
    for nd in (2, 3):
        assert any(c.ndim == nd and len(set(getattr(c, attr))) > 1 for c in of_op(op)), \
            f"no {nd}-D {op} case with a non-square {what}"


@pytest.mark.parametrize("op", OPS)
def test_pointwise(op):
    assert {c.ndim for c in of_op(op) if all(k == 1 for k in c.kernel_size)} >= ({1, 2, 3} if op == "conv" else {2})


@pytest.mark.parametrize("op", OPS)
def test_kernel_as_large_as_input(op):
    assert any(c.effective_kernel == c.in_spatial for c in of_op(op))


def test_conv_kernel_filling_input_gives_one_output():
    assert any(c.effective_kernel == c.in_spatial and c.out_spatial == (1,) * c.ndim for c in of_op("conv"))


# --------------------------------------------------------------------------- the cases users write
def _has(op, ndim, k, s, padding, output_padding=0):
    def pred(c):
        return (c.op == op and c.ndim == ndim and c.kernel_size == (k,) * ndim and c.stride == (s,) * ndim
                and (c.padding == padding if isinstance(padding, str) else c.pads == ((padding, padding),) * ndim)
                and c.output_padding == (output_padding,) * ndim)
    return pred


COMMON = {
    "conv2d_3x3_same_s1": _has("conv", 2, 3, 1, "same"),
    "conv2d_3x3_same_s2": _has("conv", 2, 3, 2, "same"),
    "conv2d_4x4_same_s2": _has("conv", 2, 4, 2, "same"),
    "conv2d_1x1": _has("conv", 2, 1, 1, "valid"),
    "conv2d_dilated_same": lambda c: c.op == "conv" and c.padding == "same" and c.ndim == 2 and max(c.dilation) > 1,
    "convT2d_dcgan_k4_s2_p1": _has("conv_transpose", 2, 4, 2, 1),
    "convT2d_k3_s2_p1_op1": _has("conv_transpose", 2, 3, 2, 1, output_padding=1),
    "convT2d_k2_s2": _has("conv_transpose", 2, 2, 2, "valid"),
    "convT2d_same_k3_s2": _has("conv_transpose", 2, 3, 2, "same"),
    "convT2d_1x1": _has("conv_transpose", 2, 1, 1, "valid"),
}


@pytest.mark.parametrize("name", COMMON)
def test_common_layer_present(name):
    assert any(COMMON[name](c) for c in LIB), f"the library has no {name} case"


def test_tf_same_k3_s2_named_case():
    c = BY_ID.get("tf_same_k3_s2")
    assert c is not None and _file(c) == "transposed.yaml"
    assert _has("conv_transpose", 2, 3, 2, "same")(c)
    assert c.out_spatial == tuple(n * 2 for n in c.in_spatial)
    assert c.pads == ((0, 1),) * 2  # full output 2n + 1, the odd crop at the end


# --------------------------------------------------------------------------- tags
# A tag that is also a feature name (conformance.spec.features, the vocabulary known differences select
# by) must agree with the feature; the other tags have their rule here.
def _strided(c):
    return any(s > 1 for s in c.stride)


EXTRA_TAG_RULES = {
    "dilated_strided": lambda c: any(d > 1 for d in c.dilation) and _strided(c),
    "same_output_padding": lambda c: c.padding == "same" and any(c.output_padding),
    "tf_same": lambda c: c.op == "conv_transpose" and c.padding == "same",
    "upsample": lambda c: c.op == "conv_transpose" and _strided(c)
    and c.out_spatial == tuple(n * s for n, s in zip(c.in_spatial, c.stride)),
    "downsample": lambda c: c.op == "conv" and _strided(c)
    and c.out_spatial == tuple(-(-n // s) for n, s in zip(c.in_spatial, c.stride)),
    "pointwise": lambda c: all(k == 1 for k in c.kernel_size),
    "full_kernel": lambda c: c.effective_kernel == c.in_spatial,
}
# Tags that say what a case is for rather than a property of its geometry.
FREE_TAGS = {"common"}
# Every one of these must be used (known differences and report filters rely on them).
EXPECTED_TAGS = ("kernel_lt_stride", "depthwise", "depth_multiplier", "grouped", "asymmetric_padding",
                 "even_kernel", "same_odd_total", "causal", "dilated", "strided", "output_padding", "batch",
                 "non_square_input", "non_square_kernel", *EXTRA_TAG_RULES)
# Tags that every case with the property must carry, so that selecting by tag finds all of them.
COMPLETE_TAGS = ("grouped", "depthwise", "causal", "output_padding", "same_output_padding")


def tag_holds(tag: str, case) -> bool:
    if tag in EXTRA_TAG_RULES:
        return EXTRA_TAG_RULES[tag](case)
    return tag in case_features(case)


@pytest.mark.parametrize("tag", EXPECTED_TAGS)
def test_tag_is_used(tag):
    assert any(tag in c.tags for c in LIB), f"no case is tagged {tag!r}"


@pytest.mark.parametrize("tag", sorted({t for c in LIB for t in c.tags} - FREE_TAGS))
def test_tag_is_true(tag):
    assert tag in EXTRA_TAG_RULES or tag in FEATURES, f"tag {tag!r} is neither a feature nor has a rule here (a typo?)"
    wrong = [c.id for c in LIB if tag in c.tags and not tag_holds(tag, c)]
    assert not wrong, f"tagged {tag!r} but not so: {wrong}"


@pytest.mark.parametrize("tag", COMPLETE_TAGS)
def test_tag_is_complete(tag):
    missing = [c.id for c in LIB if tag_holds(tag, c) and tag not in c.tags]
    assert not missing, f"cases that are {tag!r} but not tagged so: {missing}"


# --------------------------------------------------------------------------- README
def test_readme_counts_match():
    """The README's table states each file's expanded cases and (case, dtype) pairs; keep it true."""
    text = README.read_text(encoding="utf-8")
    rows = {name: (int(n), int(p)) for name, n, p in
            re.findall(r"^\|\s*`([\w.]+\.yaml)`\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", text, re.M)}
    for name in LIBRARY_FILES:
        assert name in rows, f"README table has no row for {name}"
        cases = load_file(CASES_DIR / name)
        actual = (len(cases), sum(len(c.dtypes) for c in cases))
        assert rows[name] == actual, f"README says {name} has {rows[name]} (cases, pairs), but it has {actual}"
    for name in LAYER_FILES:
        cases = [c for c in LAYERS if _file(c) == name]
        assert rows.get(name) == (len(cases), sum(len(c.dtypes) for c in cases)), f"README's row for {name}"
    said = re.search(r"`large/layers.yaml` holds (\d+) cases, (\d+) \(case, dtype\) pairs", text)
    assert said and (int(said[1]), int(said[2])) == (len(LARGE_LAYERS), sum(len(c.dtypes) for c in LARGE_LAYERS))


# --------------------------------------------------------------------------- threads where they matter
# Known differences that only show with two or more threads: the library must run a case they match at
# every core's threads, or the entry explains nothing (and one naming only crashed/flaky is never stale).
NEEDS_THREADS = ("tf-onednn-conv1x1-strided-weight-grad-heap-overflow",)


@pytest.mark.parametrize("entry_id", NEEDS_THREADS)
def test_known_difference_needing_threads_has_a_case_at_all_threads(entry_id):
    entries = yaml.safe_load((CASES_DIR / "known_differences.yaml").read_text(encoding="utf-8"))
    entries = entries["known_differences"] if isinstance(entries, dict) else entries
    (entry,) = [e for e in entries if e["id"] == entry_id]
    features, dtypes = set(entry["match"]["features"]), entry["match"]["dtype"]
    hits = [c.id for c in ALL if "all" in c.threads and features <= set(case_features(c))
            and set(dtypes) & set(c.dtypes)]
    assert hits, f"no library case with {sorted(features)} in {dtypes} runs at all threads, so {entry_id} never shows"
