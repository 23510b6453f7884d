"""The ONNX adapter's opset probe on fake onnx and onnxruntime modules: it steps down past the opsets
that onnx's helper refuses (an onnx whose newest defined opset is missing from its helper's version
table, as in onnx 1.22.0: opset 27 defined, table up to 26) and past those ONNX Runtime refuses.
No real onnx is needed."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from conformance.adapters.onnx_adapter import _newest_common_opset


class FakeModel:
    def __init__(self, opset: int):
        self.opset = opset

    def SerializeToString(self) -> bytes:  # noqa: N802 - onnx's name
        return str(self.opset).encode()


def fake_onnx(defined: int, helper_builds: int, version: str = "1.22.0"):
    """An onnx that defines opsets up to `defined` and whose helper builds models up to `helper_builds`."""
    built: list[int] = []

    def make_model_gen_version(graph, opset_imports):
        (opset,) = opset_imports
        built.append(opset)
        if opset > helper_builds:
            raise ValueError(f"Unsupported opset-version: {opset}")  # onnx.helper's own text
        return FakeModel(opset)

    helper = SimpleNamespace(make_node=lambda *a, **k: "node", make_graph=lambda *a, **k: "graph",
                             make_tensor_value_info=lambda *a, **k: "info", make_opsetid=lambda domain, v: v,
                             make_model_gen_version=make_model_gen_version)
    return SimpleNamespace(__version__=version, defs=SimpleNamespace(onnx_opset_version=lambda: defined),
                           helper=helper, TensorProto=SimpleNamespace(FLOAT=1)), built


def fake_ort(loads: int):
    """An onnxruntime whose InferenceSession loads models of opsets up to `loads`."""
    loaded: list[int] = []

    def session(data: bytes, options, providers):
        opset = int(data.decode())
        loaded.append(opset)
        if opset > loads:
            raise RuntimeError(f"ONNX Runtime only *guarantees* support for models stamped with opset <= {loads}")
        return object()

    return SimpleNamespace(__version__="1.20.1", SessionOptions=lambda: SimpleNamespace(),
                           InferenceSession=session), loaded


def test_steps_down_past_opsets_the_helper_refuses():
    onnx, built = fake_onnx(defined=27, helper_builds=26)
    ort, loaded = fake_ort(loads=28)
    opset, limits = _newest_common_opset(onnx, ort)
    assert opset == 26
    assert built == [27, 26] and loaded == [26]  # ORT never sees the model the helper could not build
    assert limits == {"opset_onnx_newest": 27, "opset_onnx_helper_newest": 26, "opset_onnxruntime_newest": 26}


def test_steps_down_past_the_helper_then_past_onnxruntime():
    onnx, built = fake_onnx(defined=27, helper_builds=26)
    ort, loaded = fake_ort(loads=23)
    opset, limits = _newest_common_opset(onnx, ort)
    assert opset == 23
    assert built == [27, 26, 25, 24, 23] and loaded == [26, 25, 24, 23]
    assert limits == {"opset_onnx_newest": 27, "opset_onnx_helper_newest": 26, "opset_onnxruntime_newest": 23}


def test_without_onnxruntime_the_newest_the_helper_builds():
    onnx, built = fake_onnx(defined=25, helper_builds=22)
    opset, limits = _newest_common_opset(onnx, None)
    assert opset == 22 and built == [25, 24, 23, 22]
    assert limits == {"opset_onnx_newest": 25, "opset_onnx_helper_newest": 22, "opset_onnxruntime_newest": None}


def test_onnx_newest_when_everything_takes_it():
    onnx, built = fake_onnx(defined=28, helper_builds=28)
    ort, loaded = fake_ort(loads=28)
    assert _newest_common_opset(onnx, ort) == (28, {"opset_onnx_newest": 28, "opset_onnx_helper_newest": 28,
                                                    "opset_onnxruntime_newest": 28})
    assert built == loaded == [28]


@pytest.mark.parametrize("ort_loads, says", [(0, "onnxruntime 1.20.1 loads no opset"), (None, "helper builds no opset")])
def test_no_common_opset_says_which_package_refused(ort_loads, says):
    onnx, _ = fake_onnx(defined=3, helper_builds=3 if ort_loads is not None else 0)
    ort = fake_ort(loads=ort_loads)[0] if ort_loads is not None else None
    with pytest.raises(RuntimeError, match=says):
        _newest_common_opset(onnx, ort)
