"""oneDNN's verbose log read into a record's `kernels` (conformance/results/kernels.py).

The logs in tests/data/onednn_verbose/ were captured on an AVX-512 machine (torch 2.13.0+cpu with
oneDNN 3.12.0, tensorflow-cpu 2.21.0 with oneDNN 3.7.3) by running small convs with ONEDNN_VERBOSE set;
each expected entry below was read off those lines by hand.
"""
from __future__ import annotations

from pathlib import Path

from conformance.results.kernels import NO_ONEDNN, kernel_lines, kernels_field, parse_onednn_verbose

DATA = Path(__file__).parent / "data" / "onednn_verbose"


def read(name: str) -> str:
    return (DATA / name).read_text()


def entry(primitive, implementation, propagation, problem, executed=True) -> dict:
    return {"primitive": primitive, "implementation": implementation, "propagation": propagation,
            "problem": problem, "executed": executed}


def convs(entries):
    return [e for e in entries if e["primitive"] in ("convolution", "deconvolution")]


def test_tensorflow_onednn_log_forward_gradients_and_transposed():
    got = parse_onednn_verbose(read("tf-2.21-onednn-conv-grad-transposed.log"))
    assert convs(got) == [
        entry("convolution", "brg_conv_fwd:avx512_core", "forward_training", "mb1_ic4oc8_ih12oh12kh3sh1dh0ph1_iw12ow12kw3sw1dw0pw1"),
        entry("convolution", "brg_conv_fwd:avx512_core", "forward_training", "mb1_ic4oc8_ih12oh5kh3sh2dh0ph0_iw12ow5kw3sw2dw0pw0"),
        entry("convolution", "brgconv_strided:avx512_core", "backward_data", "mb1_ic4oc8_ih12oh5kh3sh2dh0ph0_iw12ow5kw3sw2dw0pw0"),
        entry("convolution", "jit:avx512_core", "backward_weights", "mb1_ic4oc8_ih12oh5kh3sh2dh0ph0_iw12ow5kw3sw2dw0pw0"),
        entry("convolution", "brgconv_strided:avx512_core", "backward_data", "mb1_ic4oc8_ih11oh5kh3sh2dh0ph0_iw11ow5kw3sw2dw0pw0"),
    ]
    # the weight reorders: one problem (8x4x3x3), created twice and executed three times: one entry
    assert [e for e in got if e["primitive"] == "reorder"] == [entry("reorder", "jit:uni", "undef", "8x4x3x3")]


def test_torch_log_with_creation_lines_and_a_deconvolution():
    got = parse_onednn_verbose(read("torch-2.13-bf16-conv-grad-transposed.log"))
    problem = "mb1_ic4oc8_ih12oh12kh3sh1dh0ph1_iw12ow12kw3sw1dw0pw1"
    assert convs(got) == [
        entry("convolution", "jit_bf16:avx512_core_bf16", "forward_training", problem),
        entry("convolution", "jit_bf16:avx512_core_bf16", "backward_data", problem),
        entry("convolution", "x64:gemm:jit", "backward_weights", problem),
        entry("deconvolution", "conv:any+brgconv_strided:avx512_core_bf16", "forward_training",
              "mb1_ic8oc4_ih5oh11kh3sh2dh0ph0_iw5ow11kw3sw2dw0pw0"),
    ]
    reorders = [(e["implementation"], e["problem"]) for e in got if e["primitive"] == "reorder"]
    # lines 9/16 (8x4x3x3 jit:uni), 12/14 (1x8x12x12), 20, 24, 27, 29, 32 of the log
    assert reorders == [("jit:uni", "8x4x3x3"), ("jit:uni", "1x8x12x12"), ("jit:uni", "1x4x12x12"),
                        ("jit_direct_copy:uni", "8x4x3x3"), ("jit:uni", "1x8x5x5"), ("jit:uni", "4x8x3x3"),
                        ("jit_direct_copy:uni", "1x4x11x11")]
    assert all(e["executed"] for e in got)


