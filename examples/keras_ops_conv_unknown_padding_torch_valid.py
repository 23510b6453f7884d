"""Keras 3, keras.ops.conv: a padding other than 'valid' or 'same' is refused on TensorFlow and JAX,
and silently computed as 'valid' on PyTorch.

What it shows
-------------
`keras.ops.conv` documents `padding` as "string, either "valid" or "same"" (https://keras.io/api/ops/nn/);
`keras.layers.Conv1D` also takes "causal", so a user porting a causal Conv1D to the functional API
may pass it. `keras.ops.conv` lowercases the string and hands it to the backend without checking it:
- TensorFlow: tf.nn.convolution refuses "CAUSAL" (InvalidArgumentError, "not in the list of allowed
  values");
- JAX: jax.lax.conv_general_dilated refuses it (RuntimeError, "Unrecognized padding type");
- PyTorch: keras/src/backend/torch/nn.py `conv` pads only `if padding == "same"` and otherwise passes
  padding=0, so "causal" (or any other string) is computed as "valid": a shorter output, no error.
The suite's keras.ops targets refuse every padding but 'valid' and 'same' before the call, as the
documentation says (conformance/adapters/keras_ops.py), so no record shows this; this script does.
No upstream report found; the closest is keras-team/keras#18535 (the same torch branch computed
"SAME" in capitals as 'valid', fixed by lowercasing the argument).

How to run
----------
    python examples/keras_ops_conv_unknown_padding_torch_valid.py

Each backend runs in a process of its own (Keras reads KERAS_BACKEND once). Exit status 1 when some
installed backend computes the undocumented padding without raising, else 0.

What it printed here
--------------------
Keras 3.15.1, TensorFlow 2.21.0, JAX 0.10.2, PyTorch 2.13.0 (CPU), Linux x86-64:

    tensorflow: raised InvalidArgumentError: Value for attr 'padding' of "CAUSAL" is not in the list of allowed values: "SAME", "VALID", "EXPLICIT"
    jax: raised RuntimeError: Unrecognized padding type: expected 'VALID', 'SAME', or 'SAME_LOWER', got causal.
    torch: computed an output of length 6 from 8 inputs with kernel 3 (the 'valid' length; 'causal' gives 8)

exit status 1.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

PROBE = """
import numpy as np, keras
x = np.arange(8, dtype="float32").reshape(1, 8, 1)
kernel = np.ones((3, 1, 1), "float32")
try:
    y = keras.ops.conv(x, kernel, padding="causal")
    print(f"computed an output of length {y.shape[1]} from 8 inputs with kernel 3 "
          "(the 'valid' length; 'causal' gives 8)")
except Exception as exc:
    print(f"raised {type(exc).__name__}: {str(exc).splitlines()[0][:150]}")
"""


def main() -> int:
    computed = False
    for backend, package in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")):
        if importlib.util.find_spec(package) is None or importlib.util.find_spec("keras") is None:
            print(f"{backend}: not installed")
            continue
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
        line = (done.stdout.strip().splitlines() or [done.stderr.strip()[-300:]])[-1]
        print(f"{backend}: {line}")
        computed |= line.startswith("computed")
    return 1 if computed else 0


if __name__ == "__main__":
    sys.exit(main())
