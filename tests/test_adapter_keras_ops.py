"""keras.ops.conv, conv_transpose and depthwise_conv on the three Keras backends (keras.ops on
TensorFlow, keras.jax.ops, keras.torch.ops: conformance/adapters/keras_ops.py).

TensorFlow's runs in this process (the session's keras is TensorFlow's); JAX's and torch's in a fresh
interpreter each (tests/keras_probe.py), since Keras reads KERAS_BACKEND once per process. The
hand-computed examples are those of test_adapter_keras_backends.py, worked out in its comments
independently of the oracle and the adapters; the other cases are judged by `evaluate` against the
oracle, which tests/test_oracle.py checks on its own.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from keras_probe import probe
from test_adapter_keras_backends import HAND, PLAIN as LAYER_PLAIN

from conformance import Case
from conformance.adapters import keras_ops
from conformance.adapters.base import Unsupported


def _missing(package):
    return importlib.util.find_spec(package) is None


# ----------------------------------------------------------------------------- the call (no framework)
CONV = {"id": "ops", "op": "conv", "input_shape": [1, 4, 9, 9], "out_channels": 8, "kernel_size": 3}
CALLS = [  # (case fields, op, its keyword arguments but data_format, kernel shape)
    (CONV, "conv", dict(strides=(1, 1), padding="valid", dilation_rate=(1, 1)), (3, 3, 4, 8)),
    ({**CONV, "groups": 2, "stride": 2, "padding": "same"}, "conv",  # groups: kernel in-channels 4 / 2
     dict(strides=(2, 2), padding="same", dilation_rate=(1, 1)), (3, 3, 2, 8)),
    ({**CONV, "groups": 4, "dilation": 2}, "depthwise_conv", dict(strides=(1, 1), padding="valid",
                                                                 dilation_rate=(2, 2)), (3, 3, 4, 2)),
    ({**CONV, "input_shape": [1, 4, 5, 5, 5], "groups": 4}, "conv",  # no 3-D depthwise_conv: a grouped conv
     dict(strides=(1, 1, 1), padding="valid", dilation_rate=(1, 1, 1)), (3, 3, 3, 1, 8)),
    ({**CONV, "op": "conv_transpose", "stride": 2}, "conv_transpose",  # output_padding 0: Keras's default None
     dict(strides=(2, 2), padding="valid", dilation_rate=(1, 1), output_padding=None), (3, 3, 8, 4)),
    ({**CONV, "op": "conv_transpose", "stride": 2, "output_padding": [1, 0]}, "conv_transpose",
     dict(strides=(2, 2), padding="valid", dilation_rate=(1, 1), output_padding=(1, 0)), (3, 3, 8, 4)),
]


@pytest.mark.parametrize("fields, op, kwargs, kernel", CALLS)
def test_op_arguments_and_kernel_shape(fields, op, kwargs, kernel):
    case = Case.from_dict(fields)
    assert keras_ops.op_name(case) == op
    assert keras_ops.arguments(case, "float32") == {**kwargs, "data_format": "channels_last"}
    assert keras_ops.native_weight_shape(case) == kernel


REFUSED = {  # what no keras.ops call expresses, refused before any call, and the reason's words
    "groupsT": (dict(op="conv_transpose", input_shape=[1, 4, 5, 5], out_channels=4, kernel_size=3, groups=2),
                "has no groups"),
    "explicit": (dict(op="conv", input_shape=[1, 2, 7], out_channels=3, kernel_size=3, padding=[[1, 2]]),
                 "[begin, end] = [[1, 2]]"),
    "causal": (dict(op="conv", input_shape=[1, 2, 7], out_channels=3, kernel_size=3, padding="causal"),
               "needs 'causal'"),
    "same_lower": (dict(op="conv_transpose", input_shape=[1, 2, 7], out_channels=3, kernel_size=3,
                        padding="same_lower"), "needs 'same_lower'"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_keras_ops_cannot_express_is_refused_with_the_reason(name):
    fields, words = REFUSED[name]
    with pytest.raises(Unsupported, match="keras.ops.conv") as info:
        keras_ops.check_expressible(Case.from_dict({"id": name, **fields}))
    assert words in str(info.value)


def test_the_call_reads_as_the_op_with_the_bias_added_by_keras_ops_add():
    from conformance.adapters import keras_ops_snippet

    case = Case.from_dict({**CONV, "groups": 4})
    text = keras_ops_snippet.write(case, "float32", "depthwise_conv", keras_ops.arguments(case, "float32"),
                                   backend="torch").text()
    assert text.startswith("import os; os.environ['KERAS_BACKEND'] = 'torch'")
    assert "keras.ops.depthwise_conv(x, kernel, strides=(1, 1), padding='valid'" in text
    assert "keras.ops.add(y, b)" in text and "with keras.device('cpu'):" in text


# ----------------------------------------------------------------------------- on the backends
# Stride 2 with dilation 2: Keras's Conv*D layers refuse it (keras_layers.REFUSALS); keras.ops
# computes it on JAX and torch, and TensorFlow's keras.ops.conv refuses it with tf.nn.convolution's
# words (keras-team/keras#23028) while its depthwise_conv computes it (keras-team/keras#23027).
STRIDE_DILATION = dict(op="conv", input_shape=[1, 2, 9, 9], out_channels=3, kernel_size=3, stride=2, dilation=2)
DEPTHWISE_STRIDE_DILATION = dict(op="conv", input_shape=[1, 2, 9, 9], out_channels=4, kernel_size=3, stride=2,
                                 dilation=2, groups=2)
# the Keras layers' plain cases that keras.ops expresses too, and two more (stride with dilation: keras.ops only)
PLAIN = {name: LAYER_PLAIN[name] for name in ("conv2d-same-stride2", "grouped3d", "depthwise2d-m2",
                                              "convT2d-valid-stride2-outpad1", "convT2d-same-stride2-odd")}
PLAIN.update({
    "grouped2d-dilated": dict(op="conv", input_shape=[1, 4, 7, 7], out_channels=6, kernel_size=3, groups=2,
                              dilation=2),
    "depthwise-stride-dilation": DEPTHWISE_STRIDE_DILATION,
})
PLAIN_RUNS = [(name, dtype) for name in PLAIN for dtype in ("float32", "float64")] + [("depthwise2d-m2", "bfloat16")]
BACKENDS = [pytest.param(api, marks=pytest.mark.skipif(_missing("keras") or _missing(fw),
                                                        reason=f"keras or {fw} is not installed"), id=api)
            for api, fw in (("keras.ops", "tensorflow"), ("keras.jax.ops", "jax"), ("keras.torch.ops", "torch"))]


def _in_this_process(api: str, observe: list, evaluate: list) -> dict:
    """keras.ops on TensorFlow, run here, answering as keras_probe does."""
    import keras_probe

    from conformance.adapters import load_adapter

    adapter = load_adapter("tensorflow")
    return {"observe": [keras_probe._observe(adapter, api, item) for item in observe],
            "evaluate": [keras_probe._evaluate(adapter, api, pair) for pair in evaluate]}


@pytest.fixture(scope="module", params=BACKENDS)
def answers(request, tmp_path_factory):
    """Everything these tests ask of one backend, from one process."""
    api = request.param
    evaluate = [[{"id": f"keras-ops-{n}", **PLAIN[n]}, dt] for n, dt in PLAIN_RUNS] + \
               [[{"id": "keras-ops-stride-dilation", **STRIDE_DILATION}, "float32"]]
    observe = [{"case": h["case"], "inputs": h["inputs"], "dtype": "float64", "repro": True} for h in HAND.values()]
    if api == "keras.ops":
        out = _in_this_process(api, observe, evaluate)
    else:
        out = probe({"api": api, "observe": observe, "evaluate": evaluate}, tmp_path_factory.mktemp("keras-ops"))
    n = len(PLAIN_RUNS)
    return {"api": api, "observed": dict(zip(HAND, out["observe"])), "plain": dict(zip(PLAIN_RUNS, out["evaluate"][:n])),
            "stride_dilation": out["evaluate"][n]}


@pytest.mark.parametrize("name", list(HAND))
def test_hand_computed_example(answers, name):
    got, expect = answers["observed"][name], HAND[name]["expect"]
    for key in ("output", "grad_input", "grad_weight", "grad_bias"):
        for source, values in (("adapter", got), ("repro script", got["repro"])):
            if expect[key] is None:
                assert values.get(key) is None, (answers["api"], source, key, values.get(key))
            else:  # small integers: exact in float64 whatever the summation order
                np.testing.assert_array_equal(np.asarray(values[key]), np.asarray(expect[key], dtype=np.float64),
                                              err_msg=f"{answers['api']} {source} {key}")
    assert got["layer_weight_shape"] is None and got["param_count"] is None  # no layer: the caller holds the kernel
    assert got["native_weight_shape"] == expect["layer_weight_shape"]  # the layers' kernel layouts
    assert got["snippet_output_shape"] == expect["snippet_output_shape"]
    backend = {"keras.ops": "tensorflow", "keras.jax.ops": "jax", "keras.torch.ops": "torch"}[answers["api"]]
    assert got["call"].startswith(f"import os; os.environ['KERAS_BACKEND'] = '{backend}'")


@pytest.mark.parametrize("name, dtype", PLAIN_RUNS)
def test_plain_cases_pass_every_check(answers, name, dtype):
    got = answers["plain"][(name, dtype)]
    assert {c for c, (s, _) in got.items() if s != "pass"} == set(), got
    assert {"output", "grad_input", "grad_weight"} <= set(got) and "param_count" not in got


def test_stride_with_dilation_computes_where_the_layers_refuse_it(answers):
    got = answers["stride_dilation"]
    if answers["api"] == "keras.ops":  # TensorFlow's backend passes it to tf.nn.convolution, which refuses
        assert {s for s, _ in got.values()} == {"unsupported"}, got
        assert "`strides > 1` not supported in conjunction with `dilation_rate > 1`" in got["output"][1]
    else:
        assert {s for s, _ in got.values()} == {"pass"}, got


# ----------------------------------------------------------------------------- conformance repro
REPRO_CASES = """
cases:
  - id: ops-grouped-biased
    op: conv
    input_shape: [2, 4, 6, 5]
    out_channels: 6
    kernel_size: 3
    stride: 2
    padding: same
    groups: 2
  - id: ops-depthwise-biased
    op: conv
    input_shape: [1, 3, 7]
    out_channels: 6
    kernel_size: 2
    groups: 3
    dilation: 2
  - id: ops-transposed-same-output-padding
    op: conv_transpose
    input_shape: [1, 2, 4, 4]
    out_channels: 3
    kernel_size: 3
    stride: 2
    padding: same
    output_padding: 1
