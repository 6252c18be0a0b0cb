"""CSRF on the triage interface: every POST route refuses a request without a
token, or with a token from another browser session, and changes nothing."""

from __future__ import annotations

import pyotp
import pytest
from flask import url_for
from sqlalchemy import select
from support import csrf_from
from triage_support import (
    STRONG_PASSPHRASE,
    closing,
    enter_passphrase,
    is_login_redirect,
    reviewer_cookie,
    sign_in_reviewer,
    submit_with_reference,
    token_for,
)

from portal.db import Base

IGNORED_TABLES = {"server_sessions", "reviewer_sessions"}  # every authenticated request restarts the idle timer


def snapshot(database) -> dict:
    """Every row of every table (but the session timers): any change shows up."""
    session = database.session
    session.expire_all()
    state = {}
    for table in Base.metadata.sorted_tables:
        if table.name in IGNORED_TABLES:
            continue
        state[table.name] = sorted(tuple(repr(v) for v in row) for row in session.execute(select(table)).all())
    session.rollback()
    return state


@pytest.fixture
def world(triage_app, reporter_client, database, lead, make_reviewer):
    lead2 = make_reviewer("lead2", "lead")
    other = make_reviewer("other", "reviewer", receives_new_reports=False)
    reference, _ = submit_with_reference(reporter_client, database, what_happened="CSRF target report")
    closed, _ = submit_with_reference(reporter_client, database, what_happened="Closed report")
    client = sign_in_reviewer(triage_app.test_client(), lead)
    # A closed report (for reopen) and a pending closure (for approval), made with valid tokens.
    for data, action in (({"category": "other", "priority": "normal"}, "categorise"),
                         (closing("action-taken"), "close")):
        response = client.post(f"/reports/{closed}/{action}", data={"csrf_token": token_for(client), **data})
        assert response.status_code == 302
    return {"client": client, "reference": reference, "closed": closed, "lead": lead, "lead2": lead2, "other": other}


PAYLOADS = {
    "signin.logout": {},
    "reports.acknowledge": {},
    "reports.categorise": {"category": "sexual-harassment", "priority": "urgent", "flags": "on-duty"},
    "reports.assign": {"assignee": "{lead2}"},
    "reports.message": {"text": "A message sent by a forged request"},
    "reports.note": {"text": "A note added by a forged request"},
    "reports.escalate": {"route": "safeguarding", "reason": "forged"},
    "reports.close": {"outcome": "action-taken", "basis": "action-completed",
                      "reason": "A forged closure with a reason long enough to pass the form's own checks."},
    "reports.approval": {"decision": "approve"},
    "reports.reopen": {"reason": "forged"},
    "reports.new_information": {"decision": "reopen", "reason": "forged"},
    "reports.grant": {"reviewer": "{other}"},
    "reports.revoke": {},
    "reports.decide_link": {},
    "account.account": {"current": "correct-horse-battery-staple-orbit", "new": STRONG_PASSPHRASE, "confirm": STRONG_PASSPHRASE},
    "admin.reviewers": {"login": "mallory", "display_name": "Mallory", "role": "administrator", "passphrase": STRONG_PASSPHRASE},
    "admin.deactivate": {},
    "signin.login": {"login": "lead", "passphrase": "correct-horse-battery-staple-orbit"},
    "signin.second_factor": {"code": "123456"},
}


def post_routes(app, world) -> list[tuple[str, str, dict]]:
    """(endpoint, url, form data) for every POST route the app has."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "POST" not in rule.methods:
                continue
            values = {}
            for arg in rule.arguments:
                if arg == "reference":
                    values[arg] = world["closed"] if rule.endpoint == "reports.reopen" else world["reference"]
                elif arg == "reviewer_id":
                    values[arg] = world["lead2"].id if rule.endpoint == "reports.revoke" else world["other"].id
                elif arg == "decision":
                    values[arg] = "confirmed"
                else:
                    values[arg] = "1"
            data = {k: v.format(lead2=world["lead2"].id, other=world["other"].id)
                    for k, v in PAYLOADS.get(rule.endpoint, {"text": "x", "reason": "x"}).items()}
            routes.append((rule.endpoint, url_for(rule.endpoint, **values), data))
    return routes


def test_every_post_route_is_covered(triage_app, world):
    endpoints = {endpoint for endpoint, _, _ in post_routes(triage_app, world)}
    assert set(PAYLOADS) <= endpoints  # the routes this file knows about all still exist
    assert len(endpoints) >= 17


def test_post_without_token_is_refused_and_changes_nothing(triage_app, database, world):
    client = world["client"]
    cookie = reviewer_cookie(client)
    for endpoint, url, data in post_routes(triage_app, world):
        before = snapshot(database)
        response = client.post(url, data=data)
        assert response.status_code in (400, 403), (endpoint, response.status_code)
        assert snapshot(database) == before, endpoint
        assert reviewer_cookie(client) == cookie, endpoint  # not signed out either
    assert client.get("/").status_code == 200


def test_post_with_a_token_from_another_session_is_refused(triage_app, database, world):
    client = world["client"]
    anonymous = triage_app.test_client()
    foreign_tokens = [csrf_from(anonymous.get("/login").data)]
    signed_in = sign_in_reviewer(triage_app.test_client(), world["lead2"])
    foreign_tokens.append(token_for(signed_in))
    for token in foreign_tokens:
        for endpoint, url, data in post_routes(triage_app, world):
            before = snapshot(database)
            response = client.post(url, data={**data, "csrf_token": token})
            assert response.status_code in (400, 403), (endpoint, response.status_code)
            assert snapshot(database) == before, endpoint
    assert client.get("/").status_code == 200


def test_a_garbage_token_is_refused(triage_app, database, world):
    client = world["client"]
    good = token_for(client)
    for token in ("", "garbage", good[:-2] + ("AA" if not good.endswith("AA") else "BB"), good + "x"):
        before = snapshot(database)
        response = client.post(f"/reports/{world['reference']}/note", data={"csrf_token": token, "text": "forged"})
        assert response.status_code == 400, token
        assert snapshot(database) == before


def test_the_same_posts_succeed_with_the_session_token(triage_app, database, world):
    """Control: the refusals above are the CSRF check, not bad form data."""
    client = world["client"]
    reference = world["reference"]
    for action, data in (("acknowledge", {}), ("note", {"text": "A real note"}),
                         ("categorise", {"category": "sexual-harassment", "priority": "urgent"})):
        before = snapshot(database)
        response = client.post(f"/reports/{reference}/{action}", data={"csrf_token": token_for(client), **data})
        assert response.status_code == 302, action
        assert snapshot(database) != before


def test_second_factor_without_token_does_not_sign_in(triage_app, database, lead):
    client = triage_app.test_client()
    assert enter_passphrase(client, lead.login, lead.passphrase).status_code == 302
    pending = reviewer_cookie(client)
    response = client.post("/login/code", data={"code": pyotp.TOTP(lead.totp_secret).now()})
    assert response.status_code == 400
    assert reviewer_cookie(client) == pending
    assert is_login_redirect(client.get("/"))


def test_login_without_token_sets_no_session(triage_app, lead):
    client = triage_app.test_client()
    response = client.post("/login", data={"login": lead.login, "passphrase": lead.passphrase})
    assert response.status_code == 400
    assert reviewer_cookie(client) is None
