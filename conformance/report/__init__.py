"""The HTML report: a data model built from the results (`model`), rendered by a Jinja2 template (`html`).

    from conformance.report import write_report
    write_report(RunResults.read("results.json"), "report.html", baseline=RunResults.read("base.json"))
"""
from conformance.report.html import render, write_report
from conformance.report.model import ReportModel, build_model

__all__ = ["ReportModel", "build_model", "render", "write_report"]
