"""Issue 13, the workflow half: a reviewer who wants a report buried cannot close it alone.

Each test is one way a handler tried it on the old code (recategorise then close, close under
another outcome, a throw-away reason, approve through an account they made) or one thing the
second lead could not see (the waiting approval, the proposer's approve form, the banner).
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select
from triage_support import (
    CLOSE_REASON,
    STRONG_PASSPHRASE,
    act_ok,
    clear_header_counts,
    closing,
    enter_code,
    enter_passphrase,
    page_text,
    post_action,
    queue_row,
    read,
    report_by_reference,
    reporter_page,
    seed_report,
    sign_in_reviewer,
    token_for,
)

from portal.instance import read_secret
from portal.reports.models import KeyWrap
from portal.triage.audit import AuditEntry
from portal.triage.models import Conflict
from portal.triage.service import ACKNOWLEDGEMENT
from portal.triage.subjects import subject_values
from portal.triage.vocabulary import OUTCOMES

OWN_PASSPHRASE = "tangerine-harbour-glacier-violin-mosaic"


@pytest.fixture
def team(triage_app, lead, make_reviewer):
    """The lead who proposes, a second lead (outside the intake pool), a non-lead reviewer."""
    return {"lead": lead, "lead2": make_reviewer("lead2", "lead", receives_new_reports=False),
            "rev": make_reviewer("rev", "reviewer")}


def _wraps(database, reference: str, account) -> int:
    report = report_by_reference(database, reference)
    return read(database, lambda s: s.scalar(select(func.count()).select_from(KeyWrap).where(
        KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == account.fingerprint)))


def _actions(database, reference: str) -> list[tuple[str, str]]:
    return read(database, lambda s: [(e.actor, e.action) for e in s.scalars(
        select(AuditEntry).where(AuditEntry.report_ref == reference).order_by(AuditEntry.seq))])


# -- what makes a report high-risk: its whole history, and the reporter too ---------------------


def test_reporter_marked_risk_survives_a_recategorisation_to_other(triage_app, team, database, instance_dir):
    """The issue's first finding: sexual assault, someone at risk now and a vulnerable person, as the
    reporter said; a non-lead recategorises it "other" and closes it "no further action" alone."""
    reference, _ = seed_report(database, instance_dir, "He assaulted a detainee", category="sexual-assault",
                               risk_now="yes", vulnerable_person="yes")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "other", "priority": "normal"})
    act_ok(rev, reference, "close", closing("no-further-action"))
    report = report_by_reference(database, reference)
    assert report.stage == "closure-pending" and report.closed_on is None
    assert report.ever_high_risk


@pytest.mark.parametrize("answers", [
    {"category": "sexual-abuse-of-position"},  # the reporter's own category
    {"vulnerable_person": "yes"},  # only in the sealed answers: read when the session closes it
    {"risk_now": "yes"},
])
def test_each_reporter_answer_alone_needs_approval(triage_app, team, database, instance_dir, answers):
    reference, _ = seed_report(database, instance_dir, "A concern", **answers)
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "vetting-concern", "priority": "normal"})
    act_ok(rev, reference, "close", closing("no-further-action"))
    assert report_by_reference(database, reference).stage == "closure-pending"


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_every_outcome_of_a_high_risk_report_needs_approval(triage_app, team, database, instance_dir, outcome):
    """The issue's second finding: "referred elsewhere" (or any outcome) went through alone."""
    reference, _ = seed_report(database, instance_dir, "A concern")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "sexual-harassment", "priority": "normal"})
    act_ok(rev, reference, "close", closing(outcome, basis="referred-body-leads"))
    report = report_by_reference(database, reference)
    assert (report.stage, report.outcome, report.closure_basis) == ("closure-pending", outcome, "referred-body-leads")


def test_a_risk_flag_cleared_again_still_counts(triage_app, team, database, instance_dir):
    reference, _ = seed_report(database, instance_dir, "A concern")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "other", "flags": ["ongoing-risk"], "priority": "normal"})
    act_ok(rev, reference, "categorise", {"category": "other", "priority": "normal"})
    assert report_by_reference(database, reference).risk_flags == ""
    act_ok(rev, reference, "close", closing("action-taken", basis="action-completed"))
    assert report_by_reference(database, reference).stage == "closure-pending"


