"""Hints for case fields written the way a framework's constructor names them."""
from __future__ import annotations

# Fields people write from their framework's constructor that the case model derives or names otherwise:
# a near spelling would suggest the wrong field ('in_channels' is not 'out_channels').
FIELD_HINTS = {
    "in_channels": "in_channels is input_shape[1] (the input is [N, C_in, *spatial]); remove it",
    "filters": "Keras' filters is out_channels",
    "features": "Flax's features is out_channels",
    "strides": "write stride",
    "dilation_rate": "write dilation",
    "kernel_dilation": "write dilation",
    "use_bias": "write bias",
}
