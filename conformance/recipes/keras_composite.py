"""A Keras recipe of layers: ZeroPaddingND, then the convolution layer with a padding keyword, then
CroppingND, as a user writes it where the layer's own 'same'/'valid' does not compute the case. On
every Keras target: TensorFlow's backend (keras.layer, under XLA, with oneDNN), the JAX and PyTorch
backends (keras.jax.layer, keras.torch.layer), and LiteRT (litert.layer: the same model converted by
the TFLite converter, run in the interpreter, forward only). Everything else (the tape or the
backend's autodiff, the layouts, the weights' loading, the conversion) is the target's own run
(adapters/tensorflow_paths.py, keras_backend.py, litert.py); only the model built differs."""
from __future__ import annotations

import functools

from conformance.adapters import keras_backend, keras_layers, keras_snippet, litert
from conformance.adapters.base import Adapter, Observation
from conformance.adapters.snippet import attach
from conformance.adapters.tensorflow_adapter import TensorFlowAdapter
from conformance.recipes.variant import OnVariant, VariantAdapter
from conformance.spec.case import Case


def layer_amounts(pairs, ndim: int):
    """Keras' form of per-dim (begin, end) amounts: (b, e) in 1-D, ((b, e), ...) in 2-D and 3-D."""
    pairs = tuple(tuple(int(v) for v in p) for p in pairs)
    return pairs[0] if ndim == 1 else pairs


def channels_last(ndim: int) -> dict:
    """ZeroPadding1D and Cropping1D are channels-last always and take no data_format."""
    return {} if ndim == 1 else {"data_format": "channels_last"}


def builder(recipe: dict, ndim: int, dtype: str):
    """make(keras, cls, kwargs, input_shape) -> (the Sequential model, its conv layer), built on the
    input's shape: [ZeroPaddingND] -> the conv layer -> [CroppingND]."""
    def make(keras, cls: str, kwargs: dict, input_shape):
        layers = []
        if recipe.get("zero_padding"):
            layers.append(getattr(keras.layers, f"ZeroPadding{ndim}D")(
                padding=layer_amounts(recipe["zero_padding"], ndim), dtype=dtype, **channels_last(ndim)))
        core = getattr(keras.layers, cls)(**kwargs)
        layers.append(core)
        if recipe.get("cropping"):
            layers.append(getattr(keras.layers, f"Cropping{ndim}D")(
                cropping=layer_amounts(recipe["cropping"], ndim), dtype=dtype, **channels_last(ndim)))
        model = keras.Sequential(layers)
        model.build(tuple(input_shape))
        return model, core
    return make


def shown(obs: Observation, recipe: dict) -> Observation:
    obs.call, obs.repro = recipe.get("code") or obs.call, None
    return obs


class KerasComposite(OnVariant, TensorFlowAdapter):
    """The Keras targets of the tensorflow workers (keras.layer, keras.xla.layer, keras.onednn.layer,
    litert.layer), running `recipe`'s layers around the variant's convolution layer."""

    def check_expressible(self, api: str, case: Case):
        super().check_expressible(api, self.variant)  # the core layer takes the variant's arguments

    def run(self, api, case, dtype, device, inputs) -> Observation:
        if api == litert.API:  # the construction converted and run in the interpreter, forward only
            make = builder(self.recipe, self.variant.ndim, dtype)
            return shown(litert.run(self, self.variant, dtype, device, inputs, make=make), self.recipe)
        return shown(super().run(api, case, dtype, device, inputs), self.recipe)

    def layer_forward(self, keras, api: str, case: Case, dtype: str, x, w_nat, b_nat, obs: Observation):
        """The construction, built and loaded with the case's weights: (the model's call, the conv
        layer's weights)."""
        core_case = self.variant
        cls, kwargs = keras_layers.layer_spec(core_case, dtype)
        attach(obs, functools.partial(keras_snippet.write, core_case, dtype, cls, kwargs, backend="tensorflow"))
        with self.native():
            model, core = builder(self.recipe, core_case.ndim, dtype)(keras, cls, kwargs, tuple(x.shape))
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


class KerasBackendComposite(VariantAdapter):
    """keras.jax.layer and keras.torch.layer (in the jax and torch workers): the construction on
    that backend, run as the target runs its layer (keras_backend.run_keras_layer)."""

    def __init__(self, adapter: Adapter, variant: Case, recipe: dict):
        super().__init__(adapter, variant)
        self.recipe = recipe

    def run(self, api, case, dtype, device, inputs) -> Observation:
        make = builder(self.recipe, self.variant.ndim, dtype)
        obs = keras_backend.run_keras_layer(self.adapter, api, self.variant, dtype, device, inputs, make=make)
        return shown(obs, self.recipe)