def test_a_report_never_flagged_closes_at_once(triage_app, team, database, instance_dir):
    reference, _ = seed_report(database, instance_dir, "A concern", risk_now="no", vulnerable_person="unsure")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "vetting-concern", "flags": ["on-duty"], "priority": "normal"})
    act_ok(rev, reference, "close", closing("no-further-action"))
    report = report_by_reference(database, reference)
    assert report.stage == "closed" and not report.ever_high_risk


@pytest.mark.parametrize("form, message", [
    ({"outcome": "referred-elsewhere", "basis": "referred-body-leads", "reason": "x"}, "at least 40 characters"),
    ({"outcome": "referred-elsewhere", "basis": "referred-body-leads", "reason": "   " + "x" * 39 + "   "}, "at least 40"),
    ({"outcome": "referred-elsewhere", "reason": CLOSE_REASON}, "basis for closing"),
    ({"outcome": "referred-elsewhere", "basis": "because-i-said-so", "reason": CLOSE_REASON}, "Not a valid choice"),
])
def test_a_closure_needs_a_reason_of_substance(triage_app, team, database, instance_dir, form, message):
    reference, _ = seed_report(database, instance_dir, "A concern")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "vetting-concern", "priority": "normal"})
    response = post_action(rev, reference, "close", form)
    assert response.status_code == 400 and message in page_text(response)
    assert report_by_reference(database, reference).stage == "assessing"


# -- the proposal reaches independent leads, and only them ----------------------------------------


def test_proposal_wraps_the_key_to_independent_leads_and_waits_in_their_queue(triage_app, team, database, instance_dir):
    reference, _ = seed_report(database, instance_dir, "A concern")
    assert _wraps(database, reference, team["lead2"]) == 0  # outside the intake pool
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "sexual-assault", "priority": "high"})
    response = act_ok(rev, reference, "close", closing("no-further-action"))

    banner = page_text(rev.get(response.headers["Location"]))
    assert "Closure proposed, not yet closed" in banner and "Lead2 (lead2)" in banner
    assert "Closure recorded" not in banner and 'id="flash-title">Done' not in banner  # no "Done" beside "must approve"
    assert "Approve closure" not in banner and "/approval" not in banner  # never an approve form for the proposer
    assert _wraps(database, reference, team["lead2"]) == 1

    clear_header_counts()
    second = sign_in_reviewer(triage_app.test_client(), team["lead2"])
    queue = second.get("/").data
    assert "Awaiting your approval" in queue_row(queue, reference)
    assert re.search(r'id="approvals-link"[^>]*>Awaiting your approval <span class="portal-badge">1<', page_text(second.get("/")))
    assert [reference] == re.findall(r"R-[0-9A-Z-]+", queue_row(second.get("/?attention=approval").data, reference))[:1]
    page = page_text(second.get(f"/reports/{reference}"))
    assert "It is awaiting your approval" in page and "/approval" in page
    act_ok(second, reference, "approval", {"decision": "approve"})
    assert report_by_reference(database, reference).stage == "closed"
    actions = _actions(database, reference)
    assert ("rev", "report.closure-requested") in actions and ("lead2", "report.closure-approved") in actions


def test_a_conflicted_lead_is_not_given_the_report(triage_app, team, database, instance_dir):
    blind = read_secret(instance_dir, "blind_index_key")
    reference, _ = seed_report(database, instance_dir, "A concern", people=[{"name": "Harold Examplename"}])
    with database.transaction() as session:  # lead2 declared a conflict with the subject
        for kind, value in subject_values(blind, "Harold Examplename", ""):
            session.add(Conflict(reviewer_id=team["lead2"].id, kind=kind, value=value))
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    rev.get(f"/reports/{reference}")  # indexes its subjects
    act_ok(rev, reference, "categorise", {"category": "sexual-assault", "priority": "high"})
    act_ok(rev, reference, "close", closing("no-further-action"))
    assert _wraps(database, reference, team["lead2"]) == 0
    assert _wraps(database, reference, team["lead"]) == 1  # the other lead (in the intake pool) decides


