"""The porting answer for one case, per target: which of the target's own calls computes the case
exactly, what its padding keyword resolves to at this input size, and where no keyword does, the
construction that does (a padding layer and 'valid', a crop after a transposed 'valid'), how the
nearest keyword differs, or that none exists and why. Each call offered is a `Recipe` that run.py
runs in the target's worker and checks against the oracle; this module only decides what to offer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from conformance.adapters.keras_layers import layer_spec
from conformance.errors import CaseError
from conformance.port import code
from conformance.port.conventions import keras_transposed_window, lax_transposed_window
from conformance.spec.case import Case, resolve_padding

@dataclass
class Recipe:
    """One call offered for a target, to be run and checked: `variant` is the case as the core call
    takes it; `zero_padding`/`cropping` are the layers around it (Keras); `native`: the target's own
    call on the case itself (a native record, not a recipe); `family`: whose construction it is
    (conformance/recipes/: the module that runs it on every target of the family)."""

    target: str
    label: str
    code: str
    variant: dict
    zero_padding: list | None = None
    cropping: list | None = None
    native: bool = False
    family: str = ""
    depthwise: bool = False  # tf.nn: tf.nn.depthwise_conv2d in place of the grouped tf.nn.conv2d

    def message(self) -> dict | None:
        """What the worker gets (conformance/recipes/), None for the native call."""
        if self.native:
            return None
        return {"family": self.family, "depthwise": self.depthwise, "variant": self.variant, "zero_padding": self.zero_padding, "cropping": self.cropping,
                "code": self.code}


@dataclass
class Answer:
    target: str
    title: str
    lines: list[str] = field(default_factory=list)
    recipes: list[Recipe] = field(default_factory=list)
    none: str | None = None  # why no call of this target computes the case


def variant(case: Case, padding, output_padding=None) -> dict | None:
    """The case with another padding (and output_padding), as a dict; None where that is no valid case."""
    d = {**case.to_dict(), "padding": padding if isinstance(padding, str) else [list(p) for p in padding]}
    if case.op == "conv_transpose":
        d["output_padding"] = list(output_padding) if output_padding is not None else [0] * case.ndim
    try:
        Case.from_dict(d)
    except CaseError:
        return None
    return d


def windows(case: Case) -> list[tuple[int, int]]:
    """Per dim: conv, the (begin, end) zero padding; transposed, the (begin, length) kept of the full output."""
    if case.op == "conv":
        return [tuple(p) for p in case.pads]
    return [(b, n) for (b, _), n in zip(case.pads, case.out_spatial)]


def keyword_windows(case: Case, keyword: str, output_padding=None, rule=None) -> list[tuple[int, int]] | None:
    """The windows of a padding keyword at this input size: the case model's rule for a conv (every
    framework's 'same' puts the odd element at the end), `rule` (the framework's) for a transposed conv."""
    if case.op == "conv":
        if keyword == "causal" and case.ndim != 1:
            return None
        return list(resolve_padding("conv", keyword, case.in_spatial, case.kernel_size, case.stride, case.dilation,
                                    (0,) * case.ndim))
    ops = output_padding if output_padding is not None else [None] * case.ndim
    return [rule(n, k, s, keyword, o) for n, k, s, o in zip(case.in_spatial, case.effective_kernel, case.stride, ops)]


def difference(case: Case, keyword: str, kw: list, mine: list) -> str:
    """How a keyword's windows differ from the case's, in words: per dim, or once where every dim differs alike."""
    said = [(axis, dim_difference(case, axis, keyword, a, b)) for axis, (a, b) in enumerate(zip(kw, mine)) if a != b]
    if len(said) == case.ndim > 1 and len({text for _, text in said}) == 1:
        return f"in every dim, {said[0][1]}"
    if case.ndim == 1:
        return said[0][1] if said else ""
    return "; ".join(f"dim {axis}: {text}" for axis, text in said)


def dim_difference(case: Case, axis: int, keyword: str, a: tuple, b: tuple) -> str:
    unit = "pixel" if case.ndim == 2 else "element"
    if case.op == "conv":
        n = case.in_spatial[axis]
        sizes = [(n + p + q - case.effective_kernel[axis]) // case.stride[axis] + 1 for p, q in (a, b)]
        shift = b[0] - a[0]  # the case pads more at the start: the keyword's windows start later
    else:
        sizes, shift = [a[1], b[1]], a[0] - b[0]
    if sizes[0] != sizes[1]:
        more = sizes[0] - sizes[1]
        return (f"{keyword} gives {sizes[0]}, the case {sizes[1]} ({code.count_words(abs(more))} {unit}"
                f"{'s' if abs(more) != 1 else ''} {'too many' if more > 0 else 'short'})")
    return (f"{keyword} gives the same size, {'later' if shift > 0 else 'earlier'} {unit}s: shifted by "
            f"{code.count_words(abs(shift))} {unit}{'s' if abs(shift) != 1 else ''}")


def torch_answer(case: Case, target: str = "torch.functional@cpu",
                 title: str = "PyTorch torch.nn.functional (the case model's own layout)") -> Answer:
    """Every torch path takes the same arguments: the functional call, or the layer on `.layer` targets."""
    answer = Answer(target, title)
    layer = target.split("@")[0].endswith(".layer")
    answer.lines.append("weights: as they are (the case's layout is PyTorch's); input: as it is (N, C, *spatial)")
    if torch_takes(case):
        answer.recipes.append(Recipe(answer.target, "the native call", code.torch_call(case, layer), case.to_dict(),
                                     native=True))
        return answer
    if all(b == e for b, e in case.pads):
        v = variant(case, case.pads, case.output_padding)
        answer.lines.append(f"padding={case.padding!r} is not PyTorch's; its own symmetric amounts are")
        answer.recipes.append(Recipe(answer.target, f"padding={tuple(b for b, _ in case.pads)}",
                                     code.torch_call(Case.from_dict(v), layer), v))
        return answer
    answer.lines.append(f"PyTorch takes one symmetric amount per dim; the case needs (begin, end) = "
                        f"{[tuple(p) for p in case.pads]}")
    construction = torch_construction(case, target, layer)
    if construction is None:
        answer.none = "the case keeps elements past what output_padding (< stride) can add"
    else:
        answer.recipes.append(construction)
    return answer


def torch_takes(case: Case) -> bool:
    """Whether torch.nn.functional takes the case as written (conformance/adapters/torch_adapter.py refuses the rest)."""
    if case.op == "conv" and case.padding == "valid":
        return True
    if case.op == "conv" and case.padding == "same":
        return set(case.stride) == {1}
    return not isinstance(case.padding, str) and all(b == e for b, e in case.pads)


def torch_construction(case: Case, target: str = "torch.functional@cpu", layer: bool = False) -> Recipe | None:
    """F.pad then padding 0 (conv); padding 0 then a slice of the output (transposed)."""
    zeros = [[0, 0]] * case.ndim
    if case.op == "conv":
        v = variant(case, zeros)
        return Recipe(target, f"F.pad {code.pad_text(case.pads)} + padding=0",
                      code.torch_pad_call(Case.from_dict(v), case.pads, layer), v,
                      zero_padding=[list(p) for p in case.pads], family="torch")
    found = transposed_crop(case, zeros)
    if found is None:
        return None
    v, crops = found
    return Recipe(target, f"padding=0 + a slice {code.slice_text(crops)}",
                  code.torch_slice_call(Case.from_dict(v), crops, layer), v, cropping=crops, family="torch")


def transposed_crop(case: Case, full) -> tuple[dict, list] | None:
    """(the variant case with padding `full` (the whole output: 0, or 'valid') and the output_padding
    that reaches the case's window, the (begin, end) crop of it); None where output_padding (< stride
    or dilation) cannot reach that far."""
    ops = [op + max(0, -e) for op, (_, e) in zip(case.output_padding, case.pads)]
    if any(op >= max(s, d) for op, s, d in zip(ops, case.stride, case.dilation)):
        return None
    return variant(case, full, ops), [[b, max(e, 0)] for b, e in case.pads]


def without_groups(answer: Answer, case: Case, api: str, unit: str) -> bool:
    """Whether `api` (a transposed conv without a groups argument) cannot take this grouped case; if
    so the answer says so, and how to port it instead."""
    if not (case.op == "conv_transpose" and case.groups > 1):
        return False
    answer.none = (f"{api} has no groups argument, and no padding or crop around one {unit} splits its "
                   f"channels; port it as one {unit} per group and concatenate")
    return True


def keras_answer(case: Case, target: str = "keras.layer@cpu", title: str = "Keras 3 layer, TensorFlow backend") -> Answer:
    """Every Keras target (each backend and path, and LiteRT: the model converted) takes the same layers."""
    answer = Answer(target, title)
    if without_groups(answer, case, f"Conv{case.ndim}DTranspose", "layer"):
        return answer
    answer.lines.append(f"weights: {code.keras_weight(case)}; input: {code.channels_last(case)}")
    mine = windows(case)
    options = keras_options(case)
    exact = [(label, v) for label, _, kw, v in options if kw == mine]
    for label, v in exact:
        answer.recipes.append(keras_recipe(case, label, v, target))
    for label, keyword, kw, _ in options:
        where = code.windows_text(case, kw)
        state = "computes the case exactly" if kw == mine else difference(case, repr(keyword), kw, mine)
        answer.lines.append(f"{label} resolves to {where} at input {code.size(case)}: {state}")
    if not exact:
        construction = keras_construction(case, target)
        if construction is None:
            answer.none = ("the case keeps elements past the end of what Conv{n}DTranspose(padding='valid') returns "
                           "(more than its output_padding can add)").format(n=case.ndim)
        else:
            answer.recipes.append(construction)
    return answer


def keras_options(case: Case) -> list[tuple[str, str, list, dict]]:
    """(label, keyword, windows, variant case dict) of every keyword setting of the layer at this input size."""
    out = []
    if case.op == "conv":
        for kw in ("valid", "same", "causal"):
            w, v = keyword_windows(case, kw), variant(case, kw)
            if w is not None and v is not None:
                out.append((f"padding={kw!r}", kw, w, v))
        return out
    ops = [None] + ([list(case.output_padding)] if any(case.output_padding) else [])
    for kw in ("valid", "same"):
        for op in ops:
            v = variant(case, kw, op)
            if v is not None:
                label = f"padding={kw!r}" + (f", output_padding={tuple(op)}" if op else "")
                out.append((label, kw, keyword_windows(case, kw, op, keras_transposed_window), v))
    return out


def keras_recipe(case: Case, label: str, v: dict, target: str = "keras.layer@cpu", **layers) -> Recipe:
    core = Case.from_dict(v)
    cls, kwargs = layer_spec(core, "float32")
    return Recipe(target, label if not layers else code.construction_label(case, layers),
                  code.keras_code(core, cls, kwargs, **layers), v, family="keras", **layers)


def keras_construction(case: Case, target: str = "keras.layer@cpu") -> Recipe | None:
    """ZeroPaddingND + 'valid' (conv), or 'valid' + CroppingND (transposed); None where a crop cannot reach."""
    if case.op == "conv":
        return keras_recipe(case, "", variant(case, "valid"), target, zero_padding=[list(p) for p in case.pads])
    # 'valid' alone first (the simplest layer), then with the case's output_padding (which reaches further)
    for op in [None] + ([list(case.output_padding)] if any(case.output_padding) else []):
        valid = keyword_windows(case, "valid", op, keras_transposed_window)
        crops = [[b, length - b - n] for (b, n), (_, length) in zip(windows(case), valid)]
        if all(e >= 0 for _, e in crops):
            return keras_recipe(case, "", variant(case, "valid", op), target, cropping=crops)
    return None


def lax_answer(case: Case) -> Answer:
    answer = Answer("jax.lax@cpu", "jax.lax (conv_general_dilated / conv_transpose), channels last")
    answer.lines.append(f"weights: {code.kernel_last_text(case)}; input: {code.channels_last(case)}")
    answer.recipes.append(Recipe(answer.target, "explicit lax pads (lax's own argument)", code.lax_call(case),
                                 case.to_dict(), native=True))
    lax_keywords(case, answer, code.lax_call)
    return answer


def lax_keywords(case: Case, answer: Answer, call) -> None:
    """lax's 'SAME' and 'VALID' (Flax passes them on): what each resolves to, and a recipe where one is exact."""
    mine = windows(case)
    for kw in ("same", "valid"):
        w = keyword_windows(case, kw, rule=lambda n, k, s, p, o: lax_transposed_window(n, k, s, p))
        state = "computes the case exactly" if w == mine else difference(case, repr(kw.upper()), w, mine)
        answer.lines.append(f"padding={kw.upper()!r} resolves to {code.windows_text(case, w)} at input "
                            f"{code.size(case)}: {state}")
        v = variant(case, kw)
        if w == mine and v is not None and case.padding != kw:
            answer.recipes.append(Recipe(answer.target, f"padding={kw.upper()!r}", call(case, kw.upper()), v))


def flax_answer(case: Case) -> Answer:
    answer = Answer("flax.layer@cpu", "Flax linen Conv / ConvTranspose, channels last")
    answer.lines.append(f"weights: {code.kernel_last_text(case)}; input: {code.channels_last(case)}")
    answer.recipes.append(Recipe(answer.target, "the native call", code.flax_call(case), case.to_dict(), native=True))
    lax_keywords(case, answer, code.flax_call)
    return answer
