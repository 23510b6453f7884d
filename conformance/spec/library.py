"""Where the default case library and its known differences are, wherever the suite runs from.

An installed wheel carries the repository's `cases/` as the package `conformance/library/`
(pyproject.toml maps one onto the other), so that a framework team can run the suite as a gate in
its own CI without the repository. A source checkout, or an editable install of it, has no such
folder: there the library is `cases/` beside the package.
"""
from __future__ import annotations

from pathlib import Path

from conformance.errors import UsageError

PACKAGE = Path(__file__).resolve().parent.parent
KNOWN_FILE = "known_differences.yaml"


def library_folder() -> Path:
    """The folder of the default case files: the installed package's, else the checkout's."""
    installed = PACKAGE / "library"
    return installed if installed.is_dir() else PACKAGE.parent / "cases"


def default_cases() -> str:
    return shown(library_folder())


def default_known() -> str:
    return shown(library_folder() / KNOWN_FILE)


def shown(path: Path) -> str:
    """The path relative to the working folder where it lies under it (`cases` in the repository,
    as the records and reports have always named it), else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def known_path(value: str, option: str = "--known") -> Path | None:
    """The known-differences file an option names; None for 'none'. A file that is not there is an
    error, never a run without known differences that nobody asked for."""
    if value == "none":
        return None
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"{option}: no such file: {value} (name a known-differences file, or pass "
                         f"'{option} none' to run without known differences)")
    return path