def test_with_no_independent_lead_the_closure_is_refused_not_waved_through(triage_app, lead, database, instance_dir):
    reference, _ = seed_report(database, instance_dir, "A concern", risk_now="yes")
    client = sign_in_reviewer(triage_app.test_client(), lead)
    act_ok(client, reference, "categorise", {"category": "other", "priority": "normal"})
    response = post_action(client, reference, "close", closing("referred-elsewhere"))
    assert response.status_code == 400 and "no lead is eligible" in page_text(response)
    assert report_by_reference(database, reference).stage == "assessing"


def test_closing_an_unacknowledged_report_acknowledges_it_first(triage_app, reporter_client, team, database, instance_dir):
    reference, code = seed_report(database, instance_dir, "A concern")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "vetting-concern", "priority": "normal"})
    assert report_by_reference(database, reference).acknowledged_on is None
    act_ok(rev, reference, "close", closing("no-further-action"))
    report = report_by_reference(database, reference)
    assert report.acknowledged_on is not None and report.stage == "closed"
    assert ACKNOWLEDGEMENT in reporter_page(reporter_client, code)
    assert [a for _, a in _actions(database, reference)][-2:] == ["report.acknowledged", "report.closed"]


# -- approvers independent of the proposer ---------------------------------------------------------


def _create_and_take_over(triage_app, creator_client, login: str, name: str, role: str = "lead"):
    """The attack: a lead creates an account and signs in to it themselves (they chose its first passphrase)."""
    import pyotp

    response = creator_client.post("/admin/reviewers", data={
        "csrf_token": token_for(creator_client, "/admin/reviewers"), "login": login, "display_name": name,
        "role": role, "passphrase": STRONG_PASSPHRASE})
    assert response.status_code == 200 and "Reviewer created" in page_text(response), page_text(response)[-800:]
    assert "portal-secret" not in page_text(response) and "qr.svg" not in page_text(response)  # creator never sees the TOTP
    client = triage_app.test_client()
    assert enter_passphrase(client, login, STRONG_PASSPHRASE).status_code == 302
    secret = re.search(r'class="portal-secret">([A-Z2-7]+)<', page_text(client.get("/login/code"))).group(1)
    assert enter_code(client, pyotp.TOTP(secret).now()).status_code == 302
    chosen = client.post("/account", data={"csrf_token": token_for(client, "/account"), "current": STRONG_PASSPHRASE,
                                           "new": OWN_PASSPHRASE, "confirm": OWN_PASSPHRASE})
    assert chosen.status_code == 302
    return client


def test_an_account_the_proposer_created_cannot_approve(triage_app, team, database, instance_dir):
    """The issue's third finding, without the look-alike name (refused below): the lead's own creation."""
    lead_client = sign_in_reviewer(triage_app.test_client(), team["lead"])
    puppet = _create_and_take_over(triage_app, lead_client, "second-lead", "Second Lead Person")
    reference, _ = seed_report(database, instance_dir, "A concern", risk_now="yes")
    act_ok(lead_client, reference, "categorise", {"category": "other", "priority": "normal"})
    act_ok(lead_client, reference, "close", closing("no-further-action"))
    # Not given the report; and granted it by hand, still no approve form and a 403.
    assert "second-lead" not in str(read(database, lambda s: s.scalar(select(AuditEntry.detail).where(
        AuditEntry.action == "report.closure-requested"))))
    from portal.triage.models import Reviewer

    target = read(database, lambda s: s.scalar(select(Reviewer.id).where(Reviewer.login == "second-lead")))
    act_ok(lead_client, reference, "access/grant", {"reviewer": str(target)})
    page = page_text(puppet.get(f"/reports/{reference}"))
    assert "/approval" not in page
    response = post_action(puppet, reference, "approval", {"decision": "approve"})
    assert response.status_code == 403 and "created or reset your account" in page_text(response)
    assert report_by_reference(database, reference).stage == "closure-pending"


