"""ExecuTorch: the torch.nn layer lowered for the XNNPACK backend and run by ExecuTorch's runtime
(`executorch.xnnpack`, CPU, forward only), as ExecuTorch's own XNNPACK tutorial does it
(https://docs.pytorch.org/executorch/stable/tutorial-xnnpack-delegate-lowering.html):
`torch.export.export(layer, (x,))` -> `executorch.exir.to_edge_transform_and_lower(program,
partitioner=[XnnpackPartitioner()])` -> `.to_executorch()`, whose program bytes the runtime's Python
bindings (`executorch.runtime.Runtime.get().load_program(...).load_method("forward")`) execute.

The layer is the one the torch.onnx targets export (torch_onnx.build_layer with
torch_adapter.padding_argument), in eval mode. The partitioner delegates what XNNPACK takes
(float32 and float16 1-D and 2-D convolutions); whatever it leaves runs on ExecuTorch's portable
kernels, as it would for a user: each record's notes say which. The lowered programs are kept in
the run's cache folder, keyed by what they are made of (conformance/adapters/artifacts.py).

The runtime computes no gradients: they are `unsupported`. The runtime reports a failed kernel
check only as an error code (its own text goes to its log), so a refusal is declared by that code
and by the check it stands for, where ExecuTorch documents or implements it (`REFUSALS`).
"""
from __future__ import annotations

import functools
import json
import warnings

from conformance.adapters import artifacts, executorch_snippet, torch_adapter, torch_onnx
from conformance.adapters.base import Adapter, Observation, Unsupported, dist_version
from conformance.adapters.path import Path
from conformance.adapters.refusal import Refusal
from conformance.adapters.snippet import attach

APIS = ("executorch.xnnpack",)
NO_GRADIENTS = "the ExecuTorch runtime runs the program for inference only: no gradients"
DELEGATE = "executorch_call_delegate"

# ExecuTorch's portable convolution kernel takes 3-D and 4-D inputs only (1-D and 2-D convs): its
# argument check fails a 5-D input, and the runtime raises error 0x12 (InvalidArgument).
PORTABLE_3D_REFUSAL = Refusal(
    "RuntimeError", r"method->execute\(\) failed with error 0x12",
    "kernels/portable/cpu/util/kernel_ops_util.cpp check_convolution_args ('Expect input tensor to be 3-D or "
    "4-D'): the portable aten::convolution.out kernel runs 1-D and 2-D convolutions only")


class ExecuTorchAdapter(Adapter):
    name = "executorch"
    apis = APIS

    def __init__(self):
        import torch
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
        from executorch.runtime import Runtime

        torch.set_warn_always(True)  # as the torch kind: a warning says so in each record, not only the first
        self.torch, self.partitioner, self.lower = torch, XnnpackPartitioner, to_edge_transform_and_lower
        self.runtime = Runtime.get()

    # ---------------------------------------------------------------- environment
    def version(self) -> str:
        return dist_version("executorch") or "unknown"

    def devices(self) -> list[str]:
        return ["cpu"]

    def environment(self) -> dict:
        return {"version": self.version(), "executorch": self.version(), "torch": dist_version("torch"),
                "torchao": dist_version("torchao"), "backend": "XNNPACK (XnnpackPartitioner, its defaults)",
                "threads": self.torch.get_num_threads(), "programs_kept": artifacts.location()}

    def _lowered(self, layer, x) -> bytes:
        """The program's bytes, packed with the operators its graph calls (`pack`): torch.export,
        XNNPACK partitioning, to_executorch. Their refusals are `unsupported` with their text."""
        with self.native(), warnings.catch_warnings():
            # torch.export's pytree code warns on its own deprecated internals on every export
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
            # ExecuTorch's serializer reads its schema files with importlib.resources' deprecated read_binary
            warnings.filterwarnings("ignore", message="read_binary is deprecated")
            exported = self.torch.export.export(layer, (x,))
            edge = self.lower(exported, partitioner=[self.partitioner()])
            ops = sorted({_op_name(n.target) for n in edge.exported_program().graph.nodes if n.op == "call_function"})
            return pack(ops, edge.to_executorch().buffer)

    def _key(self, layer, x) -> dict:
        """What the program is a function of (conformance/adapters/artifacts.py)."""
        t = self.torch
        return {"versions": {p: dist_version(p) for p in ("torch", "executorch", "torchao")},
                "code": {m: artifacts.installed_code(m) for m in ("torch", "executorch")},
                "layer": repr(layer), "training": layer.training,
                "parameters": {name: [str(p.dtype), list(p.shape), torch_onnx.bytes_digest(t, p)]
                               for name, p in layer.named_parameters()},
                "input": [list(x.shape), str(x.dtype)]}


class XnnpackProgram(Path):
    """`executorch.xnnpack`: the torch.nn layer exported, lowered for XNNPACK and run by the runtime."""

    def run(self, case, dtype, device, inputs) -> Observation:
        if device != "cpu":
            raise Unsupported("executorch.xnnpack runs on the CPU only (XNNPACK)")
        adapter = self.adapter
        t = adapter.torch
        obs = Observation(output=None, grad_input=Unsupported(NO_GRADIENTS), grad_weight=Unsupported(NO_GRADIENTS),
                          grad_bias=Unsupported(NO_GRADIENTS) if case.bias else None)
        padding = torch_adapter.padding_argument(case)
        cls, kwargs = torch_onnx.layer_class(t, case, padding)
        attach(obs, functools.partial(executorch_snippet.write, case, dtype, f"torch.nn.{cls.__name__}", kwargs))
        adapter.refusals = torch_adapter.REFUSALS
        layer = torch_onnx.build_layer(adapter, case, dtype, inputs, padding, obs)
        layer.eval()  # as users export for inference; a conv computes the same in both modes
        x = torch_onnx.example_input(t, inputs.input, getattr(t, dtype))
        packed = artifacts.made(adapter, "executorch.xnnpack", lambda: adapter._key(layer, x),
                                lambda: adapter._lowered(layer, x))
        ops, program = unpack(packed)
        obs.notes.append(f"ExecuTorch program operators (after XNNPACK partitioning): {ops}")
        if case.ndim == 3 and any(op.startswith("aten.convolution") for op in ops):  # the portable kernel's check
            adapter.refusals = adapter.refusals + (PORTABLE_3D_REFUSAL,)
        with adapter.native():
            method = adapter.runtime.load_program(program).load_method("forward")
            (y,) = method.execute([x])
        obs.output = y.detach().to(t.float64).numpy()
        return obs


def _op_name(target) -> str:
    return getattr(target, "__name__", None) or str(target)


def pack(ops: list[str], program: bytes) -> bytes:
    """One cache entry: the operators as a JSON line, then the program's bytes."""
    return json.dumps(ops).encode() + b"\n" + bytes(program)


def unpack(packed: bytes) -> tuple[list[str], bytes]:
    head, _, program = packed.partition(b"\n")
    return json.loads(head), program

