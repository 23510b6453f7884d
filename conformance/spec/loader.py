"""Case files: YAML -> validated `Case` objects, with file and line in every error.

A case file is a mapping with a `cases:` list and, optionally, `description:` and `defaults:`
(field values every case of the file starts from). A case may carry `matrix:`, a mapping of
field -> list of values; it expands to the cartesian product, each expanded case with the id
`base_id[field=value,...]`.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import yaml

from conformance.spec.library import library_folder
from conformance.spec.case import FIELDS, Case
from conformance.errors import CaseError, CaseErrors, UsageError, did_you_mean

FILE_KEYS = ("cases", "defaults", "description")
# The most cases one `matrix:` may expand to: a typo in a matrix must not hang the loader.
MAX_MATRIX_CASES = 10_000
# The float64 working set one case may need (Case.working_set_bytes). The largest case of the
# default library needs ~3 MB; 1 GiB per case leaves room for several workers on a laptop, and a
# case beyond it is refused before any framework allocates it (`--max-case-memory` changes it).
DEFAULT_MEMORY_BUDGET = 1 << 30
# Files in a case folder that are not case files (the known-differences list lives beside the cases).
NOT_CASE_FILES = ("known_differences.yaml",)


def is_case_file(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and path.name not in NOT_CASE_FILES


def case_files(paths) -> list[Path]:
    """Expand folders to their case files (sorted); keep files as given."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.is_file() and is_case_file(f)))
        elif p.is_file():
            files.append(p)
        else:
            hint = " (run from the repository root, or pass --cases PATH)" if str(p) == "cases" else ""
            raise CaseError(f"no such file or folder: {p}{hint}")
    return files


def load_cases(*paths, ids=None, memory_budget: int | None = DEFAULT_MEMORY_BUDGET) -> list[Case]:
    """Load every case of the given files and folders; ids must be unique across all of them."""
    cases: list[Case] = []
    seen: dict[str, Case] = {}
    errors: list[CaseError] = []  # every bad case of every file, reported together
    paths = paths or (library_folder(),)
    for path in case_files(paths):
        try:
            loaded = load_file(path, errors=errors, memory_budget=memory_budget)
        except CaseError as exc:  # the file itself (YAML, top-level keys): its cases cannot be read
            errors.append(exc)
            continue
        for case in loaded:
            if case.id in seen:
                errors.append(duplicate_error(case, seen[case.id]))
                continue
            seen[case.id] = case
            cases.append(case)
    if errors:
        raise errors[0] if len(errors) == 1 else CaseErrors(errors)
    if not cases:
        raise CaseError(f"no cases in {', '.join(map(str, paths))}: a case file is a .yaml or .yml file with a "
                        "top-level 'cases:' list of at least one case (see cases/README.md)")
    if ids:
        missing = [i for i in ids if i not in seen]
        if missing:
            raise CaseError(f"unknown case id {missing[0]!r}{did_you_mean(missing[0], seen)}")
        cases = [seen[i] for i in ids]
    return cases


def duplicate_error(case: Case, first: Case) -> CaseError:
    return CaseError(f"duplicate case id: also declared at {first.origin[0]}:{first.origin[1]}; "
                     f"ids must be unique across the library",
                     case_id=case.id, file=case.origin[0], line=case.origin[1])


def check_memory(case: Case, budget: int | None) -> None:
    """Refuse a case whose working set exceeds the budget, before anything allocates it."""
    if budget is not None and case.working_set_bytes > budget:
        raise CaseError(f"needs about {format_bytes(case.working_set_bytes)} of float64 memory to evaluate "
                        f"(input, output, weight, gradients, im2col), over the budget of {format_bytes(budget)} "
                        f"per case; make the case smaller, or raise the budget with --max-case-memory",
                        case_id=case.id, field="input_shape")


