"""JSON Schema of the results file as this version writes it (`conformance schema --results`).

It describes the layout (conformance/results/records.py, conformance/results/layout.py): what each
record holds and of which type. What a schema cannot say, e.g. that every `<field>_ref` names an
entry of `texts`, the reader checks.
"""
from __future__ import annotations

from dataclasses import fields

from conformance.results.layout import REF_SUFFIX, SHARED_TEXTS
from conformance.results.records import CHECKS, KEY_FIELDS, SCHEMA_VERSION, STATUSES, Result

NUMBER_OR_WORD = {"type": ["number", "string"], "description": "a number; 'inf', '-inf' or 'nan' as a string"}
TEXT_ID = {"type": "string", "pattern": "^[0-9a-f]{12}([0-9a-f]{52})?$"}
KERNEL = {"type": "object", "required": ["primitive", "implementation", "propagation", "problem", "executed"],
          "additionalProperties": False, "properties": {
              "primitive": {"type": "string"}, "implementation": {"type": "string"}, "propagation": {"type": "string"},
              "problem": {"type": "string"}, "executed": {"type": "boolean"}}}
KERNELS = {"type": "object", "required": ["onednn"], "additionalProperties": False,
           "description": "the oneDNN primitives a failing unit's re-run with ONEDNN_VERBOSE logged "
                          "(conformance/results/kernels.py)",
           "properties": {"onednn": {"type": "array", "items": KERNEL}, "rerun": {"enum": list(STATUSES)},
                          "note": {"type": "string"}}}
COUNTS = {"type": "object", "propertyNames": {"enum": list(STATUSES)}, "additionalProperties": {"type": "integer"}}


def record_properties() -> dict:
    """Every field a record may hold in the file, by the Result dataclass's fields."""
    known = {
        "check": {"enum": list(CHECKS)},
        "status": {"enum": list(STATUSES)},
        "message": {"type": "string"},
        "threads": {"type": "integer", "minimum": 1,
                    "description": "the thread count of the worker that produced it (a case's `threads`)"},
        "max_abs_error": NUMBER_OR_WORD,
        "error_ratio": NUMBER_OR_WORD,
        "worst_index": {"type": "array", "items": {"type": "integer"}},
        "expected": {"description": "the oracle's value at the worst element, or the expected shape or count"},
        "got": {"description": "the framework's value at the worst element, or its shape or count"},
        "arithmetic": {"type": "string"},
        "detail": {"type": "object"},
        "known": {"type": "object"},
        "timings": {"type": "object", "additionalProperties": {"type": "number"}},
        "digest": {"type": "string"},
        "attempts": {"type": "array", "items": {"type": "object"}},
        "varies": {"type": "object"},
        "kernels": KERNELS,
    }
    properties = {}
    for f in fields(Result):
        if f.name in SHARED_TEXTS:
            properties[f.name + REF_SUFFIX] = {**TEXT_ID, "description": f"the id of this record's {f.name} in 'texts'"}
        else:
            properties[f.name] = known.get(f.name, {"type": "string"})
    return properties


def results_file_schema() -> dict:
    record = {"type": "object", "required": [*KEY_FIELDS, "status", "message"], "additionalProperties": False,
              "properties": record_properties()}
    summary = {"type": "object", "required": ["total", "by_status", "by_framework", "by_target"],
               "additionalProperties": False, "properties": {
                   "total": {"type": "integer", "minimum": 0}, "by_status": COUNTS,
                   "by_framework": {"type": "object", "additionalProperties": COUNTS},
                   "by_target": {"type": "object", "additionalProperties": COUNTS}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "conv-conformance results file",
        "description": ("what `conformance run --json`, `conformance merge -o` and --conformance-json write; "
                        "gzip when the name ends in .gz"),
        "type": "object",
        "required": ["schema_version", "environment", "skipped", "stale_known", "summary", "cases", "results",
                     "texts"],
        "additionalProperties": False,
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "environment": {"type": "object", "description": "host, frameworks, seed, command, ..."},
            "skipped": {"type": "array", "items": {"type": "object", "required": ["reason"]}},
            "stale_known": {"type": "array", "items": {"type": "object", "required": ["id"]}},
            "summary": summary,
            "cases": {"type": "object", "additionalProperties": {"type": "object"}},
            "results": {"type": "array", "items": record, "description": "sorted by " + ", ".join(KEY_FIELDS)},
            "texts": {"type": "object", "propertyNames": TEXT_ID, "additionalProperties": {"type": "string"},
                      "description": "content id (SHA-256 prefix) -> a text that records name in <field>_ref"},
        },
    }