def test_an_account_the_proposer_reset_cannot_approve_within_the_period(build_triage, team, database, instance_dir):
    app = build_triage()
    lead_client = sign_in_reviewer(app.test_client(), team["lead"])
    response = lead_client.post(f"/admin/reviewers/{team['lead2'].id}/reset",
                                data={"csrf_token": token_for(lead_client, "/admin/reviewers")})
    assert "data-temporary-passphrase" in page_text(response)  # the resetting lead sees the temporary passphrase,
    assert "portal-secret" not in page_text(response) and "qr.svg" not in page_text(response)  # never the TOTP secret
    reference, _ = seed_report(database, instance_dir, "A concern", risk_now="yes")
    act_ok(lead_client, reference, "categorise", {"category": "other", "priority": "normal"})
    response = post_action(lead_client, reference, "close", closing("no-further-action"))
    assert response.status_code == 400 and "no lead is eligible" in page_text(response)  # lead2 is not independent

    # The period is a setting: with 0 days, the reset no longer ties lead2 to the proposer.
    relaxed = build_triage(approver_independence_days=0)
    relaxed_client = sign_in_reviewer(relaxed.test_client(), team["lead"])
    act_ok(relaxed_client, reference, "close", closing("no-further-action"))
    assert report_by_reference(database, reference).stage == "closure-pending"
    detail = read(database, lambda s: s.scalar(select(AuditEntry.detail).where(AuditEntry.action == "report.closure-requested")))
    assert json.loads(detail)["approvers"] == ["lead2"]


def test_history_shows_logins_beside_display_names(triage_app, team, database, instance_dir):
    reference, _ = seed_report(database, instance_dir, "A concern", risk_now="yes")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "other", "priority": "normal"})
    act_ok(rev, reference, "close", closing("no-further-action"))
    second = sign_in_reviewer(triage_app.test_client(), team["lead2"])
    act_ok(second, reference, "approval", {"decision": "approve"})
    history = page_text(second.get(f"/reports/{reference}")).split('id="history"')[1]
    assert re.search(r"Rev <span class=\"portal-login\">\(rev\)</span>.*closure requested", history, re.S)
    assert re.search(r"Lead2 <span class=\"portal-login\">\(lead2\)</span>.*closure approved", history, re.S)


# -- signals in the queue ------------------------------------------------------------------------------


def _reply(reporter_client, code: str, text: str) -> None:
    from support import csrf_from, sign_in

    reporter_client.delete_cookie("portal_followup", domain="localhost", path="/")
    assert sign_in(reporter_client, code).status_code == 302
    token = csrf_from(reporter_client.get("/follow-up/case").data)
    response = reporter_client.post("/follow-up/reply", data={"csrf_token": token, "message": text},
                                    content_type="multipart/form-data")
    assert response.status_code == 302


def test_an_unread_reply_is_marked_and_counted_until_the_assignee_reads_it(triage_app, reporter_client, team, database,
                                                                           instance_dir):
    reference, code = seed_report(database, instance_dir, "A concern")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "acknowledge")  # assigns it to rev
    _reply(reporter_client, code, "I have remembered the date: 3 March.")
    clear_header_counts()
    lead = sign_in_reviewer(triage_app.test_client(), team["lead"])
    assert "Reporter replied: unread" in queue_row(lead.get("/").data, reference)
    assert re.search(r'id="unread-link"[^>]*>Unread replies <span class="portal-badge">1<', page_text(lead.get("/")))
    lead.get(f"/reports/{reference}")  # someone else reading it does not clear the assignee's signal
    assert report_by_reference(database, reference).reporter_unread
    rev.get(f"/reports/{reference}")
    assert not report_by_reference(database, reference).reporter_unread
    clear_header_counts()
    assert "Reporter replied: unread" not in queue_row(lead.get("/").data, reference)
    assert 'id="unread-link"' not in page_text(lead.get("/"))


