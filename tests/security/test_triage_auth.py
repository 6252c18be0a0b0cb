"""Reviewer sign-in and sessions on the triage interface.

Passphrase then TOTP (with enrolment on first sign-in), one message for every
failure, throttling, no access while half signed in, a new session id after
the second factor, idle and absolute timeouts, sign-out, tampered and foreign
cookies, and no reporter route on the triage app.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import func, select, update
from support import csrf_from, sign_in
from triage_support import (
    LOGIN_FAILED,
    REVIEWER_COOKIE,
    THROTTLED,
    enter_code,
    enter_passphrase,
    fresh_code,
    is_login_redirect,
    page_text,
    read,
    reviewer_cookie,
    set_reviewer_cookie,
    sign_in_reviewer,
    sign_out,
    submit_with_reference,
)

from portal.sessions import ReviewerSession


def _reviewer_sessions(database) -> int:
    session = database.session
    session.expire_all()
    count = session.scalar(select(func.count()).select_from(ReviewerSession))
    session.rollback()
    return count


# -- passphrase, then TOTP ----------------------------------------------------------------


@pytest.fixture
def still_backoff_clock(monkeypatch):
    """The sign-in back-off's clock stands still, so that its first wait (1 s) cannot pass between
    two requests on a loaded machine (the next attempt would then be admitted, correctly)."""
    import types

    from portal.triage import throttle

    monkeypatch.setattr(throttle, "time", types.SimpleNamespace(time=lambda: 1_900_000_000.0))


def test_passphrase_then_code_signs_in(triage_client, lead):
    assert is_login_redirect(triage_client.get("/"))
    response = enter_passphrase(triage_client, lead.login, lead.passphrase)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")
    response = enter_code(triage_client, fresh_code(lead))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    queue = triage_client.get("/")
    assert queue.status_code == 200
    assert "Reports" in page_text(queue) and lead.login.title() in page_text(queue)


def test_code_accepts_spaces_and_honours_a_local_next(triage_client, lead):
    enter_passphrase(triage_client, lead.login, lead.passphrase)
    code = fresh_code(lead)
    response = enter_code(triage_client, f"{code[:3]} {code[3:]}", next_path="/account")
    assert response.status_code == 302 and response.headers["Location"] == "/account"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example",
                                    "/\n/evil.example", "evil.example", "javascript:alert(1)"])
def test_next_cannot_send_a_reviewer_off_site(triage_client, lead, target):
    enter_passphrase(triage_client, lead.login, lead.passphrase)
    page = triage_client.get("/login/code")
    response = triage_client.post("/login/code", query_string={"next": target},
                                  data={"csrf_token": csrf_from(page.data), "code": fresh_code(lead)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_sign_in_returns_to_the_page_asked_for(triage_client, reporter_client, database, lead):
    reference, _ = submit_with_reference(reporter_client, database)
    response = triage_client.get(f"/reports/{reference}")
    assert is_login_redirect(response)
    login_url = response.headers["Location"]
    assert login_url == f"/login?next=/reports/{reference}"
    token = csrf_from(triage_client.get(login_url).data)
    response = triage_client.post(login_url, data={"csrf_token": token, "login": lead.login, "passphrase": lead.passphrase})
    assert response.status_code == 302
    code_url = response.headers["Location"]
    page = triage_client.get(code_url)
    response = triage_client.post(code_url, data={"csrf_token": csrf_from(page.data), "code": fresh_code(lead)})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/reports/{reference}"


def test_first_sign_in_shows_enrolment_with_a_qr_code(triage_client, lead):
    assert triage_client.get("/login/code/qr.svg").status_code == 404  # nobody half signed in
    enter_passphrase(triage_client, lead.login, lead.passphrase)
    page = triage_client.get("/login/code")
    text = page_text(page)
    assert "Set up your authenticator app" in text
    assert 'src="/login/code/qr.svg"' in text
    assert lead.totp_secret in text  # the "cannot scan" fallback

    qr = triage_client.get("/login/code/qr.svg")
    assert qr.status_code == 200
    assert qr.mimetype == "image/svg+xml"
    assert qr.data.lstrip().startswith(b"<svg") and b"</svg>" in qr.data
    assert b"<script" not in qr.data.lower()

    assert enter_code(triage_client, fresh_code(lead)).status_code == 302
    assert triage_client.get("/login/code/qr.svg").status_code == 404  # signed in: no enrolment pending


def test_qr_is_not_served_once_enrolled(triage_client, lead):
    sign_in_reviewer(triage_client, lead)
    sign_out(triage_client)
    enter_passphrase(triage_client, lead.login, lead.passphrase)
    page = page_text(triage_client.get("/login/code"))
    assert "Enter your code" in page
    assert "qr.svg" not in page and lead.totp_secret not in page
    assert triage_client.get("/login/code/qr.svg").status_code == 404


def test_a_code_already_used_is_refused(triage_client, lead):
    code = pyotp.TOTP(lead.totp_secret).now()
    sign_in_reviewer(triage_client, lead, code=code)
    assert sign_out(triage_client).status_code == 302

    assert enter_passphrase(triage_client, lead.login, lead.passphrase).status_code == 302
    response = enter_code(triage_client, code)
    assert response.status_code == 400
    assert LOGIN_FAILED in page_text(response)
    assert is_login_redirect(triage_client.get("/"))


def test_an_older_code_than_the_last_used_is_refused(triage_client, lead):
    totp = pyotp.TOTP(lead.totp_secret)
    sign_in_reviewer(triage_client, lead, code=totp.at(time.time() + 30))  # the next step
    sign_out(triage_client)
    enter_passphrase(triage_client, lead.login, lead.passphrase)
    assert enter_code(triage_client, totp.now()).status_code == 400  # the current step is older


def test_every_failure_gets_the_same_message(triage_client, lead, make_reviewer):
    wrong_passphrase = enter_passphrase(triage_client, lead.login, "not-the-passphrase-at-all")
    unknown_login = enter_passphrase(triage_client, "nobody-here", lead.passphrase)
    assert enter_passphrase(triage_client, lead.login, lead.passphrase).status_code == 302
    wrong_code = enter_code(triage_client, "000000" if pyotp.TOTP(lead.totp_secret).now() != "000000" else "111111")
    for response in (wrong_passphrase, unknown_login, wrong_code):
        assert response.status_code == 400
        assert LOGIN_FAILED in page_text(response)
    assert REVIEWER_COOKIE not in wrong_passphrase.headers.get("Set-Cookie", "")
    assert REVIEWER_COOKIE not in unknown_login.headers.get("Set-Cookie", "")
    # The login page reveals nothing more for an unknown login than for a wrong passphrase.
    def without_token(response, login):
        return re.sub(r'name="csrf_token"[^>]*>', "", page_text(response)).replace(login, "")

    assert without_token(wrong_passphrase, lead.login) == without_token(unknown_login, "nobody-here")


def test_a_deactivated_reviewer_cannot_sign_in(triage_client, make_reviewer, database):
    from portal.triage.models import Reviewer

    gone = make_reviewer("gone", "reviewer")
    with database.transaction() as session:
        session.get(Reviewer, gone.id).active = False
    response = enter_passphrase(triage_client, gone.login, gone.passphrase)
    assert response.status_code == 400 and LOGIN_FAILED in page_text(response)


def test_login_form_needs_both_fields(triage_client, lead):
    token = csrf_from(triage_client.get("/login").data)
    response = triage_client.post("/login", data={"csrf_token": token, "login": lead.login})
    assert response.status_code == 400
    assert reviewer_cookie(triage_client) is None


def test_throttling_refuses_even_the_right_passphrase(build_triage, lead, still_backoff_clock):
    app = build_triage(login_free_attempts=3)
    client = app.test_client()
    for _ in range(3):
        assert enter_passphrase(client, lead.login, "wrong-passphrase-guess").status_code == 400
    response = enter_passphrase(client, lead.login, lead.passphrase)
    assert response.status_code == 429
    assert THROTTLED in page_text(response)
    assert reviewer_cookie(client) is None
    assert is_login_redirect(client.get("/"))


def test_throttling_counts_wrong_codes(build_triage, lead, still_backoff_clock):
    app = build_triage(login_free_attempts=3)
    client = app.test_client()
    assert enter_passphrase(client, lead.login, lead.passphrase).status_code == 302  # attempt 1 of 3
    wrong = "000000" if pyotp.TOTP(lead.totp_secret).now() != "000000" else "111111"
    for _ in range(2):  # attempts 2 and 3: every attempt counts until a complete sign-in forgives them
        assert enter_code(client, wrong).status_code == 400
    response = enter_code(client, fresh_code(lead))
    assert response.status_code == 429
    assert is_login_redirect(client.get("/"))


def test_concurrent_wrong_passphrases_cannot_exceed_the_limit(build_triage, lead, monkeypatch, still_backoff_clock):
    """Counted on the way in: 12 simultaneous guesses against a limit of 5 get at most 5 passphrase checks
    (checked on the way in and counted on the way out, all 12 were evaluated)."""
    import threading

    from portal.triage import auth

    app = build_triage(login_free_attempts=5)
    checks = []
    real_check = auth.check_passphrase_for_sign_in
    barrier = threading.Barrier(12)

    def slow_check(login, passphrase):
        checks.append(login)
        return real_check(login, passphrase)

    monkeypatch.setattr(auth, "check_passphrase_for_sign_in", slow_check)
    clients = [app.test_client() for _ in range(12)]
    tokens = [csrf_from(c.get("/login").data) for c in clients]
    statuses = []

    def guess(client, token):
        barrier.wait()
        response = client.post("/login", data={"csrf_token": token, "login": lead.login, "passphrase": "wrong-guess-here"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checks) == 5  # counted exactly: never more, and no honest attempt lost either
    assert sorted(statuses) == [400] * len(checks) + [429] * (12 - len(checks))


def test_guesses_from_other_clients_never_keep_the_holder_out(build_triage, lead, make_reviewer, still_backoff_clock):
    """Issue 13: ten wrong passphrases from another address locked `lead` out for 15 minutes, from every
    address. Now each guessing client is slowed down; the holder's own computer is not refused."""
    app = build_triage(login_free_attempts=3)
    attacker = app.test_client()
    statuses = [_attempt(attacker, "10.0.0.66", lead.login, "wrong-guess-here").status_code for _ in range(10)]
    assert statuses == [400] * 3 + [429] * 7  # the guesser is slowed down after its free attempts
    for n in range(3):  # and more guessers, each with a few guesses
        for _ in range(2):
            _attempt(app.test_client(), f"10.0.1.{n}", lead.login, "wrong-guess-here")
    response = _attempt(app.test_client(), "10.0.0.99", lead.login, lead.passphrase)
    assert response.status_code == 302  # the holder, from their own computer, is let in at once


