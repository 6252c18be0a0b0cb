"""A closure awaiting a lead's approval cannot be side-stepped by escalating the report."""

from __future__ import annotations

from triage_support import act_ok, closing, error_text, post_action, seed_report, signed_in_client


def test_escalating_a_report_awaiting_closure_approval_is_refused(triage_app, lead, make_reviewer, database, instance_dir):
    make_reviewer("lead2", "lead")  # an independent lead to approve
    reference, _ = seed_report(database, instance_dir)
    client = signed_in_client(triage_app, lead)
    act_ok(client, reference, "categorise", {"category": "sexual-harassment", "priority": "normal"})
    act_ok(client, reference, "close", closing("no-further-action"))
    response = post_action(client, reference, "escalate", {"route": "management-action", "reason": "side-step"})
    assert response.status_code == 400
    assert "pending closure" in error_text(response.data)
