"""The openvino kind's native call as code (conformance/adapters/snippet.py): the ONNX model of the
onnx kind (onnx_snippet.model_lines) or the torch layer of the torch.onnx targets
(torch_snippet.write, forward=False), read or converted by OpenVINO and run by its CPU plugin with the
config the adapter compiled it with. Inference only: no gradients.
"""
from __future__ import annotations

from conformance.adapters import onnx_snippet, torch_snippet
from conformance.adapters.snippet import Snippet, random_data

# The input as OpenVINO takes it (openvino_adapter._tensor), and its output back in float64 (bf16 data
# comes as 16-bit words typed float16).
IO = {"bfloat16": ["# bf16 as its bits: the suite's values are exact in bfloat16, the upper half of their float32 bits",
                   "x_ov = (np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)",
                   "x_ov = x_ov.view(np.float16)  # kept in a variable: the bf16 Tensor shares its memory",
                   "x_tensor = ov.Tensor(x_ov, x_ov.shape, ov.Type.bf16)"]}
IO_DEFAULT = ["x_tensor = ov.Tensor(np.ascontiguousarray(x.astype(np.{dtype})))"]
RUN = ["compiled = core.compile_model(ov_model, 'CPU', config)",
       "print('INFERENCE_PRECISION_HINT:', compiled.get_property('INFERENCE_PRECISION_HINT'))",
       "request = compiled.create_infer_request()",
       "request.infer([x_tensor])",
       "y = request.get_output_tensor(0)"]
RESULTS = ["data = np.asarray(y.data)",
           "if y.element_type.to_string() == 'bf16':",
           "    data = (data.view(np.uint16).astype(np.uint32) << 16).view(np.float32)",
           "out['output'] = np.asarray(data, dtype=np.float64)"]


def write_onnx(case, dtype: str, op: str, attrs: dict, opset: int, element: str, config: dict, *,
               grads: bool = False) -> Snippet:
    """`attrs`, `opset`, `element`: the ONNX model's, as onnx_snippet takes them; `config`: compile_model's."""
    imports, lines = onnx_snippet.model_lines(case, dtype, op, attrs, opset, element)
    lines += ["ov_model = core.read_model(model.SerializeToString(), ov.Tensor(np.empty(0, np.uint8)))"]
    return _snippet(imports, lines, dtype, config, random_data(case))


def write_torch(case, dtype: str, fn: str, kwargs: dict, config: dict, *, grads: bool = False) -> Snippet:
    """`fn`, `kwargs`: the torch.nn layer class and its arguments (torch_onnx.layer_class)."""
    eager = torch_snippet.write(case, dtype, "cpu", fn, kwargs, layer=True, grads=grads, forward=False)
    lines = eager.call + [torch_snippet.EXAMPLE_INPUT, "layer.eval()", "ov_model = ov.convert_model(layer, example_input=xt)"]
    return _snippet(eager.imports, lines, dtype, config, eager.data)


def _snippet(imports: list[str], lines: list[str], dtype: str, config: dict, data: list[str]) -> Snippet:
    imports = imports + ["import openvino as ov"]
    call = ["core = ov.Core()"] + lines + [f"config = {config!r}  # the profile's precision hint, the worker's threads",
                    *(line.format(dtype=dtype) for line in IO.get(dtype, IO_DEFAULT) + RUN)]
    return Snippet(imports, call, list(RESULTS), data)
