"""A PyTorch recipe: `torch.nn.functional.pad` before the conv with padding 0, or a slice of the
transposed conv's output with padding 0, as a user writes it where PyTorch's one symmetric amount
per dim cannot compute the case. On every torch path: the functional call or the layer, eager,
under torch.compile, channels_last, with oneDNN off (the construction is what runs, compiled or
not), and exported by torch.onnx (the module exported is the construction, run on ONNX Runtime).
The run is the target's own (adapters/torch_paths.py, torch_onnx.py: autograd, the weights, the
kernels, the exporter); only the call differs."""
from __future__ import annotations

from conformance.adapters.base import Observation
from conformance.adapters.torch_adapter import TorchAdapter
from conformance.recipes.variant import OnVariant
from conformance.spec.case import Case


def pad_argument(pairs) -> tuple[int, ...]:
    """F.pad's flat (begin, end) amounts, the last dim first."""
    return tuple(int(v) for pair in reversed([tuple(p) for p in pairs]) for v in pair)


def crop_index(crops) -> tuple:
    """The index of `y[..., b0:-e0, b1:-e1]`: the slice that keeps the case's window of each dim."""
    return (slice(None), slice(None)) + tuple(slice(int(b), -int(e) if e else None) for b, e in crops)


class TorchComposite(OnVariant, TorchAdapter):
    """A torch target, running F.pad or a crop around the variant's call (functional or layer)."""

    def run(self, api, case, dtype, device, inputs) -> Observation:
        # the variant is what the core call takes; the checks compare with the asked case's oracle
        obs = super().run(api, self.variant, dtype, device, inputs)
        obs.call, obs.repro = self.recipe.get("code") or obs.call, None
        return obs

    def around(self, call):
        """`call` (the functional conv of (x, w, b), or the layer of (x,)) with the pad or the crop."""
        pads, crops = self.recipe.get("zero_padding"), self.recipe.get("cropping")
        F = self.F
        if pads:
            amounts = pad_argument(pads)
            return lambda x, *rest: call(F.pad(x, amounts), *rest)
        if crops:
            index = crop_index(crops)
            return lambda *args: call(*args)[index]
        return call

    def construct(self, api, case: Case, dtype: str, device: str, inputs, tensor, obs: Observation):
        call, weights = super().construct(api, self.variant, dtype, device, inputs, tensor, obs)
        return self.around(call), weights

    def exported_module(self, layer):
        """The construction as one module, for torch.onnx.export: the pad or the crop around the layer."""
        nn, around = self.torch.nn, self.around
        code = self.recipe.get("code", "")

        class Construction(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = layer
                self.call = around(lambda x: self.conv(x))

            def forward(self, x):
                return self.call(x)

            def extra_repr(self):  # the exported model's cache key reads it (adapters/torch_onnx.py)
                return code

        return Construction()
