"""Keras 3 layers on the JAX and PyTorch backends (keras.jax.layer, keras.torch.layer).

Each backend's Keras runs in a fresh interpreter (tests/keras_probe.py): KERAS_BACKEND is read once
per process, and this session's keras is TensorFlow's. The hand-computed examples below are worked
out in their comments, independently of the oracle and of the adapters.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from keras_probe import probe

from conformance import Case
from conformance.adapters import keras_layers


def _missing(package):
    return importlib.util.find_spec(package) is None


BACKEND_APIS = [pytest.param(api, marks=pytest.mark.skipif(_missing("keras") or _missing(fw),
                                                             reason=f"keras or {fw} is not installed"), id=api)
                for api, fw in (("keras.jax.layer", "jax"), ("keras.torch.layer", "torch"))]

# ----------------------------------------------------------------------------- layouts (no framework)
CONV = {"id": "w", "op": "conv", "input_shape": [1, 4, 9, 9], "out_channels": 8, "kernel_size": 3}
KERNEL_SHAPES = [
    ("conv", CONV, "Conv2D", (3, 3, 4, 8)),
    ("grouped", {**CONV, "groups": 2}, "Conv2D", (3, 3, 2, 8)),
    ("depthwise", {**CONV, "groups": 4}, "DepthwiseConv2D", (3, 3, 4, 2)),  # (*k, C_in, multiplier)
    ("depthwise3d", {**CONV, "input_shape": [1, 4, 5, 5, 5], "groups": 4}, "Conv3D", (3, 3, 3, 1, 8)),  # no 3-D one
    ("transposed", {**CONV, "op": "conv_transpose", "kernel_size": [2, 3]}, "Conv2DTranspose", (2, 3, 8, 4)),
]


@pytest.mark.parametrize("fields, cls, shape", [k[1:] for k in KERNEL_SHAPES], ids=[k[0] for k in KERNEL_SHAPES])
def test_layer_and_kernel_shape(fields, cls, shape):
    case = Case.from_dict(fields)
    assert keras_layers.layer_spec(case, "float32")[0] == cls
    assert keras_layers.native_weight_shape(case) == shape
    w = np.arange(np.prod(case.weight_shape), dtype=np.float64).reshape(case.weight_shape)
    native = keras_layers.to_native_weight(case, w)
    assert native.shape == shape
    np.testing.assert_array_equal(keras_layers.from_native_weight(case, native), w)


def test_depthwise_kernel_element_mapping():
    # output channel c * m + j of a depthwise conv with multiplier m reads kernel[..., c, j]
    case = Case.from_dict({**CONV, "input_shape": [1, 2, 5, 5], "out_channels": 6, "groups": 2})
    w = np.random.default_rng(0).standard_normal(case.weight_shape)  # (6, 1, 3, 3)
    native = keras_layers.to_native_weight(case, w)  # (3, 3, 2, 3)
    for c in range(2):
        for j in range(3):
            np.testing.assert_array_equal(native[:, :, c, j], w[c * 3 + j, 0])

# Conv1D, 1 -> 2 channels, kernel 3, 'valid'. x = [1, 2, 4, 8]; kernels [1, 0, -1] and [0, 1, 2]
# (a flipped kernel or swapped channels give other numbers); bias [0.5, -1].
#   y0[i] = x[i] - x[i+2] + 0.5 = [-2.5, -5.5];  y1[i] = x[i+1] + 2 x[i+2] - 1 = [9, 19]
# upstream gradient g0 = [1, 2], g1 = [3, -1]:
#   grad_input[j] = sum_o,i g_o[i] w_o[j-i] = [1, 3 + 2, -1 + 6 - 1, -2 - 2] = [1, 5, 4, -4]
#   grad_weight[o][k] = sum_i g_o[i] x[i+k] = [[5, 10, 20], [1, 2, 4]];  grad_bias = [3, 2]
# Keras kernel (*k, I, O) = (3, 1, 2); parameters 6 + 2.
CONV1D = {
    "case": {"id": "hand-conv1d", "op": "conv", "input_shape": [1, 1, 4], "out_channels": 2, "kernel_size": 3},
    "inputs": {"input": [[[1, 2, 4, 8]]], "weight": [[[1, 0, -1]], [[0, 1, 2]]], "bias": [0.5, -1],
               "grad_output": [[[1, 2], [3, -1]]]},
    "expect": {"output": [[[-2.5, -5.5], [9, 19]]], "grad_input": [[[1, 5, 4, -4]]],
               "grad_weight": [[[5, 10, 20]], [[1, 2, 4]]], "grad_bias": [3, 2],
               "layer_weight_shape": [3, 1, 2], "param_count": 8, "snippet_output_shape": [1, 2, 2]},
}
# Conv1DTranspose, stride 2, kernel 3 (>= stride: Keras's inferred output_padding is 0), no bias.
# x = [1, 2], kernel [1, 10, 100]: y[2i + k] += x[i] w[k] = [1, 10, 100 + 2, 20, 200] (length 5).
# g = [1, 0, 0, 0, 1]: grad_input[i] = sum_k g[2i + k] w[k] = [1, 100];
#   grad_weight[k] = sum_i g[2i + k] x[i] = [1, 0, 2]. Keras kernel (*k, O, I) = (3, 1, 1).
CONV1D_TRANSPOSE = {
    "case": {"id": "hand-convT1d", "op": "conv_transpose", "input_shape": [1, 1, 2], "out_channels": 1,
             "kernel_size": 3, "stride": 2, "bias": False},
    "inputs": {"input": [[[1, 2]]], "weight": [[[1, 10, 100]]], "bias": None, "grad_output": [[[1, 0, 0, 0, 1]]]},
    "expect": {"output": [[[1, 10, 102, 20, 200]]], "grad_input": [[[1, 100]]], "grad_weight": [[[1, 0, 2]]],
               "grad_bias": None, "layer_weight_shape": [3, 1, 1], "param_count": 3, "snippet_output_shape": [1, 5, 1]},
}
# DepthwiseConv1D, 2 channels, depth multiplier 3 (not 2: with C_in == multiplier a (multiplier, C_in)
# reading of the kernel looks right), kernel 1, no bias: output channel c * 3 + m is channel c scaled
# by weight[c * 3 + m]. x0 = [1, 2, 3], x1 = [10, 20, 30], weights [1, ..., 6]:
#   y = [x0, 2 x0, 3 x0, 4 x1, 5 x1, 6 x1]. g = ones: grad_weight[o] = sum x_c(o) = [6, 6, 6, 60, 60, 60];
#   grad_input = [1 + 2 + 3, 4 + 5 + 6] per position. Keras kernel (*k, C_in, multiplier) = (1, 2, 3).
DEPTHWISE = {
    "case": {"id": "hand-dw1d", "op": "conv", "input_shape": [1, 2, 3], "out_channels": 6, "kernel_size": 1,
             "groups": 2, "bias": False},
    "inputs": {"input": [[[1, 2, 3], [10, 20, 30]]], "weight": [[[w]] for w in range(1, 7)], "bias": None,
               "grad_output": np.ones((1, 6, 3)).tolist()},
    "expect": {"output": [[[1, 2, 3], [2, 4, 6], [3, 6, 9], [40, 80, 120], [50, 100, 150], [60, 120, 180]]],
               "grad_input": [[[6, 6, 6], [15, 15, 15]]], "grad_weight": [[[6]], [[6]], [[6]], [[60]], [[60]], [[60]]],
               "grad_bias": None, "layer_weight_shape": [1, 2, 3], "param_count": 6, "snippet_output_shape": [1, 3, 6]},
}
HAND = {"conv1d": CONV1D, "conv1d_transpose": CONV1D_TRANSPOSE, "depthwise1d": DEPTHWISE}

PLAIN = {
    "conv2d-same-stride2": dict(op="conv", input_shape=[2, 3, 7, 6], out_channels=4, kernel_size=3, stride=2,
                                padding="same"),
    "conv1d-causal-dilated": dict(op="conv", input_shape=[2, 2, 9], out_channels=3, kernel_size=3, dilation=2,
                                  padding="causal"),
    "conv3d-valid": dict(op="conv", input_shape=[1, 2, 5, 4, 5], out_channels=3, kernel_size=2),
    "grouped3d": dict(op="conv", input_shape=[1, 4, 5, 5, 5], out_channels=8, kernel_size=3, groups=4, bias=False),
    "depthwise2d-m2": dict(op="conv", input_shape=[2, 3, 7, 6], out_channels=6, kernel_size=3, groups=3, stride=2,
                           padding="same"),
    "convT2d-valid-stride2-outpad1": dict(op="conv_transpose", input_shape=[2, 3, 4, 5], out_channels=4,
                                          kernel_size=3, stride=2, output_padding=1),
    "convT2d-same-stride2-odd": dict(op="conv_transpose", input_shape=[2, 3, 5, 4], out_channels=2, kernel_size=3,
                                     stride=2, padding="same"),
    "convT3d-same": dict(op="conv_transpose", input_shape=[1, 2, 3, 4, 3], out_channels=2, kernel_size=2, stride=2,
                         padding="same"),
}
PLAIN_RUNS = [(name, dtype) for name in PLAIN for dtype in ("float32", "float64")] + \
             [("conv2d-same-stride2", "bfloat16"), ("depthwise2d-m2", "float16")]
REFUSED = {
    "explicit": (dict(op="conv", input_shape=[1, 2, 7], out_channels=3, kernel_size=3, padding=[[1, 2]]), "explicit"),
    "groupsT": (dict(op="conv_transpose", input_shape=[1, 4, 5, 5], out_channels=4, kernel_size=3, groups=2), "groups"),
    "stride-dilation": (dict(op="conv", input_shape=[1, 2, 9, 9], out_channels=3, kernel_size=3, stride=2,
                             dilation=2), "ValueError:"),
}
# Keras's own output size for a transposed conv whose kernel is smaller than its stride: in * stride
# (known difference keras-transposed-valid-inferred-output-padding).
KERNEL_LT_STRIDE = dict(op="conv_transpose", input_shape=[1, 2, 5], out_channels=3, kernel_size=1, stride=2)


def _case(name, fields):
    return {"id": f"keras-backends-{name}", **fields}


@pytest.fixture(scope="module", params=BACKEND_APIS)
def answers(request, tmp_path_factory):
    """Everything these tests ask of one backend, from one fresh interpreter."""
    api = request.param
    evaluate = [[_case(n, PLAIN[n]), dt] for n, dt in PLAIN_RUNS] + \
               [[_case(n, fields), "float32"] for n, (fields, _) in REFUSED.items()] + \
               [[_case("kernel-lt-stride", KERNEL_LT_STRIDE), "float32"]]
    observe = [{"case": h["case"], "inputs": h["inputs"], "dtype": "float64"} for h in HAND.values()]
    out = probe({"api": api, "observe": observe, "evaluate": evaluate}, tmp_path_factory.mktemp("keras"))
    n = len(PLAIN_RUNS)
    return {"api": api, "observed": dict(zip(HAND, out["observe"])),
            "plain": dict(zip(PLAIN_RUNS, out["evaluate"][:n])),
            "refused": dict(zip(REFUSED, out["evaluate"][n:n + len(REFUSED)])),
            "kernel_lt_stride": out["evaluate"][-1]}


@pytest.mark.parametrize("name", list(HAND))
def test_hand_computed_example(answers, name):
    got, expect = answers["observed"][name], HAND[name]["expect"]
    for key, value in expect.items():
        if key in ("layer_weight_shape", "param_count", "snippet_output_shape") or value is None:
            assert got[key] == value, (answers["api"], key, got[key])
        else:  # small integers: exact in float64 whatever the summation order
            np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(value, dtype=np.float64), err_msg=key)
    backend = answers["api"].split(".")[1]
    assert got["call"].startswith(f"import os; os.environ['KERAS_BACKEND'] = '{backend}'")
    assert got["native_weight_shape"] == expect["layer_weight_shape"]


@pytest.mark.parametrize("name, dtype", PLAIN_RUNS)
def test_plain_cases_pass_every_check(answers, name, dtype):
    got = answers["plain"][(name, dtype)]
    assert {c for c, (s, _) in got.items() if s != "pass"} == set(), got
    assert {"output", "weight_shape", "param_count", "grad_input", "grad_weight"} <= set(got)


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_keras_cannot_express_is_unsupported_with_the_reason(answers, name):
    got = answers["refused"][name]
    assert {s for s, _ in got.values()} == {"unsupported"}, got
    assert REFUSED[name][1] in got["output"][1]


def test_keras_own_output_size_when_the_kernel_is_smaller_than_the_stride(answers):
    got = answers["kernel_lt_stride"]
    assert got["output_shape"] == ["fail", "output_shape=[1, 3, 10], but should be [1, 3, 9]"]
    assert got["weight_shape"][0] == got["param_count"][0] == "pass"
    assert got["grad_input"][0] == "unsupported"  # the case's upstream gradient no longer fits


@pytest.mark.parametrize("api, other", [("keras.torch.layer", "jax"), ("keras.jax.layer", "torch")])
def test_keras_imported_with_another_backend_is_unsupported(api, other, tmp_path):
    missing = [p for p in ("keras", api.split(".")[1], other) if _missing(p)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    request = {"api": api, "import_keras_first": True,
               "observe": [{"case": CONV1D["case"], "inputs": CONV1D["inputs"], "dtype": "float32"}]}
    got = probe(request, tmp_path, backend=other)["observe"][0]
    assert f"with the {other!r} backend" in got["unsupported"], got


def test_outside_a_worker_the_target_does_not_import_keras_with_its_backend(monkeypatch):
    """A test session may also run TensorFlow's keras.layer, whose keras must be TensorFlow's."""
    pytest.importorskip("torch")
    from conformance.adapters import Target, load_adapter
    from conformance.adapters.base import SCRATCH_VARIABLE
    from conformance.check.evaluate import evaluate

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.delenv(SCRATCH_VARIABLE, raising=False)
    results = evaluate(load_adapter("torch"), Target("torch", "keras.torch.layer", "cpu"),
                       Case.from_dict(CONV1D["case"]), "float32")
    assert {r.status for r in results} == {"unsupported"}
    assert "KERAS_BACKEND=torch" in results[0].message


@pytest.mark.parametrize("version, backend, device, name", [
    ("3.7.0", "jax", "cpu", "cpu:0"),  # JAX backend before 3.12 splits the name on ':'
    ("3.11.3", "jax", "cpu", "cpu:0"),
    ("3.12.0", "jax", "cpu", "cpu"),
    ("3.15.1", "jax", "cpu", "cpu"),
    ("3.7.0", "torch", "cpu", "cpu"),  # never 'cpu:0' on torch: no weight gradients there
    ("3.7.0", "jax", "gpu", "gpu:0"),
])
def test_keras_device_name_by_keras_release(version, backend, device, name):
    from types import SimpleNamespace

    from conformance.adapters.keras_backend import keras_device

    assert keras_device(SimpleNamespace(__version__=version), backend, device) == name
