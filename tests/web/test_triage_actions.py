"""Reviewer actions, checked end to end: what the reviewer does on the triage
interface and what the reporter then sees on the reporter interface."""

from __future__ import annotations

import re

import pytest
from triage_support import (
    act_ok,
    clear_header_counts,
    closing,
    page_text,
    post_action,
    queue_row,
    report_by_reference,
    reporter_page,
    reporter_status,
    sign_in_reviewer,
    submit_with_reference,
)

from portal.triage.service import ACKNOWLEDGEMENT


@pytest.fixture
def case(triage_app, reporter_client, database, lead):
    reference, code = submit_with_reference(reporter_client, database, what_happened="He kept sending messages to a colleague")
    client = sign_in_reviewer(triage_app.test_client(), lead)
    return {"reference": reference, "code": code, "client": client}


def test_new_report_shows_received_to_the_reporter(case, reporter_client):
    assert reporter_status(reporter_client, case["code"]) == "Received"


def test_acknowledge_sends_the_standard_message(case, reporter_client, database, lead):
    act_ok(case["client"], case["reference"], "acknowledge")
    report = report_by_reference(database, case["reference"])
    assert report.acknowledged_on is not None
    assert report.stage == "assessing" and report.assignee_id == lead.id
    page = reporter_page(reporter_client, case["code"])
    assert ACKNOWLEDGEMENT in page
    assert "Being assessed" in page
    triage = page_text(case["client"].get(f"/reports/{case['reference']}"))
    assert ACKNOWLEDGEMENT in triage and "Acknowledge receipt" not in triage
    # Only once.
    response = post_action(case["client"], case["reference"], "acknowledge")
    assert response.status_code == 400 and "already been acknowledged" in page_text(response)
    assert page.count(ACKNOWLEDGEMENT) == 1


def test_message_reaches_the_reporter_and_the_reply_comes_back(case, reporter_client):
    text = "Can you tell us roughly when this started? <b>not bold</b> & thanks"
    act_ok(case["client"], case["reference"], "message", {"text": text})
    page = reporter_page(reporter_client, case["code"])
    assert text in page
    raw = reporter_client.get("/follow-up/case").data
    assert b"<b>not bold</b>" not in raw  # escaped, not rendered

    from support import csrf_from

    token = csrf_from(raw)
    response = reporter_client.post("/follow-up/reply", data={"csrf_token": token, "message": "Since about March."},
                                    content_type="multipart/form-data")
    assert response.status_code == 302
    assert "Since about March." in page_text(case["client"].get(f"/reports/{case['reference']}"))


def test_empty_message_is_refused(case, database):
    response = post_action(case["client"], case["reference"], "message", {"text": "   "})
    assert response.status_code == 400
    assert report_by_reference(database, case["reference"]).messages == []


def test_internal_note_is_never_shown_to_the_reporter(case, reporter_client):
    note = "INTERNAL-NOTE-MARKER: subject is a friend of the DCI"
    act_ok(case["client"], case["reference"], "note", {"text": note})
    assert note in page_text(case["client"].get(f"/reports/{case['reference']}"))
    page = reporter_page(reporter_client, case["code"])
    assert "INTERNAL-NOTE-MARKER" not in page and "friend of the DCI" not in page


def test_escalation_and_closure_reasons_stay_internal(case, reporter_client):
    act_ok(case["client"], case["reference"], "categorise", {"category": "other", "priority": "normal"})
    act_ok(case["client"], case["reference"], "escalate", {"route": "safeguarding", "reason": "ESCALATION-REASON-MARKER"})
    act_ok(case["client"], case["reference"], "close", closing("action-taken", "CLOSURE-REASON-MARKER: the subject was given written advice by his superintendent."))
    triage = page_text(case["client"].get(f"/reports/{case['reference']}"))
    assert "ESCALATION-REASON-MARKER" in triage and "CLOSURE-REASON-MARKER" in triage
    page = reporter_page(reporter_client, case["code"])
    assert "ESCALATION-REASON-MARKER" not in page and "CLOSURE-REASON-MARKER" not in page


def test_categorise_stores_and_shows_in_the_queue(case, database):
    act_ok(case["client"], case["reference"], "categorise",
           {"category": "sexual-harassment", "flags": ["on-duty", "repeated"], "priority": "urgent"})
    report = report_by_reference(database, case["reference"])
    assert (report.category, report.risk_flags, report.priority) == ("sexual-harassment", "on-duty,repeated", "urgent")
    assert report.stage == "assessing"
    row = queue_row(case["client"].get("/").data, case["reference"])
    assert "Sexual harassment" in row and "Urgent" in row and "2 risk flags" in row
    # The report page shows the saved values in the form.
    page = page_text(case["client"].get(f"/reports/{case['reference']}"))
    assert 'value="on-duty" checked' in page and 'value="repeated" checked' in page


