"""The PyTorch targets' native call as code (conformance/adapters/snippet.py): torch.nn.functional and
torch.nn on every path the torch adapter runs (eager, channels_last, torch.compile, oneDNN off), and
the layer that torch_onnx.py exports. PyTorch's layouts are the suite's, so only the dtype and the
device change; channels_last changes the memory format, not the shape.
"""
from __future__ import annotations

from conformance.adapters.snippet import Snippet, gradient_results, indent, random_data
from conformance.spec.case import Case

TO_NUMPY = "g.detach().to(torch.float64).cpu().numpy()"


# The input ExecuTorch and OpenVINO trace with, as torch_onnx.example_input makes it: torch's own
# contiguous strides (a zero-size NumPy array has zero strides, which ExecuTorch's exporter refuses).
EXAMPLE_INPUT = "xt = torch.empty(xt.shape, dtype=xt.dtype).copy_(xt)"


def write(case: Case, dtype: str, dev: str, fn: str, kwargs: dict, *, layer: bool, modifiers=frozenset(),
          grads: bool = False, forward: bool = True) -> Snippet:
    """The call as a user writes it on this path, whose `modifiers` (torch_paths: "channels_last",
    "compile", "no_mkldnn") change the lines around it. `grads`: the repro's version, with the backward from
    `dy` and the layer's facts in `out`; `forward=False` stops once the input and the layer are ready
    (the ONNX export takes them from there: no backward)."""
    backward = grads and forward
    to = f"device={dev!r}, dtype=torch.{dtype}"
    leaf = ".requires_grad_(True)" if backward else ""
    layout = "torch.channels_last_3d" if case.ndim == 3 else "torch.channels_last"
    lines = [f"xt = torch.from_numpy(x).to({to}){leaf}  # PyTorch's layouts are the suite's"]
    if "channels_last" in modifiers:
        lines.append(f"xt = xt.detach().to(memory_format={layout}){leaf}" if backward else
                     f"xt = xt.to(memory_format={layout})")
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    if layer:
        lines.append(f"layer = {fn}({case.in_channels}, {case.out_channels}, {case.kernel_size!r}, "
                     f"bias={case.bias}, {to}, {args})")
        if grads:
            lines.append("out['weight_shape'] = tuple(layer.weight.shape)")
            lines.append("out['param_count'] = sum(p.numel() for p in layer.parameters())")
        lines += ["with torch.no_grad():", "    layer.weight.copy_(torch.from_numpy(w))  # copy_ converts the dtype"]
        if case.bias:
            lines.append("    layer.bias.copy_(torch.from_numpy(b))")
        if "channels_last" in modifiers:
            lines.append(f"layer = layer.to(memory_format={layout})  # as users convert a model: the weight too")
        call, params, inputs = "layer", ["xt", "layer.weight", "layer.bias"], "xt"
    else:
        lines.append(f"wt = torch.from_numpy(w).to({to}){leaf}")
        lines.append(f"bt = torch.from_numpy(b).to({to}){leaf}" if case.bias else "bt = None")
        lines.append(f"conv = lambda x, w, b: {fn}(x, w, b, {args})")
        call, params, inputs = "conv", ["xt", "wt", "bt"], "xt, wt, bt"
    if not forward:
        return Snippet(["import numpy as np", "import torch"], lines, data=random_data(case))
    if "compile" in modifiers:
        lines.append(f"compiled = torch.compile({call})  # PyTorch's defaults: Inductor")
        call = "compiled"
    step = [f"y = {call}({inputs})"] + (_backward(case, dtype, dev, params) if backward else [])
    if "no_mkldnn" in modifiers:
        lines += ["with torch.backends.mkldnn.flags(enabled=False):  # oneDNN (mkldnn) off"] + indent(step)
    else:
        lines += step
    return Snippet(["import numpy as np", "import torch"], lines, _results(grads), random_data(case))


def _backward(case: Case, dtype: str, dev: str, params: list[str]) -> list[str]:
    """y.backward(dy) as the adapter calls it: a refusal or failure is each gradient's value."""
    bias = f"{params[2]}.grad" if case.bias else "None"
    return ["try:",
            f"    y.backward(torch.from_numpy(dy).to(device={dev!r}, dtype=torch.{dtype}))",
            f"    grads = [{params[0]}.grad, {params[1]}.grad, {bias}]",
            "except Exception as exc:  # the output still counts",
            "    grads = [exc, exc, exc]"]


def _results(grads: bool) -> list[str]:
    lines = ["out['output'] = y.detach().to(torch.float64).cpu().numpy()"]
    if grads:
        lines += gradient_results({"grad_input": TO_NUMPY, "grad_weight": TO_NUMPY, "grad_bias": TO_NUMPY})
    return lines
