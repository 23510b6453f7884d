"""PyTorch CPU: conv2d's backward raises for a batch-1 channels-last input and a one-filter weight
whose strides are those of a permuted view, as Keras's torch backend passes it.

What it shows
-------------
Keras 3 on the torch backend runs Conv2D as `torch.nn.functional.conv2d` on the channels-last input
converted with `.contiguous(memory_format=torch.channels_last)` and the kernel (*k, I, O) permuted to
(O, I, *k) (keras/src/backend/torch/nn.py, `conv`, `_transpose_conv_kernel`,
`_maybe_convert_to_channels_last`). With one filter (O = 1) the permuted view already counts as
channels-last contiguous, so Keras passes it as it is, with strides (1, 1, k * I, I). With a batch
of 1 PyTorch then takes its slow_conv2d path, whose backward allocates the weight gradient like the
weight and refuses it: "RuntimeError: slow_conv2d: grad_weight must be contiguous". Keras's
Conv2DTranspose with one input channel fails the same way in slow_conv_transpose2d ("grad_weight
needs to be contiguous"). The forward pass is right; training such a layer on the CPU fails. Batch 2,
two filters, or a contiguous copy of the weight all work. In the library: the worked examples
seed_rgb_channels_summed and seed_d2l_two_channels_summed (2-D, batch 1, one filter), whose
keras.torch.layer gradients are `unsupported` with that message.

No upstream report found (searched pytorch/pytorch and keras-team/keras issues for the message,
channels_last and one-filter weights); the closest is pytorch/vision#6001, the same check failing
for channels-last ConvNeXt weights in 2022, fixed then for that layout.

How to run
----------
    python examples/torch_conv2d_channels_last_single_filter_grad.py          # plain PyTorch
    python examples/torch_conv2d_channels_last_single_filter_grad.py --keras  # Keras Conv2D, torch backend

Exit status 1 when the backward raises, else 0.

What it printed here
--------------------
PyTorch 2.13.0 (CPU), Keras 3.15.1, Python 3.11.7, Linux x86-64 (the --keras form prints the last
line only), exit status 1:

    weight strides (1, 1, 4, 2), channels-last contiguous: True, contiguous: False
    backward: RuntimeError: slow_conv2d: grad_weight must be contiguous
"""
from __future__ import annotations

import os
import sys


def plain_torch() -> None:
    import torch

    x = torch.randn(1, 2, 3, 3).contiguous(memory_format=torch.channels_last)  # N=1, C_in=2, 3x3
    kernel = torch.randn(2, 2, 2, 1, requires_grad=True)  # (kh, kw, C_in, C_out=1), as Keras holds it
    w = kernel.permute(3, 2, 0, 1)  # (C_out, C_in, kh, kw): Keras's _transpose_conv_kernel
    print(f"weight strides {w.stride()}, channels-last contiguous: "
          f"{w.is_contiguous(memory_format=torch.channels_last)}, contiguous: {w.is_contiguous()}")
    torch.nn.functional.conv2d(x, w).sum().backward()


def keras_layer() -> None:
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    import torch

    layer = keras.layers.Conv2D(filters=1, kernel_size=2)
    x = torch.randn(1, 3, 3, 2, requires_grad=True)  # channels-last, batch 1
    layer(x).sum().backward()


def main(argv: list[str]) -> int:
    try:
        keras_layer() if "--keras" in argv else plain_torch()
    except RuntimeError as exc:
        print(f"backward: RuntimeError: {exc}")
        return 1
    print("backward: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
