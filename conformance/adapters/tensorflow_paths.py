"""TensorFlow's own paths in the tensorflow (and tensorflow-onednn) workers: tf.nn and the Keras 3
layers on the TensorFlow backend, eagerly under a GradientTape or compiled by XLA with the training
step. The tensorflow adapter (tensorflow_adapter.py) is the session they run in, and builds what they
call (`nn_forward`, `layer_forward`, which a recipe of `conformance port` replaces). The onednn
targets are the same paths in the tensorflow-onednn kind, whose process has oneDNN on.
"""
from __future__ import annotations

import functools

from conformance.adapters import keras_layers
from conformance.adapters.base import (CompiledPathError, Observation, Unsupported, channels_first, channels_last,
                                       compiled_failure, converted, kernel_first, kernel_last)
from conformance.adapters.path import Path
from conformance.adapters.snippet import attach
from conformance.spec.case import Case


class Eager(Path):
    """The call eagerly, under a tf.GradientTape; the gradients of (x, *weights). A subclass says what
    a user calls (`build`), in which layouts, and what the API cannot express."""

    xla = False  # the reproducer compiles the step with XLA

    def run(self, case, dtype, device, inputs) -> Observation:
        adapter = self.adapter
        tf = adapter.tf
        adapter.check_expressible(self.api, case)
        keras = self.keras()
        ndtype = adapter.dtypes[dtype].as_numpy_dtype  # values are already rounded to the dtype: the cast is exact
        x_nat = channels_last(inputs.input).astype(ndtype)
        w_nat = self.to_native_weight(case, inputs.weight).astype(ndtype)
        b_nat = inputs.bias.astype(ndtype) if case.bias else None
        g_nat = channels_last(inputs.grad_output).astype(ndtype)
        obs = Observation(output=None)
        with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
            x, g = tf.constant(x_nat), tf.constant(g_nat)
            built = self.build(keras, case, dtype, x, w_nat, b_nat, obs)
            if built is None:
                return obs
            forward, weights = built
            attach(obs, functools.partial(obs.repro, device=device, xla=self.xla))
            grads = self.step(forward, x, weights, g, case, obs)
        if grads is None:
            return obs
        # tape.gradient gives None for a source the output does not depend on: that check fails alone
        numpy64 = lambda a: adapter.to_numpy64(a.numpy())  # noqa: E731
        obs.grad_input = converted(grads[0], lambda a: channels_first(numpy64(a)))
        obs.grad_weight = converted(grads[1], lambda a: self.from_native_weight(case, numpy64(a)))
        if case.bias:
            obs.grad_bias = converted(grads[2], numpy64)
        return obs

    def keras(self):
        """The worker's Keras where the path calls it (None: it does not)."""
        return None

    def check_expressible(self, case: Case) -> None:
        raise NotImplementedError

    def build(self, keras, case: Case, dtype: str, x, w_nat, b_nat, obs: Observation):
        """(forward(x), the weights to differentiate), or None when `obs` already says why not."""
        raise NotImplementedError

    def to_native_weight(self, case: Case, w):
        raise NotImplementedError

    def from_native_weight(self, case: Case, w):
        raise NotImplementedError

    def step(self, forward, x, weights, g, case: Case, obs: Observation):
        """`forward(x)` under a gradient tape, eagerly: fills obs.output; returns the gradients of
        (x, *weights), or None when `obs` already says why there are none."""
        adapter = self.adapter
        with adapter.native(), adapter.tf.GradientTape() as tape:
            tape.watch([x, *adapter.watched(weights)])
            y = forward(x)
        obs.output = channels_first(adapter.to_numpy64(y.numpy()))
        if not adapter.gradients_apply(y, g, case, obs):
            return None
        try:
            with adapter.native():
                return tape.gradient(y, [x, *weights], output_gradients=g)
        except Exception as exc:  # refused (Unsupported) or failed: the output is still compared
            obs.grad_input = obs.grad_weight = obs.grad_bias = exc
            return None


