"""How a results file lies on disk: each long text stored once, one record a line, gzip when asked.

A unit (case x target x precision x dtype) writes up to seven records, and each carries the same
native call; a crashed unit's records carry the same stderr tail and rerun command. Version 2 of
the file keeps every such text once, in a top-level `texts` table keyed by a content id (a prefix
of its SHA-256), and a record names it in `<field>_ref`. A content id, unlike a counter or the unit
key, stays the same when other records come or go, so two runs' files differ only where their
records do, and units whose calls are identical (the same call under both precision profiles)
share one entry. Reading restores every record's text exactly; the records in memory are the same
as those of a version-1 file, where each record holds its texts.

A path ending in `.gz` is written as gzip, with no file name and mtime 0 in its header, so the
same results give the same bytes; reading recognises gzip by its magic bytes whatever the name.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib

from conformance.errors import UsageError

SHARED_TEXTS = ("call", "rerun", "stderr")  # record fields whose text repeats across records
REF_SUFFIX = "_ref"
ID_LENGTH = 12  # hex digits of SHA-256; a collision (never seen) falls back to the full digest
GZIP_MAGIC = b"\x1f\x8b"
GZIP_LEVEL = 9  # the file is written once per run and read many times: the smallest output


def text_id(text: str, length: int | None = None) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length or ID_LENGTH]


def store_texts_once(records: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """The records with each shared text replaced by `<field>_ref`, and the table id -> text (sorted)."""
    texts: dict[str, str] = {}
    ids: dict[str, str] = {}  # text -> its id
    out = []
    for record in records:
        record = dict(record)
        for name in SHARED_TEXTS:
            if isinstance(record.get(name), str):
                text = record.pop(name)
                if text not in ids:
                    ids[text] = _free_id(text, texts)
                    texts[ids[text]] = text
                record[name + REF_SUFFIX] = ids[text]
        out.append(record)
    return out, dict(sorted(texts.items()))


def _free_id(text: str, texts: dict) -> str:
    short = text_id(text)
    return short if short not in texts else text_id(text, 64)


def restore_texts(records: list, texts, source: str) -> list:
    """The records with every `<field>_ref` replaced by its text from the table."""
    if not isinstance(texts, dict):
        raise UsageError(f"{source}: 'texts' must be an object (content id -> text), got {type(texts).__name__}")
    out = []
    for number, record in enumerate(records, 1):
        if isinstance(record, dict) and any(name + REF_SUFFIX in record for name in SHARED_TEXTS):
            record = dict(record)
            for name in SHARED_TEXTS:
                ref = record.pop(name + REF_SUFFIX, None)
                if ref is not None:
                    if ref not in texts:
                        raise UsageError(f"{source}: result {number} ({record.get('case')}): {name}{REF_SUFFIX} "
                                         f"{ref!r} is not in the file's 'texts' table")
                    record[name] = texts[ref]
        out.append(record)
    return out


def dump(head: dict, records: list[dict], texts: dict[str, str]) -> str:
    """The file's text: the head indented as before, then one record a line (a changed record is a
    changed line in a diff), then the texts table, one text a line."""
    lines = ["{"]
    for name, value in head.items():
        lines.append(f" {json.dumps(name)}: {json.dumps(value, indent=1).replace(chr(10), chr(10) + ' ')},")
    lines.append(' "results": [' + _rows([json.dumps(r) for r in records], " ]") + ",")
    lines.append(' "texts": {' + _rows([f"{json.dumps(k)}: {json.dumps(v)}" for k, v in texts.items()], " }"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _rows(rows: list[str], close: str) -> str:
    return "\n" + ",\n".join("  " + row for row in rows) + "\n" + close if rows else close.strip()


def encode(text: str, path) -> bytes:
    """The bytes of a results file: gzip when the name ends in `.gz` (deterministic), else UTF-8."""
    data = text.encode("utf-8")
    if not str(path).endswith(".gz"):
        return data
    buffer = io.BytesIO()
    # GzipFile, not gzip.compress: its header names no operating system (0xff) where gzip.compress
    # may let zlib write the platform's, so the header is the same on every machine.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=GZIP_LEVEL, mtime=0) as f:
        f.write(data)
    return buffer.getvalue()


def decode(data: bytes, path) -> str:
    """The text of a results file, gunzipped when it starts with gzip's magic bytes."""
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise UsageError(f"{path}: not a readable gzip file ({exc}); results are written as .json or .json.gz "
                             "by `conformance run --json` and `conformance merge -o`") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a results file (not UTF-8 text, nor gzip: {exc.reason})") from None


def is_record_stream(path) -> bool:
    """`<results>.partial.jsonl` (or a gzipped copy of one): records, one a line, without a head."""
    name = str(path)
    return name.removesuffix(".gz").endswith(".jsonl")
