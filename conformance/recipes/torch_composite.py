"""A PyTorch recipe: `torch.nn.functional.pad` before the functional conv with padding 0, or a slice
of the transposed conv's output with padding 0, as a user writes it where PyTorch's one symmetric
amount per dim cannot compute the case. The run is the torch.functional target's own
(adapters/torch_adapter.py: autograd, the weights, the kernels); only the call differs."""
from __future__ import annotations

from conformance.adapters.base import Adapter, Observation
from conformance.adapters.torch_adapter import TorchAdapter
from conformance.spec.case import Case


def pad_argument(pairs) -> tuple[int, ...]:
    """F.pad's flat (begin, end) amounts, the last dim first."""
    return tuple(int(v) for pair in reversed([tuple(p) for p in pairs]) for v in pair)


class TorchComposite(TorchAdapter):
    """The torch.functional target, running F.pad or a crop around the variant's functional call."""

    def __init__(self, adapter: Adapter, variant: Case, recipe: dict):
        super().__init__()
        self.name, self.apis = adapter.name, adapter.apis
        self.variant = variant
        self.recipe = recipe

    def native_weight_shape(self, api: str, case: Case) -> tuple[int, ...]:
        return super().native_weight_shape(api, self.variant)

    def run(self, api, case, dtype, device, inputs) -> Observation:
        obs = super().run(api, case, dtype, device, inputs)
        obs.call, obs.repro = self.recipe.get("code") or obs.call, None
        return obs

    def _callable(self, api, case: Case, dtype: str, device: str, inputs, tensor, obs: Observation):
        call, weights = super()._callable(api, self.variant, dtype, device, inputs, tensor, obs)
        pads, crops = self.recipe.get("zero_padding"), self.recipe.get("cropping")
        if pads:
            amounts = pad_argument(pads)
            return (lambda x, w, b: call(self.F.pad(x, amounts), w, b)), weights
        if crops:
            def cropped(x, w, b):
                y = call(x, w, b)
                return y[(slice(None), slice(None)) + tuple(slice(lo, y.shape[2 + i] - hi)
                                                           for i, (lo, hi) in enumerate(crops))]
            return cropped, weights
        return call, weights
