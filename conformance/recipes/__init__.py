"""Recipes: constructions that compute a case on a target whose own arguments cannot, run in the
target's worker and checked against the oracle exactly as a native call is (`conformance port`).

They live here, apart from the adapters: an adapter never emulates, and its records say what the
framework's own call does. A recipe is what a user would write instead (a padding layer in front of
a 'valid' conv, a crop after a transposed 'valid' conv, or another keyword of the framework), and
its records are the port command's, never a run's. A recipe arrives in a worker as a plain dict
(`Request.recipe`):

    {"variant": case dict: the case as the core call takes it (its padding keyword, output_padding),
     "zero_padding": [[begin, end], ...] or None: ZeroPaddingND before it (Keras), F.pad (PyTorch),
     "cropping": [[begin, end], ...] or None: CroppingND after it (Keras), a slice (PyTorch),
     "code": the construction as the user writes it, shown as the records' call}
"""
from __future__ import annotations

from conformance.adapters.base import Adapter
from conformance.recipes.keras_composite import KerasComposite
from conformance.recipes.torch_composite import TorchComposite
from conformance.recipes.variant import VariantAdapter
from conformance.spec.case import Case


def recipe_adapter(adapter: Adapter, recipe: dict) -> Adapter:
    """The adapter that runs `recipe` on `adapter`'s framework, in place of the case's own call."""
    variant = Case.from_dict(recipe["variant"])
    if recipe.get("zero_padding") or recipe.get("cropping"):
        composite = TorchComposite if adapter.name == "torch" else KerasComposite
        return composite(adapter, variant, recipe)
    return VariantAdapter(adapter, variant, recipe.get("code"))