"""


REPRO_UNITS = [("keras.ops@cpu", "ops-grouped-biased"), ("keras.ops@cpu", "ops-transposed-same-output-padding"),
               ("keras.jax.ops@cpu", "ops-depthwise-biased"), ("keras.jax.ops@cpu", "ops-grouped-biased"),
               ("keras.torch.ops@cpu", "ops-transposed-same-output-padding"),
               ("keras.torch.ops@cpu", "ops-depthwise-biased")]  # each case on two backends: a worker start each


@pytest.mark.parametrize("target, case_id", REPRO_UNITS)
def test_the_repro_script_reproduces_every_record(target, case_id, tmp_path):
    """`repro --check` runs the unit in its worker, writes the script, runs it and compares its
    verdicts with the records: the bias added by keras.ops.add, the grouped kernel, the depthwise
    kernel, and a known difference (Keras's 'same' with output_padding) reproduced as a failure."""
    from conformance.cli import main
    from conformance.spec.library import library_folder

    if any(_missing(p) for p in ("keras", {"keras.ops": "tensorflow", "keras.jax.ops": "jax",
                                           "keras.torch.ops": "torch"}[target.split("@")[0]])):
        pytest.skip(f"{target} is not installed")
    cases = tmp_path / "cases.yaml"
    cases.write_text(REPRO_CASES)
    script = tmp_path / "repro.py"
    code = main(["repro", case_id, "--target", target, "--dtype", "float32", "--cases", str(cases), "--known",
                 str(library_folder() / "known_differences.yaml"), "--cache-dir", "none", "-o", str(script), "--check"])
    assert code == 0
    assert "keras.ops." in script.read_text() and "import conformance" not in script.read_text()
