"""A recipe that is the framework's own call with other arguments: the target's adapter runs the
variant case (another padding keyword, an output_padding), and the checks compare what it computes
with the oracle of the case the user asked for. So a keyword that the port command claims computes
the case is verified against that case, not against its own semantics."""
from __future__ import annotations

from conformance.adapters.base import Adapter, Observation
from conformance.spec.case import Case
from conformance.spec.inputs import Inputs


class VariantAdapter:
    """Everything is `adapter`'s own, except that `run` and `native_weight_shape` take `variant`."""

    def __init__(self, adapter: Adapter, variant: Case, code: str | None = None):
        self.adapter = adapter
        self.variant = variant
        self.code = code

    def __getattr__(self, name):
        return getattr(self.adapter, name)

    def native_weight_shape(self, api: str, case: Case) -> tuple[int, ...]:
        return self.adapter.native_weight_shape(api, self.variant)

    def run(self, api: str, case: Case, dtype: str, device: str, inputs: Inputs) -> Observation:
        obs = self.adapter.run(api, self.variant, dtype, device, inputs)
        if self.code:
            obs.call, obs.repro = self.code, None
        return obs


class OnVariant:
    """A mixin for a recipe that subclasses the target's adapter class (it wraps the native call in
    its own `run`): a fresh adapter of the target's kind under the target's name, whose documented
    weight shape is the variant's, with the recipe at hand."""

    def __init__(self, adapter: Adapter, variant: Case, recipe: dict):
        super().__init__()
        self.name, self.apis = adapter.name, adapter.apis
        self.variant, self.recipe = variant, recipe

    def native_weight_shape(self, api: str, case: Case) -> tuple[int, ...]:
        return super().native_weight_shape(api, self.variant)