class TfNn(Eager):
    """`tf.nn`, `tf.onednn.nn`: tf.nn.convolution / conv2d / conv{1,2,3}d_transpose."""

    def native_weight_shape(self, case: Case) -> tuple[int, ...]:
        # conv (O, I/g, *k) -> (*k, I/g, O): https://www.tensorflow.org/api_docs/python/tf/nn/convolution
        # transposed (I, O, *k) -> (*k, O, I): https://www.tensorflow.org/api_docs/python/tf/nn/conv2d_transpose
        a, b, *k = case.weight_shape
        return (*k, b, a)

    def check_expressible(self, case: Case) -> None:
        if case.op == "conv_transpose" and case.groups > 1:
            raise Unsupported(f"tf.nn.conv{case.ndim}d_transpose has no groups argument (filters always cover "
                              "every channel)")
        if case.op == "conv_transpose" and case.padding == "same" and any(case.output_padding):
            raise Unsupported("tf.nn conv_transpose has no output_padding: it is implied by output_shape, and "
                              "with padding='SAME' output_shape is in*stride whatever the output_padding")

    def build(self, keras, case, dtype, x, w_nat, b_nat, obs):
        return self.adapter.nn_forward(case, dtype, w_nat, b_nat, obs)

    def to_native_weight(self, case, w):
        return kernel_last(w)

    def from_native_weight(self, case, w):
        return kernel_first(w)


class KerasLayer(Eager):
    """`keras.layer`, `keras.onednn.layer`: the Keras 3 layer on the TensorFlow backend."""

    def native_weight_shape(self, case: Case) -> tuple[int, ...]:
        return keras_layers.native_weight_shape(case)

    def import_package(self, package: str):
        return self.adapter.keras if package == "keras" else super().import_package(package)

    def keras(self):
        return self.adapter.keras

    def check_expressible(self, case: Case) -> None:
        keras_layers.check_expressible(case)

    def build(self, keras, case, dtype, x, w_nat, b_nat, obs):
        return self.adapter.layer_forward(keras, self.api, case, dtype, x, w_nat, b_nat, obs)

    def to_native_weight(self, case, w):
        return keras_layers.to_native_weight(case, w)

    def from_native_weight(self, case, w):
        return keras_layers.from_native_weight(case, w)


class Xla:
    """The eager path's training step compiled by XLA, as users train: `tf.function(jit_compile=True)`
    around forward and gradients, whose output is the one compared. Only where the step fails is the
    inference call compiled alone, so that its output is still compared. Where XLA refuses what eager
    TensorFlow computes, that is an error of the XLA path, not a refusal. Mixed in before the eager
    path it compiles."""

    xla = True

    def step(self, forward, x, weights, g, case: Case, obs: Observation):
        adapter = self.adapter
        tf = adapter.tf

        def step(x, g):
            with tf.GradientTape() as tape:
                tape.watch([x, *adapter.watched(weights)])
                y = forward(x)
            if tuple(y.shape) != tuple(g.shape):  # static: the case's upstream gradient does not fit
                return y, None
            return y, tape.gradient(y, [x, *weights], output_gradients=g)

        try:
            with adapter.native():
                y, grads = adapter.xla_call(adapter.jit_compiled(step), x, g)
        except Exception as failed:  # refused (Unsupported) or failed: the forward alone, then
            y = self.inference(forward, x)
            obs.output = channels_first(adapter.to_numpy64(y.numpy()))
            obs.grad_input = obs.grad_weight = obs.grad_bias = failed
            return None
        obs.output = channels_first(adapter.to_numpy64(y.numpy()))
        return grads if adapter.gradients_apply(y, g, case, obs) else None

    def inference(self, forward, x):
        """The inference call alone, compiled by XLA."""
        adapter = self.adapter
        try:
            with adapter.native():
                return adapter.xla_call(adapter.jit_compiled(forward), x)
        except CompiledPathError:
            raise
        except Exception as exc:  # a refusal only where eager TensorFlow refuses the case too
            raise compiled_failure(adapter, lambda: forward(x), exc, "XLA (jit_compile=True)", "TensorFlow") from exc


class XlaTfNn(Xla, TfNn):
    """`tf.xla.nn`."""


class XlaKerasLayer(Xla, KerasLayer):
    """`keras.xla.layer`."""
