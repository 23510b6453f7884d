"""Keras 3, torch backend: layers built under `keras.device("cpu:0")` get no weight gradients.

What it shows
-------------
`keras.device` documents device names as "device_type:device_index", e.g. "cpu:0" and "gpu:0". On
the torch backend a variable is created as `torch.nn.Parameter(value).to(get_device())`
(keras/src/backend/torch/core.py, `Variable._initialize`). Under `keras.device("cpu:0")` that is
`.to("cpu:0")`, and PyTorch treats "cpu:0" as another device than the tensor's "cpu": it returns a
copy, a plain tensor that is not a leaf of the autograd graph. The layer computes its output with
that copy, so `backward()` never reaches a Parameter: the kernel's and the bias's `.grad` stay None
and an optimizer would never change the weights. The input gradient is computed. `keras.device("cpu")`
(no index) keeps the Parameter, and so does "gpu:0" on a CUDA machine (the value is created on
"cuda:0" already). The suite's keras.torch.layer target uses keras.device("cpu") for this reason
(conformance/adapters/keras_backend.py, DEVICES).

No upstream report found (searched the keras-team/keras and keras-core issues for device scopes,
`cpu:0`, non-leaf variables and missing gradients); the closest is keras-team/keras#19392 (Keras 3
on torch not following explicit `.to(device)` calls), a different symptom.

How to run
----------
    python examples/keras_torch_device_cpu0_no_weight_gradients.py

Exit status 1 when the bug shows (some scope leaves the weights without gradients), else 0.

What it printed here
--------------------
Keras 3.15.1, PyTorch 2.13.0 (CPU), Python 3.11.7, Linux x86-64:

    keras 3.15.1, torch 2.13.0+cpu
    keras.device('cpu'): kernel is a leaf Parameter: True; kernel.grad None: False; input.grad None: False
    keras.device('cpu:0'): kernel is a leaf Parameter: False; kernel.grad None: True; input.grad None: False

(and PyTorch's warning that the .grad of a non-leaf tensor is being read); exit status 1.
"""
from __future__ import annotations

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402 - after KERAS_BACKEND, which keras reads at import
import torch  # noqa: E402


def gradients_reach_the_weights(device_name: str) -> bool:
    with keras.device(device_name):
        layer = keras.layers.Conv2D(4, 3)
        layer.build((1, 6, 6, 2))
        x = torch.randn(1, 6, 6, 2, requires_grad=True)
        layer(x).sum().backward()
        kernel = layer.kernel.value
        leaf = isinstance(kernel, torch.nn.Parameter) and kernel.is_leaf
        print(f"keras.device({device_name!r}): kernel is a leaf Parameter: {leaf}; "
              f"kernel.grad None: {kernel.grad is None}; input.grad None: {x.grad is None}")
        return kernel.grad is not None


def main() -> int:
    print(f"keras {keras.__version__}, torch {torch.__version__}")
    results = [gradients_reach_the_weights(name) for name in ("cpu", "cpu:0")]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
