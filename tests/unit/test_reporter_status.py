"""The status the reporter host reads (reports.reporter_status, computed by the database) is the one
the workflow gives (Report.coarse_status), for every stage and route: the reporter role may not read
stage or route, so the two must never disagree."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from portal.reports.models import Report, _reporter_status_sql
from portal.triage.vocabulary import Route, Stage

CASES = list(itertools.product(list(Stage), [None, *Route]))


@pytest.mark.parametrize(("stage", "route"), CASES)
def test_the_database_computes_the_status_the_workflow_gives(stage, route):
    report = Report(stage=stage.value, escalation_route=route.value if route else None)
    with sqlite3.connect(":memory:") as connection:
        computed = connection.execute(f"SELECT {_reporter_status_sql()} FROM (SELECT ? AS stage, ? AS escalation_route)",  # noqa: S608
                                      (report.stage, report.escalation_route)).fetchone()[0]
    assert computed == report.coarse_status.value