@pytest.mark.parametrize("data", [
    {"category": "not-a-category", "priority": "normal"},
    {"category": "other", "priority": "extreme"},
    {"category": "other", "priority": "normal", "flags": ["made-up-flag"]},
])
def test_categorise_refuses_values_outside_the_taxonomy(case, database, data):
    response = post_action(case["client"], case["reference"], "categorise", data)
    assert response.status_code == 400
    report = report_by_reference(database, case["reference"])
    assert (report.category, report.risk_flags, report.priority, report.stage) == (None, "", "normal", "new")


@pytest.mark.parametrize("route, reporter_sees", [
    ("professional-standards", "Referred for investigation"),
    ("anti-corruption", "Referred for investigation"),
    ("external-oversight", "Referred for investigation"),
    ("safeguarding", "Referred for investigation"),
    ("management-action", "Being assessed"),
])
def test_escalation_status_seen_by_the_reporter(case, reporter_client, database, route, reporter_sees):
    act_ok(case["client"], case["reference"], "escalate", {"route": route, "reason": "Serious allegation"})
    report = report_by_reference(database, case["reference"])
    assert (report.stage, report.escalation_route) == ("escalated", route)
    assert reporter_status(reporter_client, case["code"]) == reporter_sees
    assert "Serious allegation" in page_text(case["client"].get(f"/reports/{case['reference']}"))  # kept as a note


def test_escalate_needs_a_route_and_a_reason(case, database):
    assert post_action(case["client"], case["reference"], "escalate", {"route": "safeguarding", "reason": ""}).status_code == 400
    assert post_action(case["client"], case["reference"], "escalate", {"route": "nowhere", "reason": "x"}).status_code == 400
    assert report_by_reference(database, case["reference"]).stage == "new"


def test_close_requires_a_category_and_a_reason(case, reporter_client, database):
    response = post_action(case["client"], case["reference"], "close", closing("action-taken"))
    assert response.status_code == 400 and "Categorise the report before closing it." in page_text(response)
    act_ok(case["client"], case["reference"], "categorise", {"category": "discrimination-bullying", "priority": "normal"})
    response = post_action(case["client"], case["reference"], "close", closing("action-taken", ""))
    assert response.status_code == 400 and "Give a reason." in page_text(response)
    response = post_action(case["client"], case["reference"], "close", closing("", "Dealt with"))
    assert response.status_code == 400
    assert report_by_reference(database, case["reference"]).stage == "assessing"

    act_ok(case["client"], case["reference"], "close", closing("no-further-action",
                                                               "No evidence beyond the one account; the unit found nothing more."))
    report = report_by_reference(database, case["reference"])
    assert (report.stage, report.outcome, report.closure_basis) == ("closed", "no-further-action", "not-substantiated")
    assert report.closed_on is not None
    assert reporter_status(reporter_client, case["code"]) == "Closed: no further action"  # the outcome in plain words
    assert "No evidence beyond the one account" in page_text(case["client"].get(f"/reports/{case['reference']}"))


def test_high_risk_no_further_action_needs_a_different_lead(case, triage_app, reporter_client, database, make_reviewer):
    other_lead = make_reviewer("lead2", "lead", receives_new_reports=False)
    client = case["client"]
    reference = case["reference"]
    act_ok(client, reference, "categorise", {"category": "sexual-harassment", "priority": "high"})
    response = act_ok(client, reference, "close", closing("no-further-action"))
    follow = client.get(response.headers["Location"])
    assert "an independent lead must approve" in page_text(follow)
    assert report_by_reference(database, reference).stage == "closure-pending"
    assert reporter_status(reporter_client, case["code"]) == "Being assessed"
    clear_header_counts()
    assert 'id="approvals-link"' not in page_text(client.get("/"))  # nothing awaits the proposer's own approval

    response = post_action(client, reference, "approval", {"decision": "approve"})
    assert response.status_code == 403 and "you proposed this closure" in page_text(response)
    assert report_by_reference(database, reference).stage == "closure-pending"
    # Nor can the proposer get round it by closing again.
    assert post_action(client, reference, "close", closing("action-taken")).status_code == 400

    second = sign_in_reviewer(triage_app.test_client(), other_lead)
    act_ok(second, reference, "approval", {"decision": "approve"})
    report = report_by_reference(database, reference)
    assert (report.stage, report.outcome) == ("closed", "no-further-action")
    assert reporter_status(reporter_client, case["code"]) == "Closed: no further action"