def _attempt(client, address: str, login: str, passphrase: str):
    environ = {"REMOTE_ADDR": address}
    token = csrf_from(client.get("/login", environ_base=environ).data)
    return client.post("/login", data={"csrf_token": token, "login": login, "passphrase": passphrase}, environ_base=environ)


# -- half signed in ----------------------------------------------------------------------


def test_half_signed_in_session_opens_nothing(triage_client, reporter_client, database, lead):
    reference, _ = submit_with_reference(reporter_client, database, what_happened="PLAINTEXT-MARKER-HALF")
    assert enter_passphrase(triage_client, lead.login, lead.passphrase).status_code == 302
    pending = reviewer_cookie(triage_client)
    assert pending

    for path in ("/", f"/reports/{reference}", "/account", "/admin/reviewers"):
        set_reviewer_cookie(triage_client, pending)
        response = triage_client.get(path)
        assert is_login_redirect(response), path
        assert b"PLAINTEXT-MARKER-HALF" not in response.data

    set_reviewer_cookie(triage_client, pending)
    token = csrf_from(triage_client.get("/login/code").data)
    response = triage_client.post(f"/reports/{reference}/note", data={"csrf_token": token, "text": "sneaky"})
    assert is_login_redirect(response)


def test_session_id_changes_after_the_second_factor(triage_client, lead, database):
    enter_passphrase(triage_client, lead.login, lead.passphrase)
    before = reviewer_cookie(triage_client)
    assert enter_code(triage_client, fresh_code(lead)).status_code == 302
    after = reviewer_cookie(triage_client)
    assert before and after and before != after
    assert triage_client.get("/").status_code == 200

    set_reviewer_cookie(triage_client, before)
    assert is_login_redirect(triage_client.get("/"))
    set_reviewer_cookie(triage_client, before)
    assert is_login_redirect(triage_client.get("/login/code"))  # the pending session is gone, not merely pending
    set_reviewer_cookie(triage_client, before)
    assert triage_client.get("/login/code/qr.svg").status_code == 404
    assert _reviewer_sessions(database) == 1  # only the signed-in one

    set_reviewer_cookie(triage_client, after)
    assert triage_client.get("/").status_code == 200


