"""Real PyTorch and TensorFlow-with-oneDNN adapters with one planted fault (the kernel flipped,
`conformance.search.faults`), as worker kinds of their own, for tests/test_kernel_log_run.py: the
framework's own conv runs (and oneDNN logs its kernels) and the result is then wrong, so the unit fails
on every machine, whatever the CPU.

They are a target plugin (`plugin_environment` writes its entry point), under API names of their own
(a plugin cannot take the suite's), marked as running oneDNN in their process.
"""
from __future__ import annotations

from pathlib import Path

import fakefw
from conformance.adapters import load_adapter
from conformance.search.faults import FAULTS_BY_NAME, FaultyAdapter

FAULT = FAULTS_BY_NAME["flipped_kernel"]
INNER = {"planted.torch.functional": "torch.functional", "planted.tf.onednn.nn": "tf.onednn.nn"}
KINDS = ("torch-planted", "tensorflow-onednn-planted")
DECLARATIONS = """from conformance.spec.frameworks import Declaration
DECLARATIONS = [
    Declaration("planted.torch.functional", "torch-planted", "planted_onednn:PlantedTorch", ("torch",),
                devices=("cpu",), onednn=True),
    Declaration("planted.tf.onednn.nn", "tensorflow-onednn-planted", "planted_onednn:PlantedTensorFlow",
                ("tensorflow",), devices=("cpu",), variables={"TF_ENABLE_ONEDNN_OPTS": "1"}, onednn=True),
]
"""


def plugin_environment(folder) -> dict:
    """PYTHONPATH for a subprocess (and its workers) that has the planted targets."""
    return fakefw.write_plugin(Path(folder), "planted_onednn_plugin", DECLARATIONS)


class _Planted(FaultyAdapter):
    """The inner adapter with the fault, answering to the planted API names. The inner adapter is the
    suite's own kind (`load_adapter`), so its paths are the kind's: tf.onednn.nn is a path of the
    tensorflow-onednn kind, not of the class's default kind."""

    def __init__(self, inner, apis):
        super().__init__(inner, FAULT)
        self.apis = apis

    def native_weight_shape(self, api, case):
        return super().native_weight_shape(INNER[api], case)

    def run(self, api, case, dtype, device, inputs):
        return super().run(INNER[api], case, dtype, device, inputs)


class PlantedTorch(_Planted):
    def __init__(self):
        super().__init__(load_adapter("torch"), ("planted.torch.functional",))


class PlantedTensorFlow(_Planted):
    def __init__(self):
        super().__init__(load_adapter("tensorflow-onednn"), ("planted.tf.onednn.nn",))
