"""Issue 13: sessions outlived a passphrase change, and there was no "sign out everywhere".

Now a new passphrase or a reset ends every other session of that reviewer, the account page
has "Sign out everywhere", and a lead can end a reviewer's sessions (audited). SQLite and
PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update
from support import csrf_from
from triage_support import is_login_redirect, sign_in_reviewer, token_for

from portal.sessions import ReviewerSession
from portal.triage.audit import AuditEntry
from portal.triage.models import Reviewer

NEW_PASSPHRASE = "a-fresh-long-passphrase-orbit-91"


@pytest.fixture
def triage(app_of_kind):
    return app_of_kind("triage")


def signed_in(app, database, account):
    """Another signed-in browser for `account` (the TOTP step is released so tests need not wait 30 s)."""
    with database.transaction() as session:
        session.execute(update(Reviewer).where(Reviewer.id == account.id).values(last_totp_step=0))
    account._last_step = 0
    return sign_in_reviewer(app.test_client(), account)


def sessions_of(database, account) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(ReviewerSession).where(ReviewerSession.reviewer_id == account.id))


def actions(database) -> list[tuple[str, str, dict]]:
    with database.transaction() as session:
        return [(e.actor, e.action, json.loads(e.detail)) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def still_in(client) -> bool:
    return client.get("/").status_code == 200


def test_a_passphrase_change_ends_every_other_session(triage, database, lead):
    laptop, desk = signed_in(triage, database, lead), signed_in(triage, database, lead)
    assert still_in(laptop) and still_in(desk)
    response = laptop.post("/account", data={"csrf_token": token_for(laptop, "/account"), "current": lead.passphrase,
                                             "new": NEW_PASSPHRASE, "confirm": NEW_PASSPHRASE})
    assert response.status_code == 302
    assert still_in(laptop)  # the browser that changed it stays signed in
    assert is_login_redirect(desk.get("/"))  # the other one is out
    assert sessions_of(database, lead) == 1
    assert ("lead", "reviewer.other-sessions-ended", {"sessions": 1}) in actions(database)


def test_choosing_ones_own_passphrase_also_ends_other_sessions(triage, database, make_reviewer):
    newcomer = make_reviewer("newcomer", "reviewer")
    with database.transaction() as session:
        session.execute(update(Reviewer).where(Reviewer.id == newcomer.id).values(must_change_passphrase=True))
    first, second = signed_in(triage, database, newcomer), signed_in(triage, database, newcomer)
    response = first.post("/account", data={"csrf_token": token_for(first, "/account"), "current": newcomer.passphrase,
                                            "new": NEW_PASSPHRASE, "confirm": NEW_PASSPHRASE})
    assert response.status_code == 302
    assert still_in(first) and is_login_redirect(second.get("/"))
    assert sessions_of(database, newcomer) == 1  # the rows are gone, not only unusable


def test_sign_out_everywhere_from_the_account_page(triage, database, lead):
    laptop, desk = signed_in(triage, database, lead), signed_in(triage, database, lead)
    page = laptop.get("/account")
    assert b"Sign out everywhere" in page.data
    response = laptop.post("/account/sign-out-everywhere", data={"csrf_token": csrf_from(page.data)})
    assert response.status_code == 302 and "signed_out=everywhere" in response.headers["Location"]
    assert "Clear-Site-Data" in response.headers
    assert is_login_redirect(laptop.get("/")) and is_login_redirect(desk.get("/"))
    assert sessions_of(database, lead) == 0
    assert ("lead", "reviewer.signed-out-everywhere", {"sessions": 2}) in actions(database)
    assert b"signed out on every computer" in laptop.get(response.headers["Location"]).data


def test_sign_out_everywhere_needs_the_form_token(triage, database, lead):
    laptop = signed_in(triage, database, lead)
    assert laptop.post("/account/sign-out-everywhere", data={}).status_code in (400, 403)
    assert still_in(laptop)


def test_a_lead_ends_a_reviewers_sessions(triage, database, lead, make_reviewer):
    alice = make_reviewer("alice", "reviewer")
    alices = [signed_in(triage, database, alice), signed_in(triage, database, alice)]
    boss = signed_in(triage, database, lead)
    page = boss.get("/admin/reviewers")
    assert f"/admin/reviewers/{alice.id}/sessions/end".encode() in page.data
    response = boss.post(f"/admin/reviewers/{alice.id}/sessions/end", data={"csrf_token": csrf_from(page.data)})
    assert response.status_code == 302
    assert b"is signed out everywhere: 2 sessions ended" in boss.get("/admin/reviewers").data
    assert all(is_login_redirect(client.get("/")) for client in alices)
    assert still_in(boss)
    assert ("lead", "reviewer.sessions-ended", {"reviewer": "alice", "sessions": 2}) in actions(database)


def test_only_leads_end_sessions_and_only_administrators_end_an_administrators(triage, database, lead, make_reviewer):
    alice = make_reviewer("alice", "reviewer")
    admin = make_reviewer("root", "administrator")
    alice_client, admin_client = signed_in(triage, database, alice), signed_in(triage, database, admin)
    token = token_for(alice_client, "/account")
    assert alice_client.post(f"/admin/reviewers/{lead.id}/sessions/end", data={"csrf_token": token}).status_code == 403
    boss = signed_in(triage, database, lead)
    response = boss.post(f"/admin/reviewers/{admin.id}/sessions/end", data={"csrf_token": token_for(boss, "/admin/reviewers")})
    assert response.status_code in (302, 403)
    assert still_in(admin_client) and still_in(alice_client)
    assert not any(action == "reviewer.sessions-ended" for _, action, _ in actions(database))


def test_a_reset_ends_every_session_of_the_reviewer(triage, database, lead, make_reviewer):
    alice = make_reviewer("alice", "reviewer")
    alice_client = signed_in(triage, database, alice)
    boss = signed_in(triage, database, lead)
    response = boss.post(f"/admin/reviewers/{alice.id}/reset", data={"csrf_token": token_for(boss, "/admin/reviewers")})
    assert response.status_code == 200
    assert is_login_redirect(alice_client.get("/"))
    assert sessions_of(database, alice) == 0