def test_exec_only_log_and_a_conv_that_ran_no_onednn():
    got = parse_onednn_verbose(read("torch-2.13-f32-conv-exec-only.log"))
    assert got == [entry("reorder", "jit:blk", "undef", "2x64x28x28"), entry("reorder", "jit:uni", "undef", "64x64x3x3"),
                   entry("convolution", "jit:avx512_core", "forward_training",
                         "mb2_ic64oc64_ih28oh28kh3sh1dh0ph1_iw28ow28kw3sw1dw0pw1")]


def test_tensorflow_with_onednn_off_still_calls_onednn_sgemm():
    """TF_ENABLE_ONEDNN_OPTS=0: Eigen's convolution contracts with oneDNN's sgemm (gemm_api, no
    implementation name); the problem is the matrix product's m x k : k x n."""
    got = parse_onednn_verbose(read("tf-2.21-onednn-off-conv.log"))
    assert got == [entry("gemm_api", "", "undef", p) for p in ("144x36:36x8", "25x36:36x8", "25x8:8x36", "36x25:25x8")]


def test_other_forms_a_created_kernel_that_never_ran_and_lines_that_are_not_primitives():
    text = "\n".join([
        "onednn_verbose,v1,info,oneDNN v3.12.0 (commit 80afa71049cd69a3df32adcccb623b12cd7baa22)",
        "onednn_verbose,v1,graph,exec,cpu,100002,sdp,MatMul,,,f32,dnnl_backend,0.1",
        "hello from the framework, with, commas, exec, cpu",
        # oneDNN 2.x, from its verbose-mode guide's form
        "dnnl_verbose,exec,cpu,convolution,jit:avx2,forward_training,src_f32::blocked:aBcd8b:f0 "
        "wei_f32::blocked:ABcd8b8a:f0 bia_f32::blocked:a:f0 dst_f32::blocked:aBcd8b:f0,,alg:convolution_direct,"
        "mb2_ic16oc16_ih7oh7kh5sh1dh0ph2_iw7ow7kw5sw1dw0pw2,0.0678711",
        # with ONEDNN_VERBOSE_TIMESTAMP=1, and a primitive that was created but whose exec line never came
        "onednn_verbose,1733529600123.45,v1,primitive,create:cache_miss,cpu,convolution,jit_1x1:avx512_core,"
        "backward_weights,src:f32::blocked:acdb::f0,,alg:convolution_direct,mb1_ic2oc2_ih8oh4kh1sh2dh0ph0_iw10ow5kw1sw2dw0pw0,0.1",
        "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32 dst:f32",  # cut short: not read
    ])
    assert parse_onednn_verbose(text) == [
        entry("convolution", "jit:avx2", "forward_training", "mb2_ic16oc16_ih7oh7kh5sh1dh0ph2_iw7ow7kw5sw1dw0pw2"),
        entry("convolution", "jit_1x1:avx512_core", "backward_weights", "mb1_ic2oc2_ih8oh4kh1sh2dh0ph0_iw10ow5kw1sw2dw0pw0",
              executed=False),
    ]


def test_the_record_field_and_its_text():
    used = kernels_field(read("torch-2.13-f32-conv-exec-only.log"), "fail")
    assert used["rerun"] == "fail" and "note" not in used and len(used["onednn"]) == 3
    assert kernel_lines(used)[2] == ("convolution jit:avx512_core forward_training "
                                     "mb2_ic64oc64_ih28oh28kh3sh1dh0ph1_iw28ow28kw3sw1dw0pw1")
    none = kernels_field("torch f32 conv 1x4x12x12\n", "flaky")
    assert none == {"onednn": [], "rerun": "flaky", "note": NO_ONEDNN}
    assert kernel_lines(none) == [NO_ONEDNN]
    unread = kernels_field(None, "crashed", "the re-run's output could not be read")
    assert unread["note"] == "the re-run's output could not be read" and unread["onednn"] == []
    assert kernel_lines({"onednn": [entry("gemm_api", "", "undef", "4x2:2x2"),
                                    entry("convolution", "jit:avx2", "backward_data", "", executed=False)]}) == [
        "gemm_api (no implementation named) undef 4x2:2x2",
        "convolution jit:avx2 backward_data (created, never finished executing)"]
