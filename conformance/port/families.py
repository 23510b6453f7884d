"""The targets `conformance port` answers for, by family: the paths of one API take the same
arguments, so they share its answer (the exact call, the keyword, the construction), and each target
runs it on its own path (compiled, channels_last, oneDNN, exported, converted), checked there. tf.nn's
and ONNX's answers are here; PyTorch's, Keras', lax's and Flax's in answers.py."""
from __future__ import annotations

from conformance.adapters.onnx_adapter import node_attributes
from conformance.port import code
from conformance.port.answers import (Answer, Recipe, without_groups, flax_answer, keras_answer, lax_answer, torch_answer,
                                      transposed_crop, variant, windows)
from conformance.spec.case import Case

# family -> {api: what the target is}, in the order the command prints them (every CPU target)
FAMILIES = {
    "torch": {
        "torch.functional": "PyTorch torch.nn.functional (the case model's own layout)",
        "torch.layer": "PyTorch torch.nn layer",
        "torch.compile.functional": "PyTorch functional call under torch.compile (Inductor)",
        "torch.compile.layer": "PyTorch layer under torch.compile (Inductor)",
        "torch.channels_last.layer": "PyTorch layer, channels_last memory format",
        "torch.compile.channels_last.layer": "PyTorch layer, channels_last, under torch.compile",
        "torch.no_mkldnn.functional": "PyTorch functional call with oneDNN (mkldnn) off",
        "torch.onnx.layer": "PyTorch layer exported by torch.onnx.export (torch.export), run on ONNX Runtime "
                            "(inference only)",
        "torch.onnx.torchscript.layer": "PyTorch layer exported by the TorchScript exporter, run on ONNX Runtime "
                                        "(inference only)"},
    "keras": {
        "keras.layer": "Keras 3 layer, TensorFlow backend",
        "keras.xla.layer": "Keras 3 layer, TensorFlow backend, the training step compiled by XLA",
        "keras.onednn.layer": "Keras 3 layer, TensorFlow backend with oneDNN on",
        "keras.jax.layer": "Keras 3 layer, JAX backend",
        "keras.torch.layer": "Keras 3 layer, PyTorch backend",
        "litert.layer": "LiteRT: the Keras model converted by TFLiteConverter, run in the interpreter (inference only)"},
    "tf.nn": {
        "tf.nn": "TensorFlow tf.nn, channels last",
        "tf.xla.nn": "TensorFlow tf.nn, the training step compiled by XLA",
        "tf.onednn.nn": "TensorFlow tf.nn with oneDNN on"},
    "lax": {"jax.lax": "jax.lax (conv_general_dilated / conv_transpose), channels last"},
    "flax": {"flax.layer": "Flax linen Conv / ConvTranspose, channels last"},
    "onnx": {"onnxruntime": "ONNX Conv / ConvTranspose node on ONNX Runtime (inference only)",
             "onnx.reference": "ONNX Conv / ConvTranspose node on the ONNX reference evaluator (inference only)"},
}
TARGETS = tuple(f"{api}@cpu" for apis in FAMILIES.values() for api in apis)
# The families whose targets get constructions (recipes) where no argument of theirs computes the case.
WITH_RECIPES = ("torch", "keras", "tf.nn", "lax")


def answers(case: Case) -> list[Answer]:
    out = []
    for family, apis in FAMILIES.items():
        for api, title in apis.items():
            target = f"{api}@cpu"
            if family in ("lax", "flax"):
                out.append(lax_answer(case) if family == "lax" else flax_answer(case))
            else:
                out.append(ANSWERS[family](case, target, title))
    return out


def tf_nn_takes(case: Case) -> bool:
    """Whether tf.nn takes the case's padding as written (adapters/tensorflow_adapter.py): 'VALID'/'SAME'
    (a transposed 'SAME' without output_padding), explicit pairs on tf.nn.conv2d / conv2d_transpose."""
    if case.padding in ("valid", "same"):
        return case.op == "conv" or case.padding == "valid" or not any(case.output_padding)
    return not isinstance(case.padding, str) and case.ndim == 2


def tf_nn_answer(case: Case, target: str, title: str) -> Answer:
    answer = Answer(target, title)
    if without_groups(answer, case, f"tf.nn.conv{case.ndim}d_transpose", "call"):
        return answer
    answer.lines.append(f"weights: {code.kernel_last_text(case)}; input: {code.channels_last(case)}")
    if tf_nn_takes(case):
        answer.recipes.append(Recipe(target, "the native call", code.tf_call(case), case.to_dict(), native=True))
        if case.op == "conv" and case.ndim == 2 and case.groups > 1 and case.is_depthwise:
            # TensorFlow's own depthwise op, whose gradients its CPU kernels have (the grouped conv2d's not)
            answer.recipes.append(Recipe(target, "tf.nn.depthwise_conv2d", code.tf_depthwise_call(case),
                                         case.to_dict(), family="tf.nn", depthwise=True))
        return answer
    answer.lines.append("tf.nn.convolution and conv1d/conv3d_transpose take 'VALID'/'SAME' only (explicit pairs "
                        f"on the 2-D functions alone); the case needs (begin, end) = {[tuple(p) for p in case.pads]}")
    mine = windows(case)
    for kw in ("same", "valid"):
        v = variant(case, kw)
        if v is not None and tf_nn_takes(Case.from_dict(v)) and windows(Case.from_dict(v)) == mine:
            answer.recipes.append(Recipe(target, f"padding={kw.upper()!r}", code.tf_call(Case.from_dict(v)), v))
    if answer.recipes:
        return answer
    if case.op == "conv":
        v = variant(case, "valid")
        answer.recipes.append(Recipe(target, "tf.pad + padding='VALID'", code.tf_call(Case.from_dict(v), pads=case.pads),
                                     v, zero_padding=[list(p) for p in case.pads], family="tf.nn"))
        return answer
    found = transposed_crop(case, "valid")
    if found is None:
        answer.none = "the case keeps elements past what 'VALID' with output_shape (< stride more) can return"
        return answer
    v, crops = found
    answer.recipes.append(Recipe(target, f"padding='VALID' + a slice {code.slice_text(crops)}",
                                 code.tf_call(Case.from_dict(v), crops=crops), v, cropping=crops, family="tf.nn"))
    return answer


def onnx_answer(case: Case, target: str, title: str) -> Answer:
    """ONNX's pads (begin and end per dim; a transposed conv's crop of the full output) and output_padding
    write any case of the model: the node itself is the answer, and where ONNX Runtime refuses it, its text."""
    answer = Answer(target, title)
    answer.lines.append("weights and input: as they are (ONNX's layouts are the case's); pads crop a transposed "
                        "conv's full output, output_padding extends it" if case.op == "conv_transpose" else
                        "weights and input: as they are (ONNX's layouts are the case's); pads are zero padding")
    answer.recipes.append(Recipe(target, "the native node", code.onnx_node(case, node_attributes(case)),
                                 case.to_dict(), native=True))
    return answer


ANSWERS = {"torch": torch_answer, "keras": keras_answer, "tf.nn": tf_nn_answer, "onnx": onnx_answer}
