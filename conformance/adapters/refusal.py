"""What a framework's refusal looks like, declared: the exception it raises and the words it says.

An API refuses a case it cannot express (a keyword it lacks, a combination its argument validation
rejects, a dtype it has no kernel for). Any other exception is a failure: an internal assert, oneDNN's
"could not create a primitive descriptor", an XLA INTERNAL error, a bug in the suite's own code. A
framework raises both kinds with the same catch-all classes (torch's RuntimeError, TensorFlow's
OpError, ONNX Runtime's Fail), so the class alone cannot tell them apart: each path declares its
refusals as an exception class name and a pattern of the message, with where the framework documents
or implements that check. `Adapter.native()` turns a matching exception into `Unsupported` with the
framework's own text; anything else stays an exception, and its records are `error` with its text.

Declared by name, not by class, so that a table of refusals imports no framework (a plugin can
declare its own the same way): a rule names the class or any of its bases (`OpError` matches
TensorFlow's InvalidArgumentError).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    """One way an API refuses: `exception` is the name of the class raised (or of a base class),
    `message` a regular expression found in its text (re.search), `source` where the framework
    documents the limit or implements the check (a link, or a file and function of its source)."""

    exception: str
    message: str
    source: str

    def matches(self, exc: BaseException) -> bool:
        names = {cls.__name__ for cls in type(exc).__mro__}
        return self.exception in names and re.search(self.message, str(exc)) is not None


def refusal_for(exc: BaseException, refusals) -> Refusal | None:
    """The first declared refusal that `exc` is, else None (then it is a failure)."""
    return next((r for r in refusals if r.matches(exc)), None)