@pytest.mark.parametrize("decision", ["reopen", "stays-closed"])
def test_a_reply_after_closure_needs_a_decision(triage_app, reporter_client, team, database, instance_dir, decision):
    reference, code = seed_report(database, instance_dir, "A concern")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "vetting-concern", "priority": "normal"})
    act_ok(rev, reference, "close", closing("no-further-action"))
    _reply(reporter_client, code, "It has started again, this week.")
    report = report_by_reference(database, reference)
    assert report.stage == "closed" and report.new_information
    clear_header_counts()
    assert "New information after closure" in queue_row(rev.get("/").data, reference)
    assert 'id="new-information-link"' in page_text(rev.get("/"))
    assert reference in page_text(rev.get("/?attention=new-information"))
    page = page_text(rev.get(f"/reports/{reference}"))
    assert "The reporter wrote after this report was closed" in page
    assert post_action(rev, reference, "new-information", {"decision": decision, "reason": ""}).status_code == 400
    act_ok(rev, reference, "new-information", {"decision": decision,
                                                   "reason": "Read the new message with the unit: it repeats what was already looked at."})
    report = report_by_reference(database, reference)
    assert not report.new_information
    assert report.stage == ("assessing" if decision == "reopen" else "closed")
    expected = "report.reopened" if decision == "reopen" else "report.new-information-reviewed"
    assert _actions(database, reference)[-1] == ("rev", expected)
    assert "The reporter wrote after this report was closed" not in page_text(rev.get(f"/reports/{reference}"))


def test_deadline_label_follows_acknowledgement_not_stage(triage_app, team, database, instance_dir):
    """Categorised but never acknowledged: the 7-day date is an acknowledgement deadline."""
    reference, _ = seed_report(database, instance_dir, "A concern")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "vetting-concern", "priority": "normal"})
    report = report_by_reference(database, reference)
    assert report.stage == "assessing"
    due = (report.received_on + dt.timedelta(days=7)).strftime("%-d %b")
    row = queue_row(rev.get("/").data, reference)
    assert f"Acknowledge by {due}" in row and "Feedback by" not in row
    act_ok(rev, reference, "acknowledge")
    row = queue_row(rev.get("/").data, reference)
    assert f"Feedback by {(report.received_on + dt.timedelta(days=90)).strftime('%-d %b')}" in row


# -- look-alike accounts -----------------------------------------------------------------------------


@pytest.mark.parametrize("login, name, message", [
    ("lеad2", "Another Person", "lower-case letters a-z"),  # Cyrillic е: the account
    ("lead-2", "Another Person", "looks too much like the existing account lead2"),
    ("lead2x", "Lеad2", "looks like, the name of the existing account lead2"),  # copied display name, Cyrillic е
    ("lead2x", "LEAD 2", "looks like, the name of the existing account lead2"),
    ("ieadz", "Someone Else", None),  # different enough: accepted
])
def test_look_alike_logins_and_display_names_are_refused(triage_app, team, database, login, name, message):
    from portal.triage.models import Reviewer

    client = sign_in_reviewer(triage_app.test_client(), team["lead"])
    response = client.post("/admin/reviewers", data={"csrf_token": token_for(client, "/admin/reviewers"), "login": login,
                                                     "display_name": name, "role": "lead", "passphrase": STRONG_PASSPHRASE})
    count = read(database, lambda s: s.scalar(select(func.count()).select_from(Reviewer)))
    if message is None:
        assert response.status_code == 200 and "Reviewer created" in page_text(response) and count == 4
    else:
        assert response.status_code == 400 and message in page_text(response), page_text(response)[-600:]
        assert count == 3
        assert name in page_text(response)  # what the lead typed is kept


def test_the_digest_counts_replies_and_new_information(triage_app, reporter_client, team, database, instance_dir):
    from portal.config import load_settings
    from portal.triage.oversight import digests

    reference, code = seed_report(database, instance_dir, "A concern")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "vetting-concern", "priority": "normal"})
    act_ok(rev, reference, "close", closing("no-further-action"))
    _reply(reporter_client, code, "There is more: he did it again.")
    settings = load_settings({"instance_dir": str(instance_dir), "database_url": database.engine.url.render_as_string(False)})
    with database.transaction() as session:
        by_login = {d.reviewer.login: d.text() for d in digests(session, settings)}
    assert "Closed reports with new information from the reporter, awaiting a decision: 1" in by_login["rev"]
    assert "Reports with a reply from the reporter not yet read: 1" in by_login["rev"]  # assigned to rev
    assert "reply from the reporter" not in by_login["lead"]  # not the lead's to read