def test_session_cookie_attributes(triage_client, lead):
    response = enter_passphrase(triage_client, lead.login, lead.passphrase)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(REVIEWER_COOKIE + "="))
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
    assert "Expires" not in header and "Max-Age" not in header  # a browser-session cookie


# -- timeouts -----------------------------------------------------------------------------


def _sign_in_in_time(client, account, database) -> None:
    """Sign in and make one request before a 1-second session can lapse (retried on a slow machine).

    Expiry times have whole-second precision, so start early in a second; a
    retry resets the account's last TOTP step (replay is tested elsewhere).
    """
    from portal.triage.models import Reviewer

    for _attempt in range(4):
        if time.time() % 1 > 0.3:
            time.sleep(1 - time.time() % 1 + 0.01)
        try:
            sign_in_reviewer(client, account)
        except AssertionError:
            pass
        else:
            if client.get("/").status_code == 200:
                return
        with database.transaction() as session:
            session.get(Reviewer, account.id).last_totp_step = 0
        account._last_step = 0
    pytest.fail("could not sign in within one second")


def test_idle_timeout_ends_the_session(build_triage, lead, database):
    app = build_triage(reviewer_idle_timeout=1)
    client = app.test_client()
    _sign_in_in_time(client, lead, database)
    time.sleep(2.1)
    live = _reviewer_sessions(database)
    assert is_login_redirect(client.get("/"))
    assert _reviewer_sessions(database) == live - 1  # the expired session was deleted when presented


