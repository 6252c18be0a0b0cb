"""Gaps found in review: a pending closure cannot be side-stepped by escalating, and a
signed-in session cannot guess the reviewer's passphrase without limit."""

from __future__ import annotations

from triage_support import act_ok, error_text, post_action, seed_report, signed_in_client, token_for

from portal import create_app


def test_escalating_a_report_awaiting_closure_approval_is_refused(triage_app, lead, database, instance_dir):
    reference, _ = seed_report(database, instance_dir)
    client = signed_in_client(triage_app, lead)
    act_ok(client, reference, "categorise", {"category": "sexual-harassment", "priority": "normal"})
    act_ok(client, reference, "close", {"outcome": "no-further-action", "reason": "insufficient detail"})
    response = post_action(client, reference, "escalate", {"route": "management-action", "reason": "side-step"})
    assert response.status_code == 400
    assert "pending closure" in error_text(response.data)


def test_passphrase_change_is_throttled(settings_overrides, database, lead):
    app = create_app("triage", {**settings_overrides, "reviewer_login_limit": "3 per minute"})
    client = signed_in_client(app, lead)
    statuses = []
    for attempt in range(5):
        token = token_for(client, "/account")
        response = client.post("/account", data={"csrf_token": token, "current": f"wrong-guess-{attempt}",
                                                 "new": "a-fresh-long-passphrase-orbit-91", "confirm": "a-fresh-long-passphrase-orbit-91"})
        statuses.append(b"Sign-in failed" in response.data)
    assert statuses == [False, False, False, True, True]
    # even the right passphrase is refused while throttled
    token = token_for(client, "/account")
    response = client.post("/account", data={"csrf_token": token, "current": lead.passphrase,
                                             "new": "a-fresh-long-passphrase-orbit-91", "confirm": "a-fresh-long-passphrase-orbit-91"})
    assert b"Sign-in failed" in response.data
    app.extensions["portal.db"].dispose()
