"""Session attacks on both interfaces.

* Fixation on the reporter side: a cookie planted before sign-in (made up, or the
  attacker's own live session) is never the one honoured for the victim's case.
* A live reporter cookie on the triage app and a live reviewer cookie on the
  reporter app change nothing, under either cookie name, even with valid form tokens.
* Expiry: the reporter's absolute timeout holds against constant activity.
* Tampering at rest: swapping sealed payloads between session rows (someone who
  can write to the database) opens neither session.
* Sign-out ends the session on the server: the old cookie replayed with a form
  token taken before sign-out cannot read or write anything, in both apps.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os

from sqlalchemy import select, update
from support import csrf_from, sign_in
from test_adversarial_common import post_multipart, reporter_token, row_counts
from triage_support import report_url, sign_in_reviewer, submit_with_reference

import portal.sessions
from portal import state
from portal.reports.models import InternalNote, Message
from portal.sessions import MODELS, ServerSession

FOLLOW_UP = "portal_followup"
REVIEWER = "portal_reviewer"


def cookie(client, name: str = FOLLOW_UP) -> str | None:
    found = client.get_cookie(name)
    return found.value if found is not None else None


def plant(client, value: str, name: str = FOLLOW_UP) -> None:
    client.set_cookie(name, value, domain="localhost", path="/")


def signed_out(response) -> bool:
    """Sent to sign in again; a reply (issue 15) is answered 401 with its text shown back and nothing stored."""
    if response.status_code == 401:
        return b"Your message was not sent" in response.data and b'id="sign-in-form"' in response.data
    return response.status_code == 302 and "/follow-up" in response.headers["Location"] and "case" not in response.headers["Location"]


def reporter_with_case(reporter, database, text: str):
    client = reporter.test_client()
    reference, code = submit_with_reference(client, database, what_happened=text)
    return client, reference, code


# -- fixation -----------------------------------------------------------------------------------


def test_planted_cookie_is_not_honoured_after_sign_in(apps, database):
    reporter, _ = apps
    victim, _, code = reporter_with_case(reporter, database, "VICTIM-CASE-TEXT")
    planted = base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
    plant(victim, planted)
    response = sign_in(victim, code)
    assert response.status_code == 302
    issued = cookie(victim)
    assert issued and issued != planted
    assert b"VICTIM-CASE-TEXT" in victim.get("/follow-up/case").data
    # the attacker, holding the value they planted, gets nothing
    attacker = reporter.test_client()
    plant(attacker, planted)
    assert signed_out(attacker.get("/follow-up/case"))
    session = database.session
    planted_id = base64.urlsafe_b64decode(planted + "==")[:16]
    assert session.get(ServerSession, hashlib.sha256(planted_id).digest()) is None
    session.rollback()


def test_attackers_own_live_session_planted_in_the_victims_browser_is_replaced(apps, database):
    reporter, _ = apps
    attacker, _, attacker_code = reporter_with_case(reporter, database, "ATTACKER-CASE-TEXT")
    assert sign_in(attacker, attacker_code).status_code == 302
    attackers_cookie = cookie(attacker)
    victim, _, victim_code = reporter_with_case(reporter, database, "VICTIM-CASE-TEXT")
    plant(victim, attackers_cookie)
    assert b"ATTACKER-CASE-TEXT" in victim.get("/follow-up/case").data  # the plant "works" until the victim signs in
    assert sign_in(victim, victim_code).status_code == 302
    assert cookie(victim) != attackers_cookie
    assert b"VICTIM-CASE-TEXT" in victim.get("/follow-up/case").data
    # whatever the victim does next goes to the victim's case; the attacker's cookie still shows only their own
    token = csrf_from(victim.get("/follow-up/case").data)
    assert post_multipart(victim, "/follow-up/reply", [("csrf_token", token), ("message", "VICTIM-REPLY")]).status_code == 302
    attackers_view = attacker.get("/follow-up/case").data
    assert b"ATTACKER-CASE-TEXT" in attackers_view
    assert b"VICTIM" not in attackers_view


# -- one app's cookie on the other -------------------------------------------------------------


def test_live_cookies_do_nothing_on_the_other_app_even_with_valid_tokens(apps, database, lead):
    reporter, triage = apps
    reporter_client, reference, code = reporter_with_case(reporter, database, "cross-app")
    assert sign_in(reporter_client, code).status_code == 302
    reviewer = sign_in_reviewer(triage.test_client(), lead)
    follow_up_value, reviewer_value = cookie(reporter_client), cookie(reviewer, REVIEWER)
    before = row_counts(database, Message, InternalNote)

    # The reporter's live session value on the triage app, under each cookie name, with a valid triage CSRF token.
    for name in (REVIEWER, FOLLOW_UP):
        intruder = triage.test_client()
        token = csrf_from(intruder.get("/login").data)  # a real token bound to the intruder's own browser
        plant(intruder, follow_up_value, name)
        assert intruder.get("/").status_code == 302
        assert intruder.get(report_url(reference)).status_code == 302
        for action, data in (("note", {"text": "intruder note"}), ("message", {"text": "intruder message"}),
                             ("acknowledge", {}), ("escalate", {"route": "safeguarding", "reason": "intruder"})):
            response = intruder.post(report_url(reference, action), data={"csrf_token": token, **data})
            assert response.status_code in (302, 400) and "/login" in response.headers.get("Location", "/login")

    # The reviewer's live session value on the reporter app, under each cookie name, with a valid one-time token.
    for name in (FOLLOW_UP, REVIEWER):
        intruder = reporter.test_client()
        plant(intruder, reviewer_value, name)
        assert signed_out(intruder.get("/follow-up/case"))
        response = post_multipart(intruder, "/follow-up/reply", [("csrf_token", reporter_token(reporter)), ("message", "intruder")])
        assert signed_out(response)

    assert row_counts(database, Message, InternalNote) == before
    # and neither live session was disturbed
    assert reporter_client.get("/follow-up/case").status_code == 200
    assert reviewer.get("/").status_code == 200


# -- expiry ---------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 12, 0, 0)

    def __call__(self) -> dt.datetime:
        return self.now


def test_reporter_absolute_timeout_holds_against_constant_activity(apps, database, monkeypatch):
    reporter, _ = apps
    clock = Clock()
    monkeypatch.setattr(portal.sessions, "_now", clock)
    client, _, code = reporter_with_case(reporter, database, "absolute")
    assert sign_in(client, code).status_code == 302
    settings = state.SETTINGS.get(reporter)
    idle, absolute = settings.reporter_idle_timeout, settings.reporter_idle_timeout * 16
    elapsed = 0
    while elapsed + idle - 1 < absolute:
        clock.now += dt.timedelta(seconds=idle - 1)
        elapsed += idle - 1
        assert client.get("/follow-up/case").status_code == 200, elapsed
    clock.now += dt.timedelta(seconds=absolute - elapsed)
    assert signed_out(client.get("/follow-up/case"))
    assert row_counts(database, ServerSession) == {"server_sessions": 0}  # the expired row is gone, not just ignored


# -- tampering with the rows ----------------------------------------------------------------------


def _swap_payloads(database, kind: str) -> None:
    session, model = database.session, MODELS[kind]
    rows = session.execute(select(model.id_hash, model.sealed_payload)).all()
    assert len(rows) == 2
    (a_id, a_payload), (b_id, b_payload) = rows
    session.execute(update(model).where(model.id_hash == a_id).values(sealed_payload=b_payload))
    session.execute(update(model).where(model.id_hash == b_id).values(sealed_payload=a_payload))
    session.commit()


def test_swapped_session_payloads_open_neither_session(apps, database, lead, make_reviewer):
    reporter, triage = apps
    first, _, first_code = reporter_with_case(reporter, database, "first")
    second, _, second_code = reporter_with_case(reporter, database, "second")
    assert sign_in(first, first_code).status_code == 302 and sign_in(second, second_code).status_code == 302
    _swap_payloads(database, "reporter")
    assert signed_out(first.get("/follow-up/case")) and signed_out(second.get("/follow-up/case"))

    other = make_reviewer("other", "reviewer")
    lead_client = sign_in_reviewer(triage.test_client(), lead)
    other_client = sign_in_reviewer(triage.test_client(), other)
    _swap_payloads(database, "reviewer")
    for client in (lead_client, other_client):  # a reviewer cannot become the lead by editing the table
        response = client.get("/")
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- sign-out ---------------------------------------------------------------------------------------


def test_reporter_sign_out_kills_the_cookie_on_the_server(apps, database):
    reporter, _ = apps
    client, _, code = reporter_with_case(reporter, database, "sign-out")
    assert sign_in(client, code).status_code == 302
    old = cookie(client)
    case = client.get("/follow-up/case").data
    reply_token, spare_token = csrf_from(case), reporter_token(reporter)
    file_url = "/follow-up/files/" + "00" * 16
    response = client.post("/follow-up/sign-out", data={"csrf_token": csrf_from(client.get("/follow-up/case").data)})
    assert response.status_code == 302 and "signed-out" in response.headers["Location"]
    before = row_counts(database, Message)
    replay = reporter.test_client()
    plant(replay, old)
    assert signed_out(replay.get("/follow-up/case"))
    assert signed_out(replay.get(file_url))
    for token in (reply_token, spare_token):
        assert signed_out(post_multipart(replay, "/follow-up/reply", [("csrf_token", token), ("message", "after sign-out")]))
    assert row_counts(database, Message) == before
    assert row_counts(database, ServerSession) == {"server_sessions": 0}


def test_reviewer_sign_out_kills_the_cookie_on_the_server(apps, database, lead):
    reporter, triage = apps
    _, reference, _ = reporter_with_case(reporter, database, "sign-out")
    client = sign_in_reviewer(triage.test_client(), lead)
    old = cookie(client, REVIEWER)
    token = csrf_from(client.get(report_url(reference)).data)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    before = row_counts(database, Message, InternalNote)
    plant(client, old, REVIEWER)  # the same browser (same CSRF cookie), the old session cookie put back
    for path in ("/", report_url(reference), "/account", "/admin/reviewers"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    for action, data in (("note", {"text": "after sign-out"}), ("message", {"text": "after sign-out"})):
        response = client.post(report_url(reference, action), data={"csrf_token": token, **data})
        assert response.status_code in (302, 400) and "/login" in response.headers.get("Location", "/login")
    assert row_counts(database, Message, InternalNote) == before
