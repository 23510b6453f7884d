"""The JAX adapter (jax.lax and flax.layer) against the oracle, end to end through `evaluate`."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from conformance import Case  # noqa: E402
from conformance.adapters import Target, Unsupported, load_adapter  # noqa: E402
from conformance.check.evaluate import evaluate  # noqa: E402
from conformance.spec.inputs import make_inputs  # noqa: E402

APIS = ("jax.lax", "flax.layer")


@pytest.fixture(scope="module")
def adapter():
    return load_adapter("jax")


def needs(api: str):
    if api == "flax.layer":
        pytest.importorskip("flax")


def case(**fields) -> Case:
    # A distinct id per configuration: ids seed the inputs and key the oracle's cache.
    return Case.from_dict({"id": "jax-" + ",".join(f"{k}={v}" for k, v in fields.items()), **fields})


def statuses(adapter, api, c: Case, dtype: str) -> dict[str, str]:
    return {r.check: r.status for r in evaluate(adapter, Target("jax", api, "cpu"), c, dtype)}


# Plain conv and transposed conv: every check passes on both APIs in float32 and float64.
PLAIN = {
    "conv2d-pad1": dict(op="conv", input_shape=[2, 3, 6, 5], out_channels=4, kernel_size=3, padding=1),
    "convT2d-crop1-outpad1": dict(op="conv_transpose", input_shape=[2, 3, 4, 5], out_channels=4, kernel_size=3,
                                  stride=2, padding=1, output_padding=1),
}
# Keywords, groups, dilation and asymmetric crops: float32 only, to keep the file fast.
MORE = {
    "conv2d-same-stride2": dict(op="conv", input_shape=[1, 2, 7, 6], out_channels=3, kernel_size=[3, 2],
                                stride=2, padding="same"),
    "conv1d-causal-dilated": dict(op="conv", input_shape=[2, 2, 9], out_channels=3, kernel_size=3, dilation=2,
                                  padding="causal", bias=False),
    "conv2d-depthwise-x2": dict(op="conv", input_shape=[1, 3, 6, 6], out_channels=6, kernel_size=3, groups=3),
    "convT2d-same-stride2": dict(op="conv_transpose", input_shape=[1, 2, 4, 3], out_channels=3, kernel_size=[4, 3],
                                 stride=2, padding="same"),
    "convT1d-asym-crop-dilated": dict(op="conv_transpose", input_shape=[1, 2, 5], out_channels=2, kernel_size=3,
                                      stride=3, padding=[[2, 0]], dilation=2, bias=False),
}
RUNS = ([pytest.param(n, dt, id=f"{n}-{dt}") for n in PLAIN for dt in ("float32", "float64")]
        + [pytest.param(n, "float32", id=f"{n}-float32") for n in MORE])


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("name, dtype", RUNS)
def test_cases_pass_every_check(adapter, name, dtype, api):
    needs(api)
    results = evaluate(adapter, Target("jax", api, "cpu"), case(**{**PLAIN, **MORE}[name]), dtype)
    bad = {r.check: f"{r.status}: {r.message}" for r in results if r.status != "pass"}
    assert not bad, bad
    checks = {r.check for r in results}
    assert {"output", "grad_input", "grad_weight"} <= checks
    assert ({"weight_shape", "param_count"} <= checks) == (api == "flax.layer")


@pytest.mark.parametrize("api", APIS)
def test_transposed_conv_notes_say_transpose_kernel(adapter, api):
    needs(api)
    results = evaluate(adapter, Target("jax", api, "cpu"), case(**PLAIN["convT2d-crop1-outpad1"]), "float32")
    assert all("transpose_kernel=True" in r.message for r in results)
    assert "transpose_kernel=True" in results[0].call


@pytest.mark.parametrize("api", APIS)
def test_groups_on_conv_transpose_are_unsupported(adapter, api):
    needs(api)
    c = case(op="conv_transpose", input_shape=[1, 4, 5, 5], out_channels=4, kernel_size=3, groups=2)
    results = evaluate(adapter, Target("jax", api, "cpu"), c, "float32")
    assert {r.status for r in results} == {"unsupported"}
    assert "groups" in results[0].message


@pytest.mark.parametrize("api", APIS)
def test_conv_transpose_valid_with_kernel_below_stride_is_a_fail(adapter, api):
    # A legitimate difference, not an adapter bug: JAX's 'VALID' for conv_transpose gives
    # in * stride + max(k_eff - stride, 0) (the Keras deconv_output_length rule), while the reference
    # (and PyTorch with padding=0) gives stride * (in - 1) + k_eff; they differ when k_eff < stride.
    # https://docs.jax.dev/en/latest/_autosummary/jax.lax.conv_transpose.html
    # https://github.com/jax-ml/jax/issues/17618
    needs(api)
    c = case(op="conv_transpose", input_shape=[1, 2, 5], out_channels=3, kernel_size=2, stride=3, padding="valid")
    results = {r.check: r for r in evaluate(adapter, Target("jax", api, "cpu"), c, "float32")}
    assert results["output_shape"].status == "fail"
    assert results["output_shape"].got == [1, 3, 15] and results["output_shape"].expected == [1, 3, 14]
    assert results["output"].status == "fail"
    # The upstream gradient has the reference's shape, so JAX's vjp cannot take it: said, not hidden.
    assert results["grad_input"].status == "unsupported"
    assert "upstream gradient does not apply" in results["grad_input"].message


def test_float64_does_not_leave_x64_enabled(adapter):
    before = bool(jax.config.jax_enable_x64)
    assert statuses(adapter, "jax.lax", case(**PLAIN["conv2d-pad1"]), "float64")["output"] == "pass"
    assert bool(jax.config.jax_enable_x64) == before
    if not before:
        assert jax.numpy.asarray(np.ones(2)).dtype == np.float32


def test_strict_profile_passes_and_says_so_in_the_reproducer(adapter):
    results = evaluate(adapter, Target("jax", "jax.lax", "cpu"), case(**PLAIN["conv2d-pad1"]), "float32",
                       profile="strict")
    assert {r.status for r in results} == {"pass"}
    assert "jax_default_matmul_precision" in results[0].call


def test_low_precision_dtypes_run(adapter):
    c = case(**PLAIN["conv2d-pad1"])
    for dtype in ("float16", "bfloat16"):
        assert set(statuses(adapter, "jax.lax", c, dtype).values()) == {"pass"}, dtype


@pytest.mark.parametrize("fields, expected", [
    pytest.param(dict(op="conv", input_shape=[1, 4, 8, 9], out_channels=6, kernel_size=[3, 5], groups=2),
                 (3, 5, 2, 6), id="conv2d-groups2"),
    pytest.param(dict(op="conv", input_shape=[1, 3, 8], out_channels=6, kernel_size=4, groups=3),
                 (4, 1, 6), id="conv1d-depthwise"),
    pytest.param(dict(op="conv_transpose", input_shape=[1, 4, 5], out_channels=3, kernel_size=2),
                 (2, 3, 4), id="convT1d"),
    pytest.param(dict(op="conv_transpose", input_shape=[1, 2, 4, 4, 4], out_channels=5, kernel_size=[1, 2, 3]),
                 (1, 2, 3, 5, 2), id="convT3d"),
])
@pytest.mark.parametrize("api", APIS)
def test_native_weight_shape(adapter, api, fields, expected):
    assert adapter.native_weight_shape(api, case(**fields)) == expected


@pytest.mark.parametrize("api", APIS)
def test_layer_reports_its_own_shapes(adapter, api):
    needs(api)
    c = case(op="conv", input_shape=[1, 4, 6, 6], out_channels=6, kernel_size=[3, 2], groups=2, bias=False)
    obs = adapter.run(api, c, "float32", "cpu", make_inputs(c, "float32"))
    if api == "flax.layer":
        assert obs.layer_weight_shape == (3, 2, 2, 6)
        assert obs.param_count == c.param_count == 72
    assert obs.grad_bias is None


def test_repeated_config_hits_the_jit_cache(adapter):
    c = case(**PLAIN["conv2d-pad1"])
    inputs = make_inputs(c, "float32")
    adapter.run("jax.lax", c, "float32", "cpu", inputs)
    size = adapter.forward_backward._cache_size()
    adapter.run("jax.lax", c, "float32", "cpu", inputs)
    assert adapter.forward_backward._cache_size() == size


@pytest.mark.parametrize("api", APIS)
def test_reproducer_snippet_runs(adapter, api):
    needs(api)
    c = case(**PLAIN["convT2d-crop1-outpad1"])
    obs = adapter.run(api, c, "float32", "cpu", make_inputs(c, "float32"))
    scope: dict = {}
    exec(obs.call, scope)  # our own generated code
    n, o, *spatial = c.output_shape
    assert scope["y"].shape == (n, *spatial, o)  # channels-last


def test_flax_missing_is_unsupported(monkeypatch):
    fresh = load_adapter("jax")
    monkeypatch.setattr(fresh, "nn", None)
    c = case(**PLAIN["conv2d-pad1"])
    with pytest.raises(Unsupported, match="flax is not installed"):
        fresh.run("flax.layer", c, "float32", "cpu", make_inputs(c, "float32"))


def test_environment_devices_and_precision(adapter):
    assert adapter.devices()[0] == "cpu"
    env = adapter.environment()
    assert env["version"] == jax.__version__ and env["backend"] in ("cpu", "gpu", "tpu")
    with adapter.precision("cpu", "strict") as settings:
        assert settings["jax_default_matmul_precision"] == "highest"
    assert jax.config.jax_default_matmul_precision != "highest"
    with adapter.precision("cpu", "defaults") as settings:
        assert settings == adapter.settings()


@pytest.mark.parametrize("api", APIS)
def test_a_backward_that_raises_keeps_the_output_compared(adapter, api, monkeypatch):
    """jax.lax.conv_general_dilated (which Flax's Conv calls too) with a backward rule that raises,
    not a refusal: the gradients are errors with its text, the forward output is still compared."""
    needs(api)
    real = jax.lax.conv_general_dilated

    @jax.custom_vjp
    def broken_backward(y):
        return y

    def backward(residual, g):
        raise ZeroDivisionError("planted in the backward pass")

    broken_backward.defvjp(lambda y: (y, None), backward)
    monkeypatch.setattr(jax.lax, "conv_general_dilated", lambda *a, **k: broken_backward(real(*a, **k)))
    c = case(op="conv", input_shape=[2, 2, 6], out_channels=3, kernel_size=3, bias=True, tags=["backward-raises"])
    got = {r.check: r for r in evaluate(adapter, Target("jax", api, "cpu"), c, "float32")}
    assert got["output"].status == got["output_shape"].status == "pass", got["output"].message
    for check, what in (("grad_input", "input"), ("grad_weight", "weight"), ("grad_bias", "bias")):
        assert (got[check].status, got[check].message) == (
            "error", f"computing the gradient for the {what} raised ZeroDivisionError: planted in the backward pass")
