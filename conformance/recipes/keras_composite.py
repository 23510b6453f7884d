"""A Keras recipe of layers (TensorFlow backend): ZeroPaddingND, then the convolution layer with a
padding keyword, then CroppingND, as a user writes it where the layer's own 'same'/'valid' does not
compute the case. Everything else (the tape, the gradients, the layouts, the weights' loading) is
the keras.layer target's own run (adapters/tensorflow_adapter.py); only the layers built differ."""
from __future__ import annotations

import functools

from conformance.adapters import keras_layers, keras_snippet
from conformance.adapters.base import Adapter, Observation
from conformance.adapters.snippet import attach
from conformance.adapters.tensorflow_adapter import TensorFlowAdapter
from conformance.spec.case import Case


def layer_amounts(pairs, ndim: int):
    """Keras' form of per-dim (begin, end) amounts: (b, e) in 1-D, ((b, e), ...) in 2-D and 3-D."""
    pairs = tuple(tuple(int(v) for v in p) for p in pairs)
    return pairs[0] if ndim == 1 else pairs


def channels_last(ndim: int) -> dict:
    """ZeroPadding1D and Cropping1D are channels-last always and take no data_format."""
    return {} if ndim == 1 else {"data_format": "channels_last"}


class KerasComposite(TensorFlowAdapter):
    """The keras.layer target, running `recipe`'s layers around the variant's convolution layer."""

    def __init__(self, adapter: Adapter, variant: Case, recipe: dict):
        super().__init__()
        self.name, self.apis = adapter.name, adapter.apis
        self.variant = variant
        self.recipe = recipe

    def native_weight_shape(self, api: str, case: Case) -> tuple[int, ...]:
        return super().native_weight_shape(api, self.variant)

    def _check_expressible(self, api: str, case: Case):
        super()._check_expressible(api, self.variant)  # the core layer takes the variant's arguments

    def run(self, api, case, dtype, device, inputs) -> Observation:
        obs = super().run(api, case, dtype, device, inputs)
        obs.call, obs.repro = self.recipe.get("code") or obs.call, None
        return obs

    def _layer_forward(self, keras, api: str, case: Case, dtype: str, x, w_nat, b_nat, obs: Observation):
        """[ZeroPaddingND] -> the convolution layer (the variant's keyword) -> [CroppingND], built and
        loaded with the case's weights: (the model's call, the conv layer's weights)."""
        nd, core_case = self.variant.ndim, self.variant
        cls, kwargs = keras_layers.layer_spec(core_case, dtype)
        attach(obs, functools.partial(keras_snippet.write, core_case, dtype, cls, kwargs, backend="tensorflow"))
        with self.native():
            layers = []
            if self.recipe.get("zero_padding"):
                layers.append(getattr(keras.layers, f"ZeroPadding{nd}D")(
                    padding=layer_amounts(self.recipe["zero_padding"], nd), dtype=dtype, **channels_last(nd)))
            core = getattr(keras.layers, cls)(**kwargs)
            layers.append(core)
            if self.recipe.get("cropping"):
                layers.append(getattr(keras.layers, f"Cropping{nd}D")(
                    cropping=layer_amounts(self.recipe["cropping"], nd), dtype=dtype, **channels_last(nd)))
            model = keras.Sequential(layers)
            model.build(tuple(x.shape))
        obs.layer_weight_shape = tuple(core.kernel.shape)
        obs.param_count = int(model.count_params())
        mismatch = keras_layers.kernel_mismatch(obs.layer_weight_shape, w_nat.shape)
        if mismatch:
            obs.output = obs.grad_input = obs.grad_weight = obs.grad_bias = mismatch
            return None
        core.kernel.assign(w_nat)
        if case.bias:
            core.bias.assign(b_nat)
        return model, [core.kernel] + ([core.bias] if case.bias else [])
