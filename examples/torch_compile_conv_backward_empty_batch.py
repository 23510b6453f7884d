"""torch.compile: the backward of a conv on an empty batch fails Inductor's stride check.

What it shows
-------------
`torch.compile` (Inductor, CPU) of `F.conv2d` / `F.conv_transpose2d` with an input of batch 0 runs
the forward, but the compiled backward raises `AssertionError: expected size 3==3, stride 1==9 at
dim=1 ... Error in op: torch.ops.aten.convolution_backward.default`: the meta (fake) kernel of
convolution_backward predicts contiguous gradients, and eager's empty-input branch returns them
with other strides (aten/src/ATen/native/Convolution.cpp; pytorch/pytorch#177685 discusses the
same empty-input branch, #171622 the meta kernel's stride predictions). Eager mode computes the
empty input gradient and the zero weight and bias gradients. A batch of 2 compiles and runs.

How to run
----------
    python examples/torch_compile_conv_backward_empty_batch.py     # torch 2.13.0+cpu
"""
import torch
import torch.nn.functional as F

torch.manual_seed(0)
for batch in (2, 0):
    x = torch.randn(batch, 3, 6, 6, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    y = torch.compile(F.conv2d, fullgraph=True)(x, w, b)
    try:
        gx, gw, gb = torch.autograd.grad(y, (x, w, b), torch.ones_like(y))
        print(f"batch {batch}: compiled backward ran; grad_weight {tuple(gw.shape)}, |grad_bias| sum {float(gb.abs().sum())}")
    except AssertionError as exc:
        print(f"batch {batch}: compiled backward raised AssertionError: {str(exc).splitlines()[0]}")
