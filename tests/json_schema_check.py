"""A small JSON Schema validator for the keywords the suite's schemas use (jsonschema is not a
dependency). A keyword it does not know is an error, never silently ignored, so a schema that grows
a new keyword makes the tests that use this fail until the validator understands it."""
from __future__ import annotations

import re

TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
ANNOTATIONS = {"$schema", "title", "description", "default"}


def errors(value, schema: dict, where: str = "$") -> list[str]:
    """Every place where `value` breaks `schema`, as 'path: what'."""
    unknown = set(schema) - set(CHECKS) - ANNOTATIONS
    if unknown:
        raise ValueError(f"{where}: the test validator does not know the keywords {sorted(unknown)}")
    out = []
    for keyword, check in CHECKS.items():
        if keyword in schema:
            out.extend(check(value, schema, where))
    return out


def _is_type(value, name: str) -> bool:
    if name in ("number", "integer"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and (name == "number" or isinstance(value, int))
    return isinstance(value, TYPES[name])


def _type(value, schema, where):
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return [] if any(_is_type(value, n) for n in names) else [f"{where}: {value!r:.60} is not of type {names}"]


def _enum(value, schema, where):
    return [] if value in schema["enum"] else [f"{where}: {value!r:.60} is not one of {schema['enum']}"]


def _const(value, schema, where):
    return [] if value == schema["const"] else [f"{where}: {value!r:.60} is not {schema['const']!r}"]


def _pattern(value, schema, where):
    bad = isinstance(value, str) and not re.search(schema["pattern"], value)
    return [f"{where}: {value!r:.60} does not match {schema['pattern']}"] if bad else []


def _minimum(value, schema, where):
    bad = _is_type(value, "number") and value < schema["minimum"]
    return [f"{where}: {value} is below {schema['minimum']}"] if bad else []


def _required(value, schema, where):
    return [f"{where}: {name!r} is missing" for name in schema["required"]
            if isinstance(value, dict) and name not in value]


def _properties(value, schema, where):
    if not isinstance(value, dict):
        return []
    return [e for k, sub in schema["properties"].items() if k in value for e in errors(value[k], sub, f"{where}.{k}")]


def _additional(value, schema, where):
    if not isinstance(value, dict):
        return []
    extra = [k for k in value if k not in schema.get("properties", {})]
    rule = schema["additionalProperties"]
    if rule is False:
        return [f"{where}: {k!r} is not allowed" for k in extra]
    return [] if rule is True else [e for k in extra for e in errors(value[k], rule, f"{where}.{k}")]


def _property_names(value, schema, where):
    return [e for k in value for e in errors(k, schema["propertyNames"], f"{where} key {k!r}")] \
        if isinstance(value, dict) else []


def _items(value, schema, where):
    """`items` applies to the elements after `prefixItems` (JSON Schema 2020-12)."""
    first = len(schema.get("prefixItems", ()))
    return [e for i, v in enumerate(value) if i >= first for e in errors(v, schema["items"], f"{where}[{i}]")] \
        if isinstance(value, list) else []


def _prefix_items(value, schema, where):
    return [e for i, (v, sub) in enumerate(zip(value, schema["prefixItems"])) for e in errors(v, sub, f"{where}[{i}]")] \
        if isinstance(value, list) else []


def _one_of(value, schema, where):
    passing = [not errors(value, sub, where) for sub in schema["oneOf"]]
    return [] if sum(passing) == 1 else [f"{where}: {value!r:.60} matches {sum(passing)} of oneOf's schemas, not 1"]


def _any_of(value, schema, where):
    return [] if any(not errors(value, sub, where) for sub in schema["anyOf"]) else \
        [f"{where}: {value!r:.60} matches none of anyOf's schemas"]


def _size(keyword, kind, compare):
    def check(value, schema, where):
        bad = isinstance(value, kind) and not compare(len(value), schema[keyword])
        return [f"{where}: {value!r:.60} breaks {keyword} {schema[keyword]}"] if bad else []
    return check


def _unique(value, schema, where):
    bad = schema["uniqueItems"] and isinstance(value, list) and len({repr(v) for v in value}) != len(value)
    return [f"{where}: {value!r:.60} repeats an item"] if bad else []


CHECKS = {"type": _type, "enum": _enum, "const": _const, "pattern": _pattern, "minimum": _minimum,
          "required": _required, "properties": _properties, "additionalProperties": _additional,
          "propertyNames": _property_names, "items": _items, "prefixItems": _prefix_items, "oneOf": _one_of, "anyOf": _any_of,
          "minItems": _size("minItems", list, int.__ge__), "maxItems": _size("maxItems", list, int.__le__),
          "minLength": _size("minLength", str, int.__ge__), "uniqueItems": _unique}
