"""Real PyTorch and TensorFlow-with-oneDNN adapters with one planted fault (the kernel flipped,
`conformance.search.faults`), as worker kinds of their own, for tests/test_kernel_log_run.py: the
framework's own conv runs (and oneDNN logs its kernels) and the result is then wrong, so the unit fails
on every machine, whatever the CPU.

Enable them with `environment_variables(tests_dir)` (CONFORMANCE_EXTRA_ADAPTERS, PYTHONPATH).
"""
from __future__ import annotations

import json
import os

from conformance.search.faults import FAULTS_BY_NAME, FaultyAdapter

FAULT = FAULTS_BY_NAME["flipped_kernel"]
SPEC = {
    "torch-planted": {"module": "planted_onednn", "class": "PlantedTorch", "apis": ["torch.functional"],
                      "packages": ["torch"]},
    "tensorflow-onednn-planted": {"module": "planted_onednn", "class": "PlantedTensorFlow", "apis": ["tf.onednn.nn"],
                                  "packages": ["tensorflow"], "variables": {"TF_ENABLE_ONEDNN_OPTS": "1"}},
}


def environment_variables(tests_dir) -> dict:
    path = os.pathsep.join([str(tests_dir)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    return {"CONFORMANCE_EXTRA_ADAPTERS": json.dumps(SPEC), "PYTHONPATH": path}


class PlantedTorch(FaultyAdapter):
    def __init__(self):
        from conformance.adapters.torch_adapter import TorchAdapter
        super().__init__(TorchAdapter(), FAULT)


class PlantedTensorFlow(FaultyAdapter):
    def __init__(self):
        from conformance.adapters.tensorflow_adapter import TensorFlowAdapter
        super().__init__(TensorFlowAdapter(), FAULT)
