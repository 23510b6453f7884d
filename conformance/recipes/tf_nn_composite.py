"""A tf.nn recipe: `tf.pad` then the conv with 'VALID', or a slice of the transposed conv's 'VALID'
output, as a user writes it where tf.nn's own padding argument cannot compute the case (tf.nn.convolution
and conv1d/conv3d_transpose take 'VALID'/'SAME' only); or, for a depthwise case, tf.nn.depthwise_conv2d
in place of the grouped tf.nn.conv2d (whose gradients TensorFlow's CPU kernels refuse). On tf.nn, tf.xla.nn (the construction compiled
with the training step) and tf.onednn.nn. The run is the target's own (adapters/tensorflow_paths.py:
the tape, the layouts, the weights); only the forward differs."""
from __future__ import annotations

from conformance.adapters.base import Observation
from conformance.adapters.tensorflow_adapter import TensorFlowAdapter
from conformance.recipes.variant import OnVariant
from conformance.spec.case import Case


def pad_argument(pairs) -> list[list[int]]:
    """tf.pad's paddings for a channels-last input: none on the batch and channels."""
    return [[0, 0]] + [[int(b), int(e)] for b, e in pairs] + [[0, 0]]


def crop_index(crops) -> tuple:
    """The index of `y[:, b0:-e0, ..., :]` on a channels-last output."""
    return (slice(None),) + tuple(slice(int(b), -int(e) if e else None) for b, e in crops) + (slice(None),)


class TfNnComposite(OnVariant, TensorFlowAdapter):
    """A tf.nn target, running tf.pad or a crop around the variant's tf.nn call."""

    def check_expressible(self, api: str, case: Case):
        super().check_expressible(api, self.variant)

    def run(self, api, case, dtype, device, inputs) -> Observation:
        obs = super().run(api, case, dtype, device, inputs)
        obs.call, obs.repro = self.recipe.get("code") or obs.call, None
        return obs

    def nn_forward(self, case: Case, dtype: str, w_nat, b_nat, obs: Observation):
        forward, weights = super().nn_forward(self.variant, dtype, w_nat, b_nat, obs)
        tf, pads, crops = self.tf, self.recipe.get("zero_padding"), self.recipe.get("cropping")
        if self.recipe.get("depthwise"):
            return self.depthwise(weights), weights
        if pads:
            amounts = pad_argument(pads)
            return (lambda x: forward(tf.pad(x, amounts))), weights
        if crops:
            index = crop_index(crops)
            return (lambda x: forward(x)[index]), weights
        return forward, weights

    def depthwise(self, weights):
        """tf.nn.depthwise_conv2d(x, the grouped kernel (*k, 1, C*m) reshaped to (*k, C, m)) [+ b]:
        output channel c*m + j reads kernel[..., c, j], as the grouped conv's c*m + j reads group c."""
        tf, case = self.tf, self.variant
        shape = (*case.kernel_size, case.in_channels, case.out_channels // case.in_channels)
        if isinstance(case.padding, str):
            padding = case.padding.upper()
        else:
            padding = pad_argument(case.pads)
        strides = [1, *case.stride, 1]

        def forward(x):
            y = tf.nn.depthwise_conv2d(x, tf.reshape(weights[0], shape), strides=strides, padding=padding,
                                       dilations=list(case.dilation))
            return tf.nn.bias_add(y, weights[1]) if case.bias else y
        return forward
