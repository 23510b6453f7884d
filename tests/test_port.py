"""`conformance port`: a layer written as the user writes it, read into a case; the call per target that
computes it exactly; each recipe run and checked. The five layers of docs/porting.md's worked example are
pinned here with their answers worked out by hand in each test (the padding arithmetic written out),
never read back from the code under test."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.errors import UsageError
from conformance.port import answers as port_answers
from conformance.port.families import answers
from conformance.port.parse import parse_call
from conformance.spec.case import Case

ROOT = Path(__file__).resolve().parent.parent


def case_of(call: str, shape) -> Case:
    return Case.from_dict(parse_call(call, tuple(shape)))


def keras(case: Case):
    return next(a for a in answers(case) if a.target == "keras.layer@cpu")


def lax(case: Case):
    return next(a for a in answers(case) if a.target == "jax.lax@cpu")


def by_target(case: Case) -> dict:
    return {a.target: a for a in answers(case)}


# Every CPU target (`conformance list`), written out here, not read from the code under test.
TORCH_TARGETS = ["torch.functional@cpu", "torch.layer@cpu", "torch.compile.functional@cpu", "torch.compile.layer@cpu",
                 "torch.channels_last.layer@cpu", "torch.compile.channels_last.layer@cpu",
                 "torch.no_mkldnn.functional@cpu", "torch.onnx.layer@cpu", "torch.onnx.torchscript.layer@cpu"]
KERAS_TARGETS = ["keras.layer@cpu", "keras.xla.layer@cpu", "keras.onednn.layer@cpu", "keras.jax.layer@cpu",
                 "keras.torch.layer@cpu", "litert.layer@cpu"]
TF_NN_TARGETS = ["tf.nn@cpu", "tf.xla.nn@cpu", "tf.onednn.nn@cpu"]
ONNX_TARGETS = ["onnxruntime@cpu", "onnx.reference@cpu"]
CPU_TARGETS = TORCH_TARGETS + KERAS_TARGETS + TF_NN_TARGETS + ["jax.lax@cpu", "flax.layer@cpu"] + ONNX_TARGETS
FIVE_LAYERS = [("nn.Conv2d(3, 32, 3, stride=2, padding=1)", (1, 3, 16, 16)),
               ("nn.Conv2d(32, 32, 3, padding=1, groups=32)", (1, 32, 16, 16)),
               ("nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)", (1, 64, 16, 16)),
               ("nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)", (1, 32, 16, 16)),
               ("nn.Conv1d(80, 256, 3, dilation=4, padding=4)", (1, 80, 100))]


def line_of(answer, start: str) -> str:
    return next(line for line in answer.lines if line.startswith(start))


# ------------------------------------------------------------------ the five layers, by hand
def test_the_strided_stem_differs_from_same_on_even_inputs_and_is_zero_padding_plus_valid():
    case = case_of("nn.Conv2d(3, 32, 3, stride=2, padding=1)", (1, 3, 16, 16))
    # by hand: out = (16 + 1 + 1 - 3) // 2 + 1 = 8. Keras 'same' on 16: out = ceil(16 / 2) = 8,
    # total padding = (8 - 1) * 2 + 3 - 16 = 1 -> (0, 1): the odd pixel at the end, none at the start.
    assert case.output_shape == (1, 32, 8, 8)
    answer = keras(case)
    assert [(r.label, r.zero_padding, r.variant["padding"]) for r in answer.recipes] == [
        ("ZeroPadding2D(((1, 1), (1, 1))) + padding='valid'", [[1, 1], [1, 1]], "valid")]
    same = line_of(answer, "padding='same' ")
    assert "pads (0, 1), (0, 1)" in same and "shifted by one pixel" in same
    # on an odd input (17): out = 9, total = (9 - 1) * 2 + 3 - 17 = 2 -> (1, 1), the case's own pads
    odd = keras(case_of("nn.Conv2d(3, 32, 3, stride=2, padding=1)", (1, 3, 17, 17)))
    assert [r.label for r in odd.recipes] == ["padding='same'"]


def test_the_depthwise_conv_is_keras_same():
    case = case_of("nn.Conv2d(32, 32, 3, padding=1, groups=32)", (1, 32, 16, 16))
    # by hand: stride 1, 'same' total = (16 - 1) * 1 + 3 - 16 = 2 -> (1, 1) = padding=1
    answer = keras(case)
    assert [r.label for r in answer.recipes] == ["padding='same'"]
    assert answer.recipes[0].code.startswith("layers.DepthwiseConv2D(")
    assert "depthwise_kernel = w.reshape(32, 1, *w.shape[2:]).transpose(2, 3, 0, 1)" in answer.lines[0]


def test_the_k4_s2_p1_transposed_conv_is_keras_same():
    case = case_of("nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)", (1, 64, 16, 16))
    # by hand: full output = 2 * (16 - 1) + 4 = 34; PyTorch crops 1 at each end: [1, 33), 32 long.
    # Keras 'same': length 16 * 2 = 32, TF crops floor((34 - 32) / 2) = 1 at the start: [1, 33).
    assert case.output_shape == (1, 32, 32, 32)
    assert [r.label for r in keras(case).recipes] == ["padding='same'"]
    assert [r.label for r in lax(case).recipes] == ["explicit lax pads (lax's own argument)", "padding='SAME'"]
    # the same keyword, converted for LiteRT and in Flax (which passes 'SAME' to lax.conv_transpose)
    by_target = {a.target: [r.label for r in a.recipes] for a in answers(case)}
    assert by_target["litert.layer@cpu"] == ["padding='same'"]
    assert by_target["flax.layer@cpu"] == ["the native call", "padding='SAME'"]


def test_the_k3_s2_p1_op1_transposed_conv_matches_no_keras_keyword_and_is_valid_plus_cropping():
    case = case_of("torch.nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)", (1, 32, 16, 16))
    # by hand: full = 2 * 15 + 3 = 33; PyTorch: crop 1 at the start, output_padding 1 then crop 1 at the
    # end: keeps [1, 33), 32 long. Keras: 'same' keeps 32 from floor((33 - 32) / 2) = 0: [0, 32), one
    # pixel off; 'valid' keeps all 33: [0, 33); 'valid' + output_padding 1: 34; 'same' + output_padding 1:
    # length 30 + 3 - 2 * 1 + 1 = 32 from 0 again. So: 'valid', then crop (1, 33 - 1 - 32 = 0).
    assert case.output_shape == (1, 16, 32, 32)
    answer = keras(case)
    assert [(r.label, r.cropping) for r in answer.recipes] == [
        ("padding='valid' + Cropping2D(((1, 0), (1, 0)))", [[1, 0], [1, 0]])]
    assert answer.recipes[0].variant["padding"] == "valid" and answer.recipes[0].variant["output_padding"] == [0, 0]
    assert "shifted by one pixel" in line_of(answer, "padding='same' ")
    assert "gives 33, the case 32 (one pixel too many)" in line_of(answer, "padding='valid' ")
    assert [r.label for r in lax(case).recipes] == ["explicit lax pads (lax's own argument)"]  # no lax keyword either
    # every Keras target takes the same construction, LiteRT too (the Sequential model converted)
    for target in KERAS_TARGETS:
        assert [(r.label, r.cropping, r.family) for r in by_target(case)[target].recipes] == [
            ("padding='valid' + Cropping2D(((1, 0), (1, 0)))", [[1, 0], [1, 0]], "keras")]


def test_the_dilated_conv1d_is_keras_same():
    case = case_of("nn.Conv1d(80, 256, 3, dilation=4, padding=4)", (1, 80, 100))
    # by hand: effective kernel (3 - 1) * 4 + 1 = 9; 'same' total = 99 + 9 - 100 = 8 -> (4, 4)
    assert [r.label for r in keras(case).recipes] == ["padding='same'"]
    assert "pads (8, 0)" in line_of(keras(case), "padding='causal' ")


def test_a_grouped_transposed_conv_has_no_keras_answer_and_says_why():
    answer = keras(case_of("nn.ConvTranspose2d(8, 8, 3, groups=2)", (1, 8, 5, 5)))
    assert not answer.recipes and "no groups argument" in answer.none


# ------------------------------------------------------------------ the five layers on every CPU target
@pytest.mark.parametrize("call, shape", FIVE_LAYERS)
def test_every_cpu_target_gets_an_answer_for_the_five_layers(call, shape):
    got = by_target(case_of(call, shape))
    assert list(got) == CPU_TARGETS
    assert all(a.recipes for a in got.values()), [t for t, a in got.items() if not a.recipes]


@pytest.mark.parametrize("call, shape", FIVE_LAYERS)
def test_pytorch_layers_are_native_on_every_torch_path(call, shape):
    # PyTorch's own symmetric padding is the case as written: the call itself on every path
    got = by_target(case_of(call, shape))
    for target in TORCH_TARGETS:
        [recipe] = got[target].recipes
        assert recipe.native and recipe.label == "the native call"
        layer = target.split("@")[0].endswith(".layer")
        assert recipe.code.startswith("torch.nn.Conv" if layer else "torch.nn.functional.conv"), (target, recipe.code)


def test_tf_nn_takes_explicit_pairs_in_2d_and_same_in_1d():
    # by hand: the stem's pads (1, 1) per dim go to tf.nn.conv2d as [[0, 0], [1, 1], [1, 1], [0, 0]] (NHWC)
    stem = by_target(case_of(*FIVE_LAYERS[0]))
    for target in TF_NN_TARGETS:
        [recipe] = stem[target].recipes
        assert recipe.native and "tf.nn.conv2d(x, kernel, strides=[2, 2], padding=[[0, 0], [1, 1], [1, 1], [0, 0]]" \
            in recipe.code
    # the transposed op1 layer: conv2d_transpose with the same pairs and output_shape [1, 32, 32, 16] (NHWC)
    up = by_target(case_of(*FIVE_LAYERS[3]))["tf.nn@cpu"].recipes[0]
    assert up.native and "output_shape=[1, 32, 32, 16]" in up.code
    # Conv1d: tf.nn.convolution takes no pairs in 1-D; 'SAME' total = (100 - 1) + 9 - 100 = 8 -> (4, 4): exact
    conv1d = by_target(case_of(*FIVE_LAYERS[4]))
    for target in TF_NN_TARGETS:
        assert [(r.label, r.native, r.variant["padding"]) for r in conv1d[target].recipes] == [
            ("padding='SAME'", False, "same")]


def test_onnx_pads_write_every_one_of_the_five_layers():
    # by hand: pads are [x1_begin, x2_begin, x1_end, x2_end]; output_padding only where the layer has one
    expected = ["pads=[1, 1, 1, 1])", "group=32, pads=[1, 1, 1, 1])", "pads=[1, 1, 1, 1])",
                "pads=[1, 1, 1, 1], output_padding=[1, 1])", "dilations=[4], group=1, pads=[4, 4])"]
    for (call, shape), tail in zip(FIVE_LAYERS, expected):
        for target in ONNX_TARGETS:
            [recipe] = by_target(case_of(call, shape))[target].recipes
            assert recipe.native and recipe.code.endswith(tail), (call, recipe.code)


def test_tf_nn_constructions_where_1d_pairs_are_not_taken():
    # a 1-D conv padded (1, 0), stride 2, on 9: out = (9 + 1 - 3) // 2 + 1 = 4. 'VALID': (0, 0), out 4, one
    # element later; 'SAME': out ceil(9 / 2) = 5. So tf.pad (1, 0) then 'VALID'.
    conv = by_target(case_of("linen.Conv(4, (3,), strides=(2,), padding=((1, 0),))", (1, 2, 9)))["tf.xla.nn@cpu"]
    assert [(r.label, r.zero_padding, r.variant["padding"], r.family) for r in conv.recipes] == [
        ("tf.pad + padding='VALID'", [[1, 0]], "valid", "tf.nn")]
    assert "tf.pad(x, [[0, 0], [1, 0], [0, 0]])" in conv.recipes[0].code
    # ConvTranspose1d k3 s2 p1 op1 on 9: full 2 * 8 + 3 = 19; PyTorch keeps [1, 19) (crop 1, add 1, crop 1).
    # 'VALID' with output_padding 1 is 20 long: slice 1 at each end.
    up = by_target(case_of("nn.ConvTranspose1d(2, 4, 3, stride=2, padding=1, output_padding=1)", (1, 2, 9)))
    assert [(r.cropping, r.variant["padding"], r.variant["output_padding"]) for r in up["tf.onednn.nn@cpu"].recipes] \
        == [([[1, 1]], "valid", [1])]
    assert "output_shape=[1, 20, 4]" in up["tf.onednn.nn@cpu"].recipes[0].code


def test_torch_constructions_on_every_torch_path_are_the_layer_or_the_function():
    # Keras 'same', stride 2, on 16: total (8 - 1) * 2 + 3 - 16 = 1 -> (0, 1): F.pad (0, 1, 0, 1), last dim first
    got = by_target(case_of("keras.layers.Conv2D(32, 3, strides=2, padding='same')", (1, 3, 16, 16)))
    for target in TORCH_TARGETS:
        [recipe] = got[target].recipes
        assert (recipe.zero_padding, recipe.family) == ([[0, 1], [0, 1]], "torch")
        layer = target.split("@")[0].endswith(".layer")
        assert recipe.code.endswith("(F.pad(x, (0, 1, 0, 1)))") if layer else "F.pad(x, (0, 1, 0, 1)), w, b" in recipe.code


# ------------------------------------------------------------------ reading the call
@pytest.mark.parametrize("call, shape, padding, output_padding, out", [
    # Keras 'same', no output_padding: length 16 * 2 = 32, crop floor((33 - 32) / 2) = 0 = the case model's 'same'
    ("keras.layers.Conv2DTranspose(16, 3, strides=2, padding='same')", (1, 32, 16, 16), "same", (0, 0), 32),
    # Flax/lax 'VALID' with kernel 2 < stride 3: 16 * 3 = 48 long, the full output 15 * 3 + 2 = 47 and one zero
    ("nn.ConvTranspose(16, (2, 2), strides=(3, 3), padding='VALID')", (1, 32, 16, 16), ((0, 0), (0, 0)), (1, 1), 48),
    ("nnx.ConvTranspose(32, 16, (3, 3), strides=(2, 2), padding='SAME', rngs=nnx.Rngs(0))", (1, 32, 16, 16),
     "same", (0, 0), 32),
    ("layers.DepthwiseConv2D(3, padding='same', depth_multiplier=2)", (1, 4, 8, 8), "same", (0, 0), 8),
    ("linen.Conv(8, (3,), strides=(2,), padding=((1, 0),))", (1, 4, 9), ((1, 0),), (0,), 4),
])
def test_each_frameworks_call_reads_as_that_framework_computes_it(call, shape, padding, output_padding, out):
    case = case_of(call, shape)
    assert case.padding == padding and case.output_padding == output_padding and case.out_spatial[0] == out


@pytest.mark.parametrize("call, says", [
    ("nn.Conv2d(3, 8, 3, strid=2)", "unknown keyword 'strid' (did you mean 'stride'?); allowed: in_channels, "
                                    "out_channels, kernel_size, stride, padding"),
    ("keras.layers.Conv2D(8, 3, paddings='same')", "unknown keyword 'paddings' (did you mean 'padding'?)"),
    ("nn.Conv2d(3, 8, __import__('os').getpid())", "kernel_size=__import__('os').getpid() is not a literal"),
    ("nn.Conv2d(4, 8, 3)", "in_channels=4 but --input-shape has 3 channels"),
    ("nn.Conv2d(3, 8, 3, padding_mode='reflect')", "padding_mode='reflect'"),
    ("nn.Linear(3, 8)", "unknown layer 'nn.Linear'"),
])
def test_a_bad_call_is_one_line_naming_what_is_allowed(call, says, capsys):
    assert main(["port", call, "--input-shape", "1,3,8,8"]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err


def test_the_call_is_never_evaluated():
    with pytest.raises(UsageError):
        parse_call("nn.Conv2d(3, 8, 3, stride=exec('raise SystemExit'))", (1, 3, 8, 8))


# ------------------------------------------------------------------ run and checked
def run_port(*args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "conformance", "port", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_keras_crop_recipe_runs_in_the_worker_and_passes_every_check(tmp_path):
    proc = run_port("torch.nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)", "--input-shape",
                    "1,32,8,8", "--targets", "keras.layer@cpu", "--cache-dir", str(tmp_path / "c"),
                    "--json", "r.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    at = lines.index("     exact (recipe): padding='valid' + Cropping2D(((1, 0), (1, 0)))")
    assert lines[at + 1].strip().endswith("layers.Cropping2D(((1, 0), (1, 0)))])")
    assert lines[at + 2].strip() == ("checked (float32): output_shape pass, output pass, weight_shape pass, "
                                     "param_count pass, grad_input pass, grad_weight pass, grad_bias pass")
    import json

    records = json.loads((tmp_path / "r.json").read_text())["results"]
    assert {r["api"] for r in records} == {"recipe:keras.layer"}  # apart from the target's native records


def test_a_recipe_that_fails_is_a_finding(tmp_path, monkeypatch, capsys):
    """A wrong crop (the odd pixel taken at the end instead of the start) offered as the construction:
    the check catches it and the command exits 1."""
    real = port_answers.keras_construction

    def wrong(case, *target):
        recipe = real(case, *target)
        recipe.cropping = [[e, b] for b, e in recipe.cropping]
        return recipe

    monkeypatch.setattr(port_answers, "keras_construction", wrong)
    code = main(["port", "torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)",
                 "--input-shape", "1,4,5,5", "--targets", "keras.layer@cpu", "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "output fail" in out and "1 recipe checked, 1 failure" in out


def test_keras_same_strided_is_f_pad_in_pytorch_and_runs_exactly(tmp_path, capsys):
    # by hand: Keras 'same', stride 2, on 16: total (8 - 1) * 2 + 3 - 16 = 1 -> (0, 1) per dim, which no
    # symmetric PyTorch amount gives: F.pad's flat amounts, the last dim first, are (0, 1, 0, 1).
    case = case_of("keras.layers.Conv2D(32, 3, strides=2, padding='same')", (1, 3, 16, 16))
    torch = next(a for a in answers(case) if a.target == "torch.functional@cpu")
    assert [(r.label, r.zero_padding) for r in torch.recipes] == [
        ("F.pad (0, 1, 0, 1) (the last dim first) + padding=0", [[0, 1], [0, 1]])]
    assert "F.pad(x, (0, 1, 0, 1))" in torch.recipes[0].code
    assert main(["port", "keras.layers.Conv2D(4, 3, strides=2, padding='same')", "--input-shape", "1,2,6,6",
                 "--targets", "torch.functional@cpu", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert ("checked (float32): output_shape pass, output pass, grad_input pass, grad_weight pass, grad_bias pass"
            in out) and "1 recipe checked, 0 failures" in out


def test_keras_transposed_same_k3_s2_is_a_slice_in_pytorch():
    # by hand: full 2 * 15 + 3 = 33, Keras 'same' keeps [0, 32): PyTorch padding=0 then drop the last one
    case = case_of("keras.layers.Conv2DTranspose(16, 3, strides=2, padding='same')", (1, 32, 16, 16))
    torch = next(a for a in answers(case) if a.target == "torch.functional@cpu")
    assert [(r.label, r.cropping) for r in torch.recipes] == [("padding=0 + a slice [..., 0:-1, 0:-1]", [[0, 1], [0, 1]])]


def recipe_lines(stdout: str) -> list[tuple[str, str, str]]:
    """(target, standing line, checked line) of every recipe the command printed."""
    out, target = [], None
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  == "):
            target = line[5:].split(":")[0]
        elif "(recipe)" in line:
            out.append((target, line.strip(), lines[i + 2].strip()))
    return out


FORWARD_ONLY = "output_shape pass, output pass, weight_shape pass, param_count pass, grad_input unsupported"
EVERY_CHECK = ("output_shape pass, output pass, weight_shape pass, param_count pass, grad_input pass, grad_weight pass, "
               "grad_bias pass")


def test_the_keras_crop_runs_on_the_jax_and_torch_backends_and_converted_for_litert(tmp_path):
    proc = run_port("torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)", "--input-shape",
                    "1,4,5,5", "--targets", "keras.jax.layer@cpu,keras.torch.layer@cpu,litert.layer@cpu",
                    "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = recipe_lines(proc.stdout)
    assert [t for t, _, _ in got] == ["keras.jax.layer@cpu", "keras.torch.layer@cpu", "litert.layer@cpu"]
    label = "padding='valid' + Cropping2D(((1, 0), (1, 0)))"
    assert got[0][1] == got[1][1] == f"exact (recipe): {label}"
    assert got[0][2] == got[1][2] == f"checked (float32): {EVERY_CHECK}"
    assert got[2][1] == f"exact, forward only (recipe): {label}" and got[2][2].startswith(f"checked (float32): "
                                                                                          f"{FORWARD_ONLY}")


def test_the_torch_pad_runs_on_the_layer_and_exported_to_onnx(tmp_path):
    proc = run_port("keras.layers.Conv2D(4, 3, strides=2, padding='same')", "--input-shape", "1,2,6,6", "--targets",
                    "torch.layer@cpu,torch.onnx.torchscript.layer@cpu", "--cache-dir", str(tmp_path / "c"),
                    "--json", "r.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = recipe_lines(proc.stdout)
    assert [(t, s) for t, s, _ in got] == [
        ("torch.layer@cpu", "exact (recipe): F.pad (0, 1, 0, 1) (the last dim first) + padding=0"),
        ("torch.onnx.torchscript.layer@cpu", "exact, forward only (recipe): F.pad (0, 1, 0, 1) (the last dim first) + "
                                             "padding=0")]
    assert got[0][2] == f"checked (float32): {EVERY_CHECK}" and got[1][2].startswith(f"checked (float32): "
                                                                                     f"{FORWARD_ONLY}")
    import json

    apis = {r["api"] for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert apis == {"recipe:torch.layer", "recipe:torch.onnx.torchscript.layer"}


def test_the_tf_nn_slice_runs_on_tf_nn(tmp_path):
    proc = run_port("nn.ConvTranspose1d(2, 4, 3, stride=2, padding=1, output_padding=1)", "--input-shape", "1,2,9",
                    "--targets", "tf.nn@cpu", "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recipe_lines(proc.stdout) == [
        ("tf.nn@cpu", "exact (recipe): padding='VALID' + a slice [..., 1:-1]",
         "checked (float32): output_shape pass, output pass, grad_input pass, grad_weight pass, grad_bias pass")]


def test_a_depthwise_layer_on_tf_nn_is_also_depthwise_conv2d_which_runs_with_gradients(tmp_path):
    # by hand: groups 4 = C_in, 8 out: depth multiplier 2; the grouped kernel (3, 3, 1, 8) reshaped to (3, 3, 4, 2)
    got = by_target(case_of("nn.Conv2d(4, 8, 3, padding=1, groups=4)", (1, 4, 6, 6)))["tf.nn@cpu"]
    assert [(r.label, r.native) for r in got.recipes] == [("the native call", True), ("tf.nn.depthwise_conv2d", False)]
    assert "tf.reshape(kernel, (3, 3, 4, 2)), strides=[1, 1, 1, 1]" in got.recipes[1].code
    proc = run_port("nn.Conv2d(4, 8, 3, padding=1, groups=4)", "--input-shape", "1,4,6,6", "--targets", "tf.nn@cpu",
                    "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recipe_lines(proc.stdout) == [
        ("tf.nn@cpu", "exact (recipe): tf.nn.depthwise_conv2d",
         "checked (float32): output_shape pass, output pass, grad_input pass, grad_weight pass, grad_bias pass")]


@pytest.mark.parametrize("api, statuses, says", [
    ("tf.nn", ["pass", "pass", "unsupported"], "exact forward, gradients REFUSED"),  # the target has gradients
    ("recipe:litert.layer", ["pass", "pass", "unsupported"], "exact, forward only"),  # a converted model has none
    ("recipe:keras.layer", ["pass", "pass", "pass"], "exact"),
    ("onnxruntime", ["pass", "unsupported", "unsupported"], "REFUSED"),
])
def test_a_calls_standing_reads_its_records(api, statuses, says):
    from conformance.port.command import standing
    from conformance.results.records import Result

    records = [Result(case="c", framework="f", api=api, device="cpu", dtype="float32", check=check, status=status)
               for check, status in zip(["output_shape", "output", "grad_input"], statuses)]
    assert standing(records, []) == says
