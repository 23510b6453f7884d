"""Render a `ReportModel` as one self-contained HTML file (CSS and script inline, nothing fetched).

Jinja2 with autoescaping on renders every value from the results as text; the data the page's
script needs travels as JSON compressed with gzip in base64 (`model.pack_json`: no `<` or `&` can
occur in it) inside a `<script type="application/octet-stream">` block, and the script builds the
detail view with DOM calls (`textContent`) and never parses data as HTML.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from conformance.files import write_atomic
from conformance.results.records import RunResults
from conformance.report.model import ReportModel, build_model, pack_json

HERE = Path(__file__).parent
TEMPLATE = "report.html.j2"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


@lru_cache(maxsize=None)
def _static(name: str) -> Markup:
    """Our own CSS or script file, inlined as is (trusted: it ships with the package, no data in it)."""
    text = (HERE / "static" / name).read_text(encoding="utf-8")
    if "</" in text:  # would end the <style>/<script> element early
        raise ValueError(f"report/static/{name} must not contain '</'")
    return Markup(text)


def render(model: ReportModel) -> str:
    """The report as one HTML string; the same model always gives the same string."""
    template = _environment().get_template(TEMPLATE)
    return template.render(m=model, data=pack_json(model.script_data()), css=_static("report.css"), js=_static("report.js"))


def write_report(results: RunResults, path, baseline: RunResults | None = None, *,
                 title: str = "Convolution conformance report",
                 tags: Mapping[str, Iterable[str]] | None = None, allow: Iterable[str] = ()) -> Path:
    """Build the model, render it and write it to `path` atomically (parent folders created).
    `allow`: the --allow words, the regressions the comparison with the baseline lets through."""
    return write_atomic(path, render(build_model(results, baseline, title=title, tags=tags, allow=allow)))
