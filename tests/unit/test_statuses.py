"""Statuses in plain words (issue 15): every status and outcome a reporter can see is explained, in
one place (portal/reports/statuses.py), and "closed" says whether information can still be added."""

from __future__ import annotations

import pytest
from flask import Flask

from portal import i18n
from portal.reports.models import Report, ReportStatus
from portal.reports.statuses import every_status, report_status, status_text
from portal.triage.vocabulary import Outcome, Route, Stage


@pytest.fixture(autouse=True)
def _request_context():
    app = Flask(__name__)
    i18n.init_app(app)
    with app.test_request_context("/"):
        yield


def test_every_status_and_outcome_has_its_own_title_and_explanation():
    texts = every_status()
    assert len(texts) == len(ReportStatus) - 1 + len(Outcome) + 1
    assert len({t.title for t in texts}) == len(texts), "two statuses read the same"
    assert len({t.explanation for t in texts}) == len(texts)
    for text in texts:
        assert text.title and len(text.explanation) > 60 and text.next_step


def test_closed_reads_differently_for_action_taken_and_no_further_action():
    action = status_text(ReportStatus.CLOSED, Outcome.ACTION_TAKEN.value)
    nothing = status_text(ReportStatus.CLOSED, Outcome.NO_FURTHER_ACTION.value)
    assert action.title == "Closed: action taken" and nothing.title == "Closed: no further action"
    for closed in (action, nothing, status_text(ReportStatus.CLOSED)):
        assert "You can still add new information" in closed.next_step
        assert "reopen" in closed.next_step


def test_referred_says_what_it_means_for_anonymity():
    referred = status_text(ReportStatus.REFERRED)
    assert referred.title == "Referred for investigation"
    assert "This does not identify you" in referred.explanation


@pytest.mark.parametrize(("stage", "route", "outcome", "key"), [
    (Stage.NEW, None, None, "received"),
    (Stage.ASSESSING, None, None, "assessing"),
    (Stage.ESCALATED, Route.MANAGEMENT_ACTION, None, "assessing"),
    (Stage.ESCALATED, Route.SAFEGUARDING, None, "referred"),
    (Stage.CLOSURE_PENDING, None, Outcome.NO_FURTHER_ACTION, "assessing"),  # not closed until approved
    (Stage.CLOSED, None, Outcome.REFERRED_ELSEWHERE, "closed-referred-elsewhere"),
    (Stage.CLOSED, None, None, "closed"),
])
def test_a_report_is_told_its_status(stage, route, outcome, key):
    report = Report(stage=stage, escalation_route=route, outcome=outcome, referral_status=None, routed_to=None)
    report.reporter_status = report.reporter_status_value  # what the database computes (test_reporter_status.py)
    assert report_status(report).key == key
