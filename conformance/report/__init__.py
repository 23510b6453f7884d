"""The HTML report: a data model built from the results (`model`), rendered by a Jinja2 template (`html`).

    from conformance.report.html import write_report
    write_report(RunResults.read("results.json"), "report.html", baseline=RunResults.read("base.json"))

Nothing is imported here, so that the terminal text (`text`) does not import Jinja.
"""
