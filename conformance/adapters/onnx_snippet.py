"""The onnx kind's native call as code (conformance/adapters/snippet.py): the one-node model that
onnx_adapter.py builds from the case, run on ONNX Runtime or on ONNX's reference evaluator.
ONNX's layouts are the suite's, so only the dtype changes. Inference only: no gradients.
"""
from __future__ import annotations

from conformance.adapters.snippet import Snippet, float64, random_data
from conformance.spec.case import Case


def write(case: Case, dtype: str, op: str, attrs: dict, opset: int, providers, element: str, *,
          grads: bool = False) -> Snippet:
    """`attrs`: the node's attributes (onnx_adapter.node_attributes); `providers`: ONNX Runtime's, as
    its path passes them, or None: the reference evaluator runs the model; `element`: the TensorProto
    name of the dtype. `grads` changes nothing: the runtimes compute no gradients."""
    imports, lines = model_lines(case, dtype, op, attrs, opset, element)
    imports.append("import onnxruntime as ort" if providers is not None else
                   "from onnx.reference import ReferenceEvaluator")
    if providers is not None:
        lines += ["options = ort.SessionOptions()",
                  "options.intra_op_num_threads = max(0, int(os.environ.get('OMP_NUM_THREADS', '0')))"]
        if providers and providers[0][0] == "CUDAExecutionProvider":
            lines.append("options.add_session_config_entry('session.disable_cpu_ep_fallback', '1')")
        lines.append(f"session = ort.InferenceSession(model.SerializeToString(), options, providers={providers!r})")
        lines.append("y = session.run(None, {'X': x_nat})[0]")
    else:
        lines.append("y = ReferenceEvaluator(model).run(None, {'X': x_nat})[0]")
    return Snippet(imports, lines, [f"out['output'] = {float64('y')}"], random_data(case))


def model_lines(case: Case, dtype: str, op: str, attrs: dict, opset: int, element: str) -> tuple[list, list]:
    """(imports, lines) that build the one-node model `model` from the suite-layout arrays as
    onnx_adapter.build_model does, and leave the input in the dtype as `x_nat`."""
    ndt = "ml_dtypes.bfloat16" if dtype == "bfloat16" else f"np.{dtype}"
    imports = ["import os", "import numpy as np", "import onnx", "from onnx import TensorProto, helper, numpy_helper"]
    if dtype == "bfloat16":
        imports.append("import ml_dtypes")
    names, inits = '["X", "W"]', 'numpy_helper.from_array(w_nat, "W")'
    if case.bias:
        names, inits = '["X", "W", "B"]', inits + ', numpy_helper.from_array(b_nat, "B")'
    args = ", ".join(f"{k}={v!r}" for k, v in attrs.items())
    element = f"TensorProto.{element}"
    lines = [f"x_nat = x.astype({ndt})  # ONNX's layouts are the suite's: X (N, C, *spatial), W {_layout(case)}",
             f"w_nat = w.astype({ndt})"]
    if case.bias:
        lines.append(f"b_nat = b.astype({ndt})")
    lines += [f'node = helper.make_node("{op}", {names}, ["Y"], {args})',
              f'graph = helper.make_graph([node], "conformance_case", [helper.make_tensor_value_info("X", {element}, '
              f'list(x_nat.shape))], [helper.make_tensor_value_info("Y", {element}, [None] * x_nat.ndim)], '
              f'initializer=[{inits}])',
              f'model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", {opset})])',
              "onnx.checker.check_model(model)"]
    return imports, lines


def _layout(case: Case) -> str:
    return "(C, M/group, *k)" if case.op == "conv_transpose" else "(M, C/group, *k)"