def test_absolute_timeout_ends_an_active_session(build_triage, lead, database):
    app = build_triage(reviewer_idle_timeout=3600, reviewer_absolute_timeout=2)
    client = app.test_client()
    _sign_in_in_time(client, lead, database)
    started = time.monotonic()
    ended_after = None
    while time.monotonic() - started < 6:
        time.sleep(0.5)
        if is_login_redirect(client.get("/")):
            ended_after = time.monotonic() - started
            break
    assert ended_after is not None, "an active session outlived its absolute timeout"
    assert is_login_redirect(client.get("/"))


class FakeClock:
    """Stands in for the session store's clock (whole seconds, like the real one)."""

    def __init__(self) -> None:
        import datetime as dt

        self.now = dt.datetime(2026, 3, 1, 12, 0, 0)

    def __call__(self):
        return self.now

    def advance(self, seconds: int) -> None:
        import datetime as dt

        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    import portal.sessions

    fake = FakeClock()
    monkeypatch.setattr(portal.sessions, "_now", fake)
    return fake


def test_idle_timeout_boundary(build_triage, lead, clock):
    client = build_triage(reviewer_idle_timeout=60).test_client()
    sign_in_reviewer(client, lead)
    clock.advance(59)
    assert client.get("/").status_code == 200  # activity restarts the idle timer
    clock.advance(59)
    assert client.get("/").status_code == 200
    clock.advance(60)
    assert is_login_redirect(client.get("/"))


def test_activity_keeps_a_session_alive_until_the_absolute_timeout(build_triage, lead, clock):
    client = build_triage(reviewer_idle_timeout=10, reviewer_absolute_timeout=100).test_client()
    sign_in_reviewer(client, lead)
    for _ in range(11):  # 99 seconds of activity, never 10 seconds idle
        clock.advance(9)
        assert client.get("/").status_code == 200
    clock.advance(1)  # idle for 1 second only, but 100 seconds since sign-in
    assert is_login_redirect(client.get("/"))


def test_absolute_timeout_boundary(build_triage, lead, clock):
    client = build_triage(reviewer_idle_timeout=3600, reviewer_absolute_timeout=100).test_client()
    sign_in_reviewer(client, lead)
    clock.advance(99)
    assert client.get("/").status_code == 200
    clock.advance(1)
    assert is_login_redirect(client.get("/"))


def test_pending_sign_in_expires_too(build_triage, lead, clock):
    client = build_triage(reviewer_idle_timeout=60).test_client()
    assert enter_passphrase(client, lead.login, lead.passphrase).status_code == 302
    clock.advance(60)
    assert client.get("/login/code").status_code == 302  # back to the passphrase step


# -- signing out ---------------------------------------------------------------------------


def test_sign_out_destroys_the_server_session(triage_client, lead, database):
    sign_in_reviewer(triage_client, lead)
    cookie = reviewer_cookie(triage_client)
    assert _reviewer_sessions(database) == 1
    response = sign_out(triage_client)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert response.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert reviewer_cookie(triage_client) is None
    assert _reviewer_sessions(database) == 0

    set_reviewer_cookie(triage_client, cookie)
    assert is_login_redirect(triage_client.get("/"))


