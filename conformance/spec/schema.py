"""JSON Schema of case files, for editor completion and validation (`conformance schema`).

It mirrors the case model's rules as far as a schema can; the model (conformance.spec.case) remains the
authority and gives the precise messages.
"""
from __future__ import annotations

from conformance.spec.case import DATA_KEYS, DEFAULTS, EXPECT_KEYS, FIELDS, OPS, PADDING_KEYWORDS
from conformance.spec.dtypes import DTYPE_NAMES


def any_case(words) -> str:
    """A pattern (ECMA 262, no inline flags) of the words in any mix of upper and lower case."""
    spell = lambda w: "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in w)  # noqa: E731
    return "^(" + "|".join(spell(w) for w in words) + ")$"


def case_file_schema() -> dict:
    pos = {"type": "integer", "minimum": 1}
    nonneg = {"type": "integer", "minimum": 0}
    per_dim = lambda item: {"oneOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": 3}]}  # noqa: E731
    array = {"oneOf": [
        {"type": "array"},
        {"type": "object", "properties": {"fill": {"type": "number"}}, "required": ["fill"], "additionalProperties": False},
        {"type": "object", "properties": {"arange": {"type": "number"}}, "required": ["arange"], "additionalProperties": False},
    ]}
    fields = {
        "id": {"type": "string", "minLength": 1, "description": "unique across the library"},
        "op": {"enum": list(OPS)},
        "input_shape": {"type": "array", "prefixItems": [nonneg], "items": pos, "minItems": 3, "maxItems": 5,
                        "description": "[N, C_in, *spatial], 1 to 3 spatial dims; the batch N may be 0"},
        "out_channels": pos,
        "kernel_size": per_dim(pos),
        "stride": per_dim(pos),
        "dilation": per_dim(pos),
        "groups": pos,
        "output_padding": per_dim(nonneg),
        "padding": {"anyOf": [  # a keyword in any case, as the loader reads it (`SAME` is `same`)
            {"enum": list(PADDING_KEYWORDS)}, {"type": "string", "pattern": any_case(PADDING_KEYWORDS)}, nonneg,
            {"type": "array", "minItems": 1, "maxItems": 3,
             "items": {"oneOf": [nonneg, {"type": "array", "items": nonneg, "minItems": 2, "maxItems": 2}]}},
        ], "description": "conv: zero padding; conv_transpose: cropping"},
        "bias": {"type": "boolean"},
        "dtypes": {"oneOf": [{"enum": list(DTYPE_NAMES)},  # one name alone, as the loader reads it
                             {"type": "array", "items": {"enum": list(DTYPE_NAMES)}, "minItems": 1, "uniqueItems": True}]},
        "data": {"type": "object", "properties": {k: array for k in DATA_KEYS}, "additionalProperties": False},
        "expect": {"type": "object", "additionalProperties": False, "properties": {
            "output": {"type": "array"}, "output_shape": {"type": "array", "items": {"type": "integer"}},
            "weight_shape": {"type": "array", "items": {"type": "integer"}}, "param_count": nonneg}},
        "source": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string"},
        "threads": {"type": "array", "items": {"enum": [1, "all"]}, "minItems": 1, "uniqueItems": True,
                    "description": "worker thread counts: 1, and 'all' (os.cpu_count()); each unit runs at each"},
    }
    assert set(fields) == set(FIELDS) and set(fields["expect"]["properties"]) == set(EXPECT_KEYS)
    for name, default in DEFAULTS.items():
        if default not in (None, []):
            fields[name] = {**fields[name], "default": default}
    case = {"type": "object", "properties": {**fields, "matrix": {
        "type": "object", "description": "field -> list of values; expands to the cartesian product",
        "propertyNames": {"enum": [f for f in FIELDS if f != "id"]},
        "additionalProperties": {"type": "array", "minItems": 1}}},
        "additionalProperties": False}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "conv-conformance case file",
        "type": "object",
        "required": ["cases"],
        "additionalProperties": False,
        "properties": {
            "description": {"type": "string"},
            "defaults": {"type": "object", "properties": {k: v for k, v in fields.items() if k != "id"},
                         "additionalProperties": False},
            "cases": {"type": "array", "items": {**case, "required": ["id", "op", "input_shape", "out_channels",
                                                                        "kernel_size"]}},
        },
    }
