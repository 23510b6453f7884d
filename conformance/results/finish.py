"""The results of a run as `conformance run`, the pytest plugin and `conformance explore` write them."""
from __future__ import annotations

from conformance.results.known import KnownDifference, stale_entries
from conformance.results.records import Result, RunResults


def finish_run(records: list[Result], environment: dict, skipped: list[dict], cases: dict,
               known: list[KnownDifference], partial: str | None = None) -> RunResults:
    """The run's records (known differences already applied), with the case table `cases` (case id
    -> `spec.select.case_table`'s row) and the entries of `known` that went stale.

    `partial` says why a run stopped early (the environment may already say so): such a run names
    no stale entry, since what did not run could not have matched.
    """
    if partial:
        environment = {**environment, "partial": partial}
    features = {case_id: row.get("features", ()) for case_id, row in cases.items()}
    stale = [] if environment.get("partial") else stale_entries(records, known, features, environment)
    return RunResults(results=list(records), environment=environment, skipped=skipped, stale_known=stale,
                      cases=cases)
