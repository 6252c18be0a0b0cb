"""The status the reporter host reads (reports.reporter_status, computed by the database) is the one
the workflow gives (Report.coarse_status), for every stage and route: the reporter role may not read
stage or route, so the two must never disagree."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from portal.reports.models import Report, _reporter_status_sql
from portal.reports.statuses import report_status
from portal.triage.vocabulary import Outcome, Route, Stage

CASES = list(itertools.product(list(Stage), [None, *Route]))
# Referral (0013), routing (0014) and outcome (closed reports) on top of stage and route.
EXTRAS = [dict(referral_status=r, referred_to_independent=i, routed_to=t, outcome=o)
          for r, i in ((None, False), ("sent", False), ("sent", True), ("acknowledged", True))
          for t in (None, "iopc") for o in (None, *(x.value for x in Outcome))]


def _computed(report: Report) -> str:
    columns = ("stage", "escalation_route", "referral_status", "referred_to_independent", "routed_to", "outcome")
    with sqlite3.connect(":memory:") as connection:
        select = ", ".join(f"? AS {c}" for c in columns)
        return connection.execute(f"SELECT {_reporter_status_sql()} FROM (SELECT {select})",  # noqa: S608
                                  [getattr(report, c) for c in columns]).fetchone()[0]


@pytest.mark.parametrize(("stage", "route"), CASES)
def test_the_database_computes_the_status_the_workflow_gives(stage, route):
    for extra in EXTRAS:
        report = Report(stage=stage.value, escalation_route=route.value if route else None, **extra)
        computed = _computed(report)
        assert computed == report.reporter_status_value, (stage, route, extra)
        # What the reporter host reads back from the column says the same as the workflow.
        report.reporter_status = computed
        assert report.status_for_reporter == report.coarse_status
        if report.coarse_status.value == "closed":
            assert report.outcome_for_reporter == (extra["outcome"] or None)


def test_a_closed_report_tells_the_reporter_its_outcome_and_a_routed_one_where_it_went():
    closed = Report(stage=Stage.CLOSED.value, outcome=Outcome.NO_FURTHER_ACTION.value, referral_status=None,
                    referred_to_independent=False, routed_to=None, escalation_route=None)
    closed.reporter_status = _computed(closed)
    assert closed.reporter_status == "closed:no-further-action"
    assert report_status(closed).key == "closed-no-further-action"
    routed = Report(stage=Stage.NEW.value, routed_to="iopc", referral_status=None, referred_to_independent=False,
                    outcome=None, escalation_route=None)
    routed.reporter_status = _computed(routed)
    assert routed.reporter_status == "routed" and report_status(routed).key == "routed"