def format_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def parse_bytes(text: str) -> int:
    """'512MiB', '2GiB', '1.5G', '4096' (bytes) -> bytes; for --max-case-memory."""
    units = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20,
             "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40}
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in units or float(m.group(1)) <= 0:
        raise UsageError(f"not a memory size: {text!r}; write e.g. 512MiB, 2GiB or a number of bytes")
    return int(float(m.group(1)) * units[m.group(2).lower()])


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (YAML silently keeps the last one)."""

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise CaseError(f"key {key!r} appears twice in one mapping", line=key_node.start_mark.line + 1)
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path) -> tuple:
    """(root node, data) of a YAML file: the node keeps line numbers; errors name file and line."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CaseError(f"cannot read {name}: {exc.strerror}", file=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise CaseError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                        "save the file as UTF-8", file=name, line=line) from None
    loader = None
    try:
        loader = _LineLoader(text)  # reads ahead: a control character fails already here
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    except CaseError as exc:
        raise exc.located(name, exc.line) from None
    except yaml.reader.ReaderError as exc:  # found by fuzzing: a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        raise CaseError(f"not valid YAML: character U+{exc.character:04X} is not allowed in YAML "
                        "(control characters other than tab and newline)", file=name, line=line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise CaseError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                        file=name, line=mark.line + 1 if mark else None) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_file(path, *, errors: list | None = None, memory_budget: int | None = DEFAULT_MEMORY_BUDGET) -> list[Case]:
    """The cases of one file. A problem with the file itself raises `CaseError`; so does a bad case,
    unless `errors` is a list: then each bad case's error is appended to it and the good cases are
    still returned (the pytest plugin reports each bad case as its own failed item)."""
    path = Path(path)
    name = str(path)
    node, data = read_yaml(path)

    if not isinstance(data, dict) or "cases" not in data:
        raise CaseError("a case file is a mapping with a top-level 'cases:' list", file=name, line=1)
    for key in data:
        if key not in FILE_KEYS:
            raise CaseError(f"unknown top-level key {key!r}{did_you_mean(key, FILE_KEYS)}; "
                            f"allowed: {', '.join(FILE_KEYS)}", file=name, line=_key_line(node, key))
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise CaseError("'defaults' must be a mapping of field: value", file=name, line=_key_line(node, "defaults"))
    for key in defaults:
        if key not in FIELDS or key == "id":
            raise CaseError(f"'defaults' cannot set {key!r}{did_you_mean(key, FIELDS)}", file=name,
                            line=_key_line(node, "defaults"))
    entries = data["cases"]
    if not isinstance(entries, list):
        raise CaseError("'cases' must be a list of case mappings", file=name, line=_key_line(node, "cases"))
    lines = item_lines(node, "cases")

    cases = []
    for raw, line in zip(entries, lines):
        try:
            for d in expand_matrix(raw):
                case = Case.from_dict({**defaults, **d} if isinstance(d, dict) else d, origin=(name, line))
                check_memory(case, memory_budget)
                cases.append(case)
        except CaseError as exc:
            if errors is None:
                raise exc.located(name, line) from None
            errors.append(exc.located(name, line))
    return cases


def expand_matrix(raw) -> list:
    """One case dict per combination of the `matrix:` values, with a readable, stable id."""
    if not isinstance(raw, dict) or "matrix" not in raw:
        return [raw]
    case_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    matrix = raw["matrix"]
    if not isinstance(matrix, dict) or not matrix:
        raise CaseError("'matrix' must be a non-empty mapping of field: [values]", case_id=case_id, field="matrix")
    for key, values in matrix.items():
        if key not in FIELDS or key == "id":
            raise CaseError(f"cannot vary {key!r}{did_you_mean(key, FIELDS)}", case_id=case_id, field=f"matrix.{key}")
        if not isinstance(values, list) or not values:
            raise CaseError(f"expected a non-empty list of values, got {values!r}", case_id=case_id,
                            field=f"matrix.{key}")
        if key in raw:
            raise CaseError("this field is set both directly and in 'matrix'; keep one", case_id=case_id,
                            field=f"matrix.{key}")
    count = 1
    for values in matrix.values():
        count *= len(values)
    if count > MAX_MATRIX_CASES:
        raise CaseError(f"expands to {count} cases, more than the {MAX_MATRIX_CASES} one matrix may make; "
                        "split it into several cases", case_id=case_id, field="matrix")
    base = {k: v for k, v in raw.items() if k != "matrix"}
    out = []
    for combo in itertools.product(*matrix.values()):
        d = dict(base)
        d.update(zip(matrix, combo))
        label = ",".join(f"{k}={format_value(v)}" for k, v in zip(matrix, combo))
        d["id"] = f"{base.get('id')}[{label}]"
        out.append(d)
    return out


def format_value(value) -> str:
    """Compact, readable rendering for ids: 2, 3x5, [0,1]x[1,0], same, float16+float32."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return "+".join(value)
        parts = [f"[{','.join(map(str, v))}]" if isinstance(v, (list, tuple)) else format_value(v) for v in value]
        return "x".join(parts)
    return str(value)


def _key_line(root, key) -> int | None:
    if isinstance(root, yaml.MappingNode):
        for k, _ in root.value:
            if getattr(k, "value", None) == key:
                return k.start_mark.line + 1
    return None


def item_lines(root, key) -> list[int]:
    """Line of each item of the top-level list `key` (1-based)."""
    for k, v in root.value:
        if getattr(k, "value", None) == key and isinstance(v, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in v.value]
    return []