def test_sign_out_needs_a_post_with_a_token(triage_client, lead):
    sign_in_reviewer(triage_client, lead)
    assert triage_client.get("/logout").status_code == 405
    assert triage_client.post("/logout").status_code == 400
    assert triage_client.get("/").status_code == 200


def test_sign_out_is_audited(triage_client, lead, database):
    from portal.triage.audit import AuditEntry

    sign_in_reviewer(triage_client, lead)
    sign_out(triage_client)
    actions = read(database, lambda s: list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq))))
    assert actions[-2:] == ["reviewer.signed-in", "reviewer.signed-out"]


# -- hostile cookies -------------------------------------------------------------------------


def _flip(value: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    ch = value[index]
    return value[:index] + alphabet[(alphabet.index(ch) + 1) % len(alphabet)] + value[index + 1:]


def test_tampered_cookies_redirect_to_login(triage_client, lead):
    sign_in_reviewer(triage_client, lead)
    good = reviewer_cookie(triage_client)
    variants = [
        _flip(good, 0),  # another session id
        _flip(good, len(good) - 2),  # right id, wrong key
        _flip(good, 30),
        good[:-4],
        good + "AAAA",
        "garbage",
        "%%%%%%%%",
        "A" * 64,
        "",
        "=" * 10,
        good + "." + good,
    ]
    for value in variants:
        set_reviewer_cookie(triage_client, value)
        response = triage_client.get("/")
        assert response.status_code != 500, value
        assert is_login_redirect(response), value
        report = triage_client.get("/reports/R-AAAA-AAAA")
        assert report.status_code != 500 and is_login_redirect(report), value
    set_reviewer_cookie(triage_client, good)
    assert triage_client.get("/").status_code == 200  # a wrong key did not destroy the real session


def test_reporter_cookie_does_nothing_on_the_triage_app(triage_client, reporter_client, database, lead):
    _, code = submit_with_reference(reporter_client, database)
    assert sign_in(reporter_client, code).status_code == 302
    followup = reporter_client.get_cookie("portal_followup").value

    triage_client.set_cookie("portal_followup", followup, domain="localhost", path="/")
    assert is_login_redirect(triage_client.get("/"))
    set_reviewer_cookie(triage_client, followup)  # even as the reviewer cookie: a reporter session is not a reviewer's
    response = triage_client.get("/")
    assert is_login_redirect(response)
    assert triage_client.get("/login/code").status_code == 302
    # ... and it was not destroyed or used up: the reporter is still signed in.
    assert reporter_client.get("/follow-up/case").status_code == 200


@pytest.mark.parametrize("path", ["/report", "/follow-up", "/follow-up/case", "/keys.json", "/signed-out"])
def test_triage_app_serves_no_reporter_route(triage_client, path):
    assert triage_client.get(path).status_code == 404


def test_reporter_app_serves_no_triage_route(reporter_client):
    for path in ("/login", "/login/code", "/admin/reviewers", "/reports/R-AAAA-AAAA"):
        assert reporter_client.get(path).status_code == 404, path


def test_page_views_do_not_write_the_session_row_each_time(build_triage, lead, clock, database):
    """The idle timer is restarted at most once a minute: not one database write per page view."""
    client = build_triage(reviewer_idle_timeout=1800).test_client()
    sign_in_reviewer(client, lead)

    def idle_expiry():
        with database.transaction() as session:
            return session.scalar(select(ReviewerSession.idle_expires_at))

    signed_in = idle_expiry()
    clock.advance(20)
    assert client.get("/").status_code == 200
    assert idle_expiry() == signed_in
    clock.advance(60)
    assert client.get("/").status_code == 200
    assert idle_expiry() > signed_in


def test_a_code_claimed_by_a_concurrent_request_is_refused(triage_app, lead, database):
    """Two requests with the same code: the second loaded the reviewer before the first claimed the step."""
    from portal.triage import auth
    from portal.triage.models import Reviewer

    totp = pyotp.TOTP(lead.totp_secret)
    step = totp.timecode(time.time())
    with triage_app.test_request_context("/login/code"):
        db = triage_app.extensions["portal.db"].session
        stale = db.get(Reviewer, lead.id)
        assert stale.last_totp_step < step
        with database.transaction() as other:  # the racing request wins and commits first
            other.execute(update(Reviewer).where(Reviewer.id == lead.id).values(last_totp_step=step))
        assert stale.last_totp_step < step  # this request still holds the old value ...
        assert auth.verify_totp(stale, totp.at(time.time())) is False  # ... and is refused all the same
