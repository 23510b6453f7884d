"""User-facing errors: one clean message naming what is wrong, where, and what is allowed; and
`one_line`, the form of every message a result record keeps."""
from __future__ import annotations

import difflib
import re


class ConformanceError(Exception):
    """Base for every error a user can cause (bad case file, bad option). Printed without traceback."""


class CaseError(ConformanceError):
    """A case (or case file) that does not validate.

    The message names the file and line (when known), the case id and the field.
    """

    def __init__(self, message: str, *, case_id: str | None = None, field: str | None = None,
                 file: str | None = None, line: int | None = None):
        self.reason = message
        self.case_id = case_id
        self.field = field
        self.file = file
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        # file:line: case 'id', field 'name': reason  (the compiler-style location comes first)
        where = []
        if self.case_id:
            where.append(f"case {self.case_id!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if where:
            parts.append(", ".join(where))
        return ": ".join(parts + [self.reason])

    def located(self, file: str, line: int | None) -> "CaseError":
        """The same error with a file and line attached (the loader knows them, the model does not)."""
        return CaseError(self.reason, case_id=self.case_id, field=self.field,
                         file=file, line=line if line is not None else self.line)


class CaseErrors(CaseError):
    """Several bad cases (of one or more files), one line each, so that one run shows them all."""

    def __init__(self, errors: list[CaseError]):
        self.errors = list(errors)
        ConformanceError.__init__(self, "\n".join(str(e) for e in self.errors))
        self.reason, self.case_id, self.field, self.file, self.line = str(self), None, None, None, None

    def lines(self) -> list[str]:
        return [str(e) for e in self.errors]

    def located(self, file: str, line: int | None) -> "CaseErrors":
        return self


class UsageError(ConformanceError):
    """A bad command-line option, unknown framework, unreadable results file, ..."""


def did_you_mean(word: str, choices) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# A terminal escape sequence: CSI (colours, cursor moves: ESC [ ... final byte) or a two-byte ESC x.
# Keras colours its error messages for terminals; in a record they are noise that breaks the
# report, the diff's one-line entries and any grep.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def strip_escapes(text: str) -> str:
    """`text` without terminal escape sequences (its lines kept)."""
    return _ESCAPE.sub("", text)


def one_line(text: str) -> str:
    """A message as a record keeps it: terminal escape codes and control characters out, every run
    of whitespace (newlines included) one space."""
    return " ".join(_CONTROL.sub(" ", strip_escapes(str(text))).split())
