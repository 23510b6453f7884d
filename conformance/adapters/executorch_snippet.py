"""The executorch kind's native call as code (conformance/adapters/snippet.py): the torch layer of the
torch.onnx targets (torch_snippet.write, forward=False), exported, lowered for XNNPACK and run by the
ExecuTorch runtime as executorch_adapter.py does. Inference only: no gradients.
"""
from __future__ import annotations

from conformance.adapters import torch_snippet
from conformance.adapters.snippet import Snippet

IMPORTS = ["from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner",
           "from executorch.exir import to_edge_transform_and_lower",
           "from executorch.runtime import Runtime"]
LOWER = [torch_snippet.EXAMPLE_INPUT, "layer.eval()",
         "exported = torch.export.export(layer, (xt,))",
         "edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])",
         "program = edge.to_executorch().buffer",
         "method = Runtime.get().load_program(program).load_method('forward')",
         "y = method.execute([xt])[0]"]


def write(case, dtype: str, fn: str, kwargs: dict, *, grads: bool = False) -> Snippet:
    """`fn`, `kwargs`: the torch.nn layer class and its arguments (torch_onnx.layer_class). In a repro
    (`grads`) a refusal or failure of the export or of the runtime is the output's value, and the
    layer's own facts still count."""
    eager = torch_snippet.write(case, dtype, "cpu", fn, kwargs, layer=True, grads=grads, forward=False)
    call = eager.call + (["try:", *("    " + line for line in LOWER), "except Exception as exc:", "    y = exc"]
                         if grads else LOWER)
    results = ["out['output'] = y if isinstance(y, BaseException) else y.detach().to(torch.float64).numpy()"]
    return Snippet(eager.imports + IMPORTS, call, results, eager.data)
