"""Writing output files so that a reader never sees half of one.

Every file the suite writes (results, reports, explored cases) goes through `write_atomic`: the text
goes to a temporary file in the same folder, is flushed to disk, and then replaces the target with
one rename, which POSIX and Windows make atomic within a file system. A run killed mid-write leaves
the previous file or the new one, never a truncated mix.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


CACHE_DIR_VARIABLE = "CONFORMANCE_CACHE_DIR"


def default_cache_dir() -> str:
    """Where the compilers' caches persist between runs: $CONFORMANCE_CACHE_DIR, else
    $XDG_CACHE_HOME/conv-conformance, else ~/.cache/conv-conformance."""
    if os.environ.get(CACHE_DIR_VARIABLE):
        return os.environ[CACHE_DIR_VARIABLE]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "conv-conformance")


def write_atomic(path, content: str | bytes) -> Path:
    """Write `content` (text as UTF-8, or bytes) to `path` atomically, creating parent folders;
    returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; an output file is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
