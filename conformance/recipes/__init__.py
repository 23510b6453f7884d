"""Recipes: constructions that compute a case on a target whose own arguments cannot, run in the
target's worker and checked against the oracle exactly as a native call is (`conformance port`).

They live here, apart from the adapters: an adapter never emulates, and its records say what the
framework's own call does. A recipe is what a user would write instead (a padding layer in front of
a 'valid' conv, a crop after a transposed 'valid' conv, or another keyword of the framework), and
its records are the port command's, never a run's. One module per family of targets, whose paths
share the construction: torch_composite.py (every torch.* target), keras_composite.py (every Keras
target and LiteRT), tf_nn_composite.py (tf.nn, tf.xla.nn, tf.onednn.nn). A recipe arrives in a worker
as a plain dict (`Request.recipe`):

    {"family": "torch" | "keras" | "tf.nn" | ...: whose construction it is,
     "variant": case dict: the case as the core call takes it (its padding keyword, output_padding),
     "zero_padding": [[begin, end], ...] or None: ZeroPaddingND (Keras), F.pad (PyTorch), tf.pad before it,
     "cropping": [[begin, end], ...] or None: CroppingND (Keras), a slice (PyTorch, tf.nn) after it,
     "depthwise": tf.nn.depthwise_conv2d in place of tf.nn.conv2d (a depthwise case, tf.nn),
     "code": the construction as the user writes it, shown as the records' call}
"""
from __future__ import annotations

from conformance.adapters.base import Adapter
from conformance.recipes.keras_composite import KerasBackendComposite, KerasComposite
from conformance.recipes.tf_nn_composite import TfNnComposite
from conformance.recipes.torch_composite import TorchComposite
from conformance.recipes.variant import VariantAdapter
from conformance.spec.case import Case


def recipe_adapter(adapter: Adapter, recipe: dict) -> Adapter:
    """The adapter that runs `recipe` on `adapter`'s framework, in place of the case's own call."""
    variant = Case.from_dict(recipe["variant"])
    if not (recipe.get("zero_padding") or recipe.get("cropping") or recipe.get("depthwise")):
        return VariantAdapter(adapter, variant, recipe.get("code"))
    family = recipe.get("family")
    if family == "torch":
        return TorchComposite(adapter, variant, recipe)
    if family == "tf.nn":
        return TfNnComposite(adapter, variant, recipe)
    if family == "keras" and adapter.name in ("torch", "jax"):
        return KerasBackendComposite(adapter, variant, recipe)
    if family == "keras":
        return KerasComposite(adapter, variant, recipe)
    raise ValueError(f"no construction of family {family!r} runs here (conformance/recipes/)")
