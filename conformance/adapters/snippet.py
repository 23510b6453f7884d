"""A unit's native call as code: the reproducer a record shows (`call`), and the body of the script
that `conformance repro` writes (conformance/repro/).

A `Snippet` is written over the suite-layout NumPy arrays, float64 values exactly representable in
the dtype: `x` (N, C, *spatial); `w` (O, I/groups, *k), or (I, O/groups, *k) for a transposed conv;
`b` (O,) or None; and, for gradients, `dy` in the output's layout (N, O, *spatial_out). Its `call`
lines convert them to the framework's layout and dtype and call the framework exactly as the
target does (the same arguments, the same path), leaving the framework's own result in `y` (in
its native layout). Its `results` lines (a repro's only) turn what came back into the dict `out`
of suite-layout float64 NumPy values: 'output', and where the target computes them 'grad_input',
'grad_weight', 'grad_bias' (each an array; None where the framework returned none; the exception
where computing it raised, as the adapter keeps it), and for layers 'weight_shape' and
'param_count' as the layer reports them.

An adapter writes its snippet with a function of `grads` (`attach`): `grads=False` gives the
record's `call`, forward only, with random data of the case's shapes in place of its own
(`text()`); `grads=True` gives the repro's body (`body()`): every value the suite checks into `out`,
the gradients computed through the framework's autodiff the way the adapter computes them, from the
case's upstream gradient `dy` (a forward-only path has none: its output, and a layer's facts), and a
refusal or failure of one part kept as that part's value where the adapter keeps it.
Nothing here imports a framework.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from conformance.spec.case import Case


@dataclass
class Snippet:
    imports: list[str]
    call: list[str]
    results: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)  # random suite-layout arrays, in the record's call only

    def text(self) -> str:
        """The record's `call`: imports, random data of the case's shapes, the call."""
        return "\n".join(self.imports + self.data + self.call)

    def body(self) -> str:
        """The repro script's native part: imports, the call, the results in `out`."""
        return "\n".join(self.imports + self.call + self.results)


def attach(obs, write) -> None:
    """Set `obs.call` to the short reproducer, `write(grads=False).text()`, and keep `write` as
    `obs.repro` for `conformance repro` (which calls it with `grads=True`)."""
    obs.call = write(grads=False).text()
    obs.repro = write


def weight_layout(case: Case) -> str:
    return "(I, O/groups, *k)" if case.op == "conv_transpose" else "(O, I/groups, *k)"


def random_data(case: Case) -> list[str]:
    """Random float64 arrays of the case's shapes, in the suite's layout (the case's own data in a repro)."""
    return ["rng = np.random.default_rng(0)",
            f"x = rng.standard_normal({tuple(case.input_shape)})  # input (N, C, *spatial), as the suite lays it out",
            f"w = rng.standard_normal({tuple(case.weight_shape)})  # weight {weight_layout(case)}",
            f"b = rng.standard_normal({case.out_channels})" if case.bias else "b = None"]


def channels_last(name: str) -> str:
    """Code: (N, C, *spatial) -> (N, *spatial, C)."""
    return f"np.moveaxis({name}, 1, -1)"


def channels_first(name: str) -> str:
    """Code: (N, *spatial, C) -> (N, C, *spatial)."""
    return f"np.moveaxis({name}, -1, 1)"


def kernel_last(name: str, ndim: int) -> str:
    """Code: the suite's weight (A, B, *k) -> (*k, B, A), the TF/Keras/JAX kernel layout."""
    return f"np.transpose({name}, {tuple(range(2, 2 + ndim)) + (1, 0)})"


def kernel_first(name: str, ndim: int) -> str:
    """Code: the inverse of `kernel_last`, (*k, B, A) -> (A, B, *k)."""
    return f"np.transpose({name}, {(ndim + 1, ndim) + tuple(range(ndim))})"


def float64(name: str) -> str:
    return f"np.asarray({name}, dtype=np.float64)"


def indent(lines: list[str], prefix: str = "    ") -> list[str]:
    return [prefix + line if line else line for line in "\n".join(lines).splitlines()]


def gradient_results(quantities: dict[str, str]) -> list[str]:
    """Lines that put each gradient into `out`: {key: code of the suite-layout conversion of `g`},
    applied where the value is an array (None and an exception pass through, as in the adapters)."""
    lines = ["def suite_layout(value, convert):",
             "    return value if value is None or isinstance(value, BaseException) else convert(value)"]
    for key, code in quantities.items():
        lines.append(f"out[{key!r}] = suite_layout(grads[{list(quantities).index(key)}], lambda g: {code})")
    return lines
