"""Issue 13, what an attacker who did not write it found after the first fix (a helper given only
the running instance and the docs): each test is one way they buried a high-risk report alone."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from test_closure_rules import _create_and_take_over
from triage_support import (
    act_ok,
    closing,
    page_text,
    post_action,
    report_by_reference,
    seed_report,
    sign_in_reviewer,
)

from portal.triage.models import Reviewer


@pytest.fixture
def team(triage_app, lead, make_reviewer):
    return {"lead": lead, "lead2": make_reviewer("lead2", "lead", receives_new_reports=False),
            "rev": make_reviewer("rev", "reviewer")}


def _id(database, login: str) -> int:
    with database.transaction() as session:
        return session.scalar(select(Reviewer.id).where(Reviewer.login == login))


def test_an_account_made_by_an_account_the_proposer_made_cannot_approve(triage_app, team, database, instance_dir):
    """lead creates xlead, xlead creates ylead; ylead was offered lead's closure and approved it."""
    lead_client = sign_in_reviewer(triage_app.test_client(), team["lead"])
    xlead = _create_and_take_over(triage_app, lead_client, "xlead", "Xavier Lead")
    ylead = _create_and_take_over(triage_app, xlead, "ylead", "Yolanda Lead")
    reference, _ = seed_report(database, instance_dir, "A concern", vulnerable_person="yes")
    act_ok(lead_client, reference, "categorise", {"category": "other", "priority": "normal"})
    act_ok(lead_client, reference, "close", closing("no-further-action"))
    act_ok(lead_client, reference, "access/grant", {"reviewer": str(_id(database, "ylead"))})
    response = post_action(ylead, reference, "approval", {"decision": "approve"})
    assert response.status_code == 403 and "or an account that made yours" in page_text(response)
    assert report_by_reference(database, reference).stage == "closure-pending"


def test_the_lead_who_made_the_proposer_cannot_approve(triage_app, team, database, instance_dir):
    """lead creates xlead; xlead proposes; lead approved: one person closed it."""
    lead_client = sign_in_reviewer(triage_app.test_client(), team["lead"])
    xlead = _create_and_take_over(triage_app, lead_client, "xlead", "Xavier Lead")
    reference, _ = seed_report(database, instance_dir, "A concern", risk_now="yes")
    act_ok(lead_client, reference, "access/grant", {"reviewer": str(_id(database, "xlead"))})
    act_ok(xlead, reference, "categorise", {"category": "other", "priority": "normal"})
    act_ok(xlead, reference, "close", closing("no-further-action"))
    assert "/approval" not in page_text(lead_client.get(f"/reports/{reference}"))
    response = post_action(lead_client, reference, "approval", {"decision": "approve"})
    assert response.status_code == 403 and "you created or reset the account of" in page_text(response)
    assert report_by_reference(database, reference).stage == "closure-pending"
    lead2 = sign_in_reviewer(triage_app.test_client(), team["lead2"])  # an independent lead still can
    act_ok(lead2, reference, "approval", {"decision": "approve"})
    assert report_by_reference(database, reference).stage == "closed"


@pytest.mark.parametrize("who", ["lead", "rev"])
def test_a_report_once_flagged_high_risk_cannot_be_marked_junk(triage_app, team, database, instance_dir, who):
    """Recategorised "other", priority normal, then junk: the report left the queue with no approval."""
    reference, _ = seed_report(database, instance_dir, "A concern")
    client = sign_in_reviewer(triage_app.test_client(), team[who])
    act_ok(client, reference, "categorise", {"category": "sexual-assault", "priority": "normal", "flags": "vulnerable-victim"})
    act_ok(client, reference, "categorise", {"category": "other", "priority": "normal"})
    response = post_action(client, reference, "junk", {"reason": "duplicate"})
    assert response.status_code in (400, 403) and "flagged high-risk" in page_text(response)
    report = report_by_reference(database, reference)
    assert not report.junk and report.ever_high_risk


@pytest.mark.parametrize("reason", [
    "a" * 40, "ab" * 20, ". " * 25, ("x" + "\u200b") * 25, "Closed." + " " * 42 + ".", "closing " * 8,
])
def test_a_closure_reason_must_say_something(triage_app, team, database, instance_dir, reason):
    reference, _ = seed_report(database, instance_dir, "A concern")
    rev = sign_in_reviewer(triage_app.test_client(), team["rev"])
    act_ok(rev, reference, "categorise", {"category": "vetting-concern", "priority": "normal"})
    response = post_action(rev, reference, "close", closing("no-further-action", reason=reason))
    assert response.status_code == 400 and "different words" in page_text(response)
    assert report_by_reference(database, reference).stage == "assessing"


def test_an_emptied_audit_log_without_a_checkpoint_file_is_broken(cli_environment, database, instance_dir, lead):
    """DELETE FROM audit_log and remove the checkpoint file: `audit verify` said "intact: 0 entries"."""
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))
    for path in instance_dir.glob("audit-checkpoints*"):
        path.unlink()
    result = cli_environment.invoke(["--instance", cli_environment.instance_dir, "audit", "verify"])
    assert result.exit_code == 1 and "BROKEN" in result.output and "reviewer accounts" in result.output
