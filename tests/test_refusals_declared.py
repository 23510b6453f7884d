"""The refusals each path declares (conformance/adapters/refusal.py), against the frameworks' own
messages as the whole library's run recorded them: each declared refusal matches the message it was
written for, and the failures that only look like refusals match none."""
from __future__ import annotations

import pytest

from conformance.adapters import keras_layers, keras_ops, litert, onnx_adapter
from conformance.adapters.refusal import refusal_for


def framework_error(class_name: str, base: type = Exception):
    """An exception class with the framework's class name, as the worker would see it raised."""
    return type(class_name, (base,), {})


# (adapter module's table, exception class name, its message as a run recorded it)
REFUSED = [
    ("torch", "RuntimeError", "padding='same' is not supported for strided convolutions"),
    ("torch", "ValueError", "padding='same' is not supported for strided convolutions"),
    ("torch", "RuntimeError", "required rank 3 tensor to use channels_last format"),
    ("tensorflow", "TypeError", "Expected string for argument 'padding' not [[0, 0], [1, 1], [0, 0]]."),
    ("tensorflow", "InvalidArgumentError",
     "{{function_node __wrapped__Conv2DBackpropInput_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
     "Gradients for grouped convolutions are not supported on CPU. Please file a feature request if you run into "
     "this issue. Computed input depth 3 doesn't match filter input depth 1 [Op:Conv2DBackpropInput] name:"),
    ("tensorflow", "InvalidArgumentError",
     "Exception encountered when calling Conv3DTranspose.call(). {{function_node __wrapped__Conv3DBackpropInputV2_device"
     "_/job:localhost/replica:0/task:0/device:CPU:0}} Current CPU implementation does not yet support dilation rates "
     "larger than 1. [Op:Conv3DBackpropInputV2]"),
    ("tensorflow", "InvalidArgumentError",
     "{{function_node __wrapped__Conv2DBackpropInput_device_/job:localhost/replica:0/task:0/device:CPU:0}} Current CPU "
     "implementations do not yet support dilation rates larger than 1. [Op:Conv2DBackpropInput] name:"),
    ("tensorflow", "InvalidArgumentError",
     "{{function_node __wrapped__Conv3D_device_/job:localhost/replica:0/task:0/device:CPU:0}} Number of channels in "
     "filter (1) must match last dimension of input (3) [Op:Conv3D] name:"),
    ("tensorflow", "InvalidArgumentError", "Conv2DBackpropInput: Size of out_backprop doesn't match computed: actual = 5, "
     "computed = 6 spatial_dim: 2 input: 10 filter: 3 output: 5 stride: 1 dilation: 2"),
    ("keras", "ValueError", "`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: strides=(2,) "
     "and dilation_rate=(2,)"),
    ("keras", "ValueError", "The `padding` argument must be a list/tuple or one of {'same', 'valid'}. Received: causal"),
    ("keras", "ValueError", "`output_padding` must be strictly less than `strides` for all dimensions. At dimension 0, "
     "`output_padding` is 1 but `strides` is 1. Received: output_padding=(1,), strides=(1,)"),
    ("keras.ops", "ValueError", "The convolution operation resulted in an empty output. Output shape: (1, 0, 3). This "
     "can happen if the input is too small for the given kernel size, strides, dilation rate, and padding mode."),
    ("litert", "ConverterError", "Some ops are not supported by the native TFLite runtime, you can enable TF kernels "
     "fallback using TF Select."),
    ("litert", "ValueError", "Unsupported TensorFlow type `<dtype: 'bfloat16'>` provided for the input type of the "
     "TensorFlow model"),
    ("onnxruntime", "NotImplemented", "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for "
     "Conv(22) node with name ''"),
    ("onnxruntime", "InvalidArgument", "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while "
     "running Conv node. Name:'Y_nchwc' Status Message: Dilation not supported for AutoPadType::SAME_UPPER or "
     "AutoPadType::SAME_LOWER."),
    ("onnxruntime", "InvalidArgument", "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while "
     "running ConvTranspose node. Name:'' Status Message: Computed output shape is inconsistent with input spatial "
     "dimensions. output_padding (1) may be too large for stride (1). Expected input size 6 but got 5."),
    ("onnxruntime", "InvalidGraph", "[ONNXRuntimeError] : 10 : INVALID_GRAPH : This is an invalid model. Type Error: "
     "Type 'tensor(bfloat16)' of input parameter (input) of operator (Conv) in node (node_convolution) is invalid."),
    ("onnxruntime", "InvalidGraph", "[ONNXRuntimeError] : 10 : INVALID_GRAPH : This is an invalid model. Type Error: "
     "Type 'tensor(bfloat16)' of input parameter (onnx::ConvTranspose_0) of operator (ConvTranspose) in node "
     "(/ConvTranspose) is invalid."),
]
# Framework failures on valid cases: errors, whatever class they share with a refusal.
FAILED = [
    ("torch", "RuntimeError", "slow_conv2d: grad_weight must be contiguous"),
    ("torch", "RuntimeError", "INTERNAL ASSERT FAILED at \"aten/src/ATen/native/Convolution.cpp\":1492"),
    ("tensorflow", "AbortedError", "Operation received an exception:Status: 2, message: could not create a primitive "
     "descriptor for the convolution forward propagation primitive."),
    ("tensorflow", "InternalError", "Failed to compile XLA cluster"),
    ("litert", "TypeError", "'NoneType' object is not callable"),
    ("keras.ops", "ValueError", "Input channels (3) must be divisible by kernel input channels (2)"),  # our kernel
    ("onnxruntime", "Fail", "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Conv node."),
]


def tables():
    """The refusals of each table, as the adapters combine them (no framework imported)."""
    from conformance.adapters import tensorflow_adapter, torch_adapter

    return {"torch": torch_adapter.REFUSALS + keras_layers.REFUSALS + onnx_adapter.ORT_REFUSALS,
            "tensorflow": tensorflow_adapter.REFUSALS + keras_layers.REFUSALS + litert.REFUSALS,
            "keras": keras_layers.REFUSALS, "keras.ops": keras_ops.REFUSALS, "litert": litert.REFUSALS,
            "onnxruntime": onnx_adapter.ORT_REFUSALS}


@pytest.mark.parametrize("table, name, message", REFUSED)
def test_a_declared_refusal_matches_the_message_it_was_written_for(table, name, message):
    assert refusal_for(framework_error(name)(message), tables()[table]) is not None


@pytest.mark.parametrize("table, name, message", FAILED)
def test_a_framework_failure_is_no_refusal(table, name, message):
    assert refusal_for(framework_error(name)(message), tables()[table]) is None


def test_every_refusal_says_where_the_framework_documents_it():
    for table in tables().values():
        for refusal in table:
            assert refusal.source.strip() and refusal.exception and refusal.message, refusal