def test_a_second_lead_can_refuse_the_closure(case, triage_app, database, make_reviewer):
    other_lead = make_reviewer("lead2", "lead", receives_new_reports=False)
    client = case["client"]
    reference = case["reference"]
    act_ok(client, reference, "categorise", {"category": "sexual-assault", "priority": "high"})
    act_ok(client, reference, "close", closing("no-further-action"))
    second = sign_in_reviewer(triage_app.test_client(), other_lead)
    response = post_action(second, reference, "approval", {"decision": "refuse", "reason": ""})
    assert response.status_code == 400  # a refusal needs a reason
    act_ok(second, reference, "approval", {"decision": "refuse", "reason": "Speak to the witness first"})
    report = report_by_reference(database, reference)
    assert (report.stage, report.outcome) == ("assessing", None)
    assert "Speak to the witness first" in page_text(client.get(f"/reports/{reference}"))


def test_no_further_action_in_a_low_risk_category_closes_at_once(case, database):
    act_ok(case["client"], case["reference"], "categorise", {"category": "vetting-concern", "priority": "normal"})
    act_ok(case["client"], case["reference"], "close", closing("no-further-action"))
    assert report_by_reference(database, case["reference"]).stage == "closed"


def test_recategorising_to_low_risk_does_not_side_step_the_second_reviewer(case, database):
    client, reference = case["client"], case["reference"]
    act_ok(client, reference, "categorise", {"category": "sexual-harassment", "priority": "high"})
    act_ok(client, reference, "categorise", {"category": "vetting-concern", "priority": "normal"})
    response = post_action(client, reference, "close", closing("no-further-action"))
    assert response.status_code == 400 and "no lead is eligible" in page_text(response)  # the only lead proposed it
    assert report_by_reference(database, reference).stage == "assessing"


def test_reopen(case, reporter_client, database):
    client, reference = case["client"], case["reference"]
    response = post_action(client, reference, "reopen", {"reason": "x"})
    assert response.status_code == 400 and "Only a closed report can be reopened." in page_text(response)
    act_ok(client, reference, "categorise", {"category": "other", "priority": "normal"})
    act_ok(client, reference, "close", closing("referred-elsewhere", "Another force leads: their professional standards department has it.", "referred-body-leads"))
    assert reporter_status(reporter_client, case["code"]) == "Closed: passed to another organisation"
    assert post_action(client, reference, "escalate", {"route": "safeguarding", "reason": "x"}).status_code == 400
    assert post_action(client, reference, "reopen", {"reason": ""}).status_code == 400
    act_ok(client, reference, "reopen", {"reason": "The reporter sent new evidence"})
    report = report_by_reference(database, reference)
    assert (report.stage, report.outcome, report.closed_on) == ("assessing", None, None)
    assert reporter_status(reporter_client, case["code"]) == "Being assessed"
    assert "The reporter sent new evidence" in page_text(client.get(f"/reports/{reference}"))


def test_assign_and_unassign(case, database, lead):
    act_ok(case["client"], case["reference"], "assign", {"assignee": str(lead.id)})
    assert report_by_reference(database, case["reference"]).assignee_id == lead.id
    assert "Lead" in queue_row(case["client"].get("/?assignee=me").data, case["reference"])
    act_ok(case["client"], case["reference"], "assign", {"assignee": ""})
    assert report_by_reference(database, case["reference"]).assignee_id is None


def test_action_on_an_unknown_report_is_404(case):
    assert post_action(case["client"], "R-ZZZZ-ZZZZ", "note", {"text": "x"}).status_code == 404
    assert post_action(case["client"], "x" * 40, "note", {"text": "x"}).status_code == 404


def test_the_reporters_category_is_suggested_and_preselected(triage_app, reporter_client, database, lead):
    """Issue 15: the reporter's own category was neither shown nor pre-selected in triage."""
    reference, _ = submit_with_reference(reporter_client, database, what_happened="He looked up his ex-partner on the PNC",
                                         category="misuse-of-systems")
    client = sign_in_reviewer(triage_app.test_client(), lead)
    page = page_text(client.get(f"/reports/{reference}"))
    assert "Suggested" in page and "The reporter chose “Misuse of police systems or confidential information”." in page
    assert "It is selected below until you save a category." in page
    html = client.get(f"/reports/{reference}").get_data(as_text=True)
    assert re.search(r'<option value="misuse-of-systems"\s+selected>', html)
    act_ok(client, reference, "categorise", {"category": "other", "priority": "normal"})
    html = client.get(f"/reports/{reference}").get_data(as_text=True)
    assert re.search(r'<option value="other"\s+selected>', html) and not re.search(r'<option value="misuse-of-systems"\s+selected>', html)
    assert "It is selected below" not in html  # the reviewer's choice stands; the suggestion is still shown
    assert "The reporter chose" in html
