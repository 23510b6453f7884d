"""The JAX targets' native call as code (conformance/adapters/snippet.py): jax.lax and Flax linen as
jax_paths.py calls them, in one jax.jit of the forward and jax.vjp's backward. Layouts:
channels-last input (N, *spatial, C) and the kernel (*k, B, A) for the suite's weight (A, B, *k)
(`kernel_last`): 'HWIO' as the dimension numbers declare, which with transpose_kernel=True holds
(*k, O, I) for a transposed conv (jax_paths.Lax.native_weight_shape says why).
"""
from __future__ import annotations

from conformance.adapters.snippet import (Snippet, channels_first, channels_last, float64, gradient_results, indent,
                                          kernel_first, kernel_last, random_data)
from conformance.spec.case import Case

DIMENSION_NUMBERS = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


def write(spec, case: Case, settings: dict, device: str = "cpu", *, grads: bool = False) -> Snippet:
    """`spec`: jax_adapter's static description of the call (api, layer, op, padding, ...); `settings`:
    the precision settings in force when it ran (the profile's matmul precision)."""
    dt = f"jnp.{spec.dtype}"
    imports = ["import numpy as np", "import jax", "import jax.numpy as jnp"]
    if spec.layer:
        imports += ["import math", "import flax.linen as nn"]
    if spec.dtype == "float64":
        imports.append('jax.config.update("jax_enable_x64", True)  # JAX computes float64 only with x64')
    if settings.get("jax_default_matmul_precision"):
        imports.append(f'jax.config.update("jax_default_matmul_precision", '
                       f'{settings["jax_default_matmul_precision"]!r})')
    layout = DIMENSION_NUMBERS[spec.ndim][1] if not spec.layer else \
        "(*k, I/g, O)" if spec.op == "conv" else "(*k, O, I)"
    lines = [f"device = jax.devices({device!r})[0]",
             f"xj = jax.device_put({channels_last('x')}.astype({dt}), device)  # channels-last (N, *spatial, C)",
             f"wj = jax.device_put({kernel_last('w', spec.ndim)}.astype({dt}), device)  # kernel {layout}",
             f"bj = jax.device_put(b.astype({dt}), device)" if spec.bias else "bj = None"]
    lines += _lax(spec) if not spec.layer else _flax(spec, dt, grads)
    if not grads:
        return Snippet(imports, lines + ["y = jax.jit(conv)(xj, wj, bj)"], data=random_data(case))
    lines += [f"dyj = jax.device_put({channels_last('dy')}.astype({dt}), device)",
              "def forward_backward(x, w, b, g):", "    y, pull = jax.vjp(conv, x, w, b)", "    return (y, *pull(g))",
              "try:", "    y, *grads = jax.block_until_ready(jax.jit(forward_backward)(xj, wj, bj, dyj))",
              "except Exception as exc:  # the backward may be what failed: the forward alone",
              "    y, grads = jax.block_until_ready(jax.jit(conv)(xj, wj, bj)), [exc, exc, exc]"]
    back = {"grad_input": channels_first(float64("g")), "grad_weight": kernel_first(float64("g"), spec.ndim),
            "grad_bias": float64("g")}
    return Snippet(imports, lines, [f"out['output'] = {channels_first(float64('y'))}"] + gradient_results(back))


def _lax(spec) -> list[str]:
    dn = DIMENSION_NUMBERS[spec.ndim]
    padding = spec.padding if isinstance(spec.padding, str) else [tuple(p) for p in spec.padding]
    if spec.op == "conv":
        call = (f"jax.lax.conv_general_dilated(x, w, {spec.stride}, {padding!r}, rhs_dilation={spec.dilation}, "
                f"dimension_numbers={dn}, feature_group_count={spec.groups})")
    else:
        call = (f"jax.lax.conv_transpose(x, w, {spec.stride}, {padding!r}, rhs_dilation={spec.dilation}, "
                f"dimension_numbers={dn}, transpose_kernel=True)")
    # lax has no bias: added as Flax adds it, broadcast over the channels-last axis
    return ["def conv(x, w, b):", f"    y = {call}",
            f"    return y if b is None else y + b.reshape({(1,) * (spec.ndim + 1) + (-1,)})"]


def _flax(spec, dt: str, grads: bool) -> list[str]:
    padding = spec.padding if isinstance(spec.padding, str) else [tuple(p) for p in spec.padding]
    cls = "Conv" if spec.op == "conv" else "ConvTranspose"
    extra = f"feature_group_count={spec.groups}" if spec.op == "conv" else "transpose_kernel=True"
    lines = [f"layer = nn.{cls}(features={spec.features}, kernel_size={spec.kernel_size}, strides={spec.stride}, "
             f"padding={padding!r}, kernel_dilation={spec.dilation}, {extra}, use_bias={spec.bias}, "
             f"dtype={dt}, param_dtype={dt})"]
    if grads:  # the params the layer creates, from its init evaluated abstractly, as the adapter reads them
        lines += ["params = jax.eval_shape(lambda x: layer.init(jax.random.key(0), x), xj)['params']",
                  "out['weight_shape'] = tuple(params['kernel'].shape)",
                  "out['param_count'] = sum(math.prod(p.shape) for p in jax.tree.leaves(params))"]
    return lines + ["def conv(x, w, b):",
                    *indent(['params = {"kernel": w} if b is None else {"kernel": w, "bias": b}',
                             'return layer.apply({"params": params}, x)'])]
