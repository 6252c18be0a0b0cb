"""Helpers for the triage interface tests (import as `from triage_support import ...`).

Reviewer sign-in (passphrase, then TOTP) with codes that are never reused,
posting reviewer forms with a fresh CSRF token, making reports through the
reporter interface or straight through the service, and reading what the
reporter sees.
"""

from __future__ import annotations

import html
import re
import time

import pyotp
from sqlalchemy import select
from support import csrf_from, sign_in

REVIEWER_COOKIE = "portal_reviewer"
LOGIN_FAILED = "Sign-in failed. Check your login, passphrase and code, and try again."
THROTTLED = "Too many sign-in attempts for this login from this computer."
STRONG_PASSPHRASE = "lantern-quartz-meadow-volcano-pencil"


# -- TOTP and sign-in ---------------------------------------------------------------


def totp_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 30)


def fresh_code(account) -> str:
    """A TOTP code for a step this account has not used yet (the server refuses reuse).

    The server accepts the current step and its neighbours, so a second sign-in
    within 30 seconds uses the next step's code; a third waits for a new step.
    """
    totp = pyotp.TOTP(account.totp_secret)
    while True:
        now = totp_step()
        step = max(now, getattr(account, "_last_step", 0) + 1)
        if step <= now + 1:
            account._last_step = step
            return totp.generate_otp(step)
        time.sleep(30 - time.time() % 30 + 0.05)


def reviewer_cookie(client) -> str | None:
    cookie = client.get_cookie(REVIEWER_COOKIE)
    return cookie.value if cookie is not None else None


def set_reviewer_cookie(client, value: str) -> None:
    client.set_cookie(REVIEWER_COOKIE, value, domain="localhost", path="/")


def enter_passphrase(client, login: str, passphrase: str):
    """Step 1: GET /login, POST the passphrase. Returns the response."""
    token = csrf_from(client.get("/login").data)
    return client.post("/login", data={"csrf_token": token, "login": login, "passphrase": passphrase})


def enter_code(client, code: str, next_path: str | None = None):
    """Step 2: GET /login/code, POST the code. Returns the response."""
    page = client.get("/login/code")
    assert page.status_code == 200, page.status_code
    url = "/login/code" + (f"?next={next_path}" if next_path else "")
    return client.post(url, data={"csrf_token": csrf_from(page.data), "code": code})


def sign_in_reviewer(client, account, code: str | None = None):
    """Passphrase, then a fresh TOTP code; asserts success and returns the client."""
    response = enter_passphrase(client, account.login, account.passphrase)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code"), response.data[-1500:]
    response = enter_code(client, code or fresh_code(account))
    assert response.status_code == 302, response.data[-1500:]
    assert "/login" not in response.headers["Location"]
    return client


def signed_in_client(app, account):
    return sign_in_reviewer(app.test_client(), account)


def sign_out(client):
    page = client.get("/")
    return client.post("/logout", data={"csrf_token": csrf_from(page.data)})


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers.get("Location", "")


# -- reviewer forms -------------------------------------------------------------------


def report_url(reference: str, action: str = "") -> str:
    return f"/reports/{reference}" + (f"/{action}" if action else "")


def token_for(client, page: str = "/") -> str:
    response = client.get(page)
    assert response.status_code == 200, (page, response.status_code)
    return csrf_from(response.data)


def post_action(client, reference: str, action: str, data: dict | None = None, token: str | None = None):
    """POST one report action with a CSRF token taken from the queue page."""
    return client.post(report_url(reference, action), data={"csrf_token": token or token_for(client), **(data or {})})


def act_ok(client, reference: str, action: str, data: dict | None = None):
    response = post_action(client, reference, action, data)
    assert response.status_code == 302, (action, response.status_code, error_text(response.data))
    return response


CLOSE_REASON = "Enquiries with the unit found nothing more that professional standards could act on."
NO_REFERRAL_REASON = "The oversight body's duty team said by telephone this is for the force to handle locally."


def closing(outcome: str, reason: str = CLOSE_REASON, basis: str = "not-substantiated") -> dict:
    """The close form: an outcome, a basis from the list, and a reason of at least 40 characters; and
    the reason for not referring, which the form asks for only when the report met a mandatory-referral
    criterion and was never referred (tests/web/test_referrals.py leaves it out to see it asked for)."""
    return {"outcome": outcome, "basis": basis, "reason": reason, "no_referral_reason": NO_REFERRAL_REASON}


def error_text(page: bytes) -> str:
    match = re.search(rb'govuk-error-summary__list.*?</ul>', page, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(0).decode()) if match else ""


def page_text(response) -> str:
    return html.unescape(response.data.decode())


def attachment_ids(page: bytes) -> list[str]:
    ids = []
    for found in re.findall(rb"/files/([0-9a-f]{32})\"", page):
        if found.decode() not in ids:
            ids.append(found.decode())
    return ids


def clear_header_counts() -> None:
    """Forget the header's cached counts (overdue, approvals), which may be kept for some seconds."""
    import portal.triage.app as triage_app

    for name in ("_badges",):
        cache = getattr(triage_app, name, None)
        if isinstance(cache, dict):
            cache.clear()


# -- queue ------------------------------------------------------------------------------


def queue_total(page: bytes) -> int:
    match = re.search(rb'id="queue-count">([\d,]+) report', page)
    assert match, "queue shows no count"
    return int(match.group(1).replace(b",", b""))


def queue_rows(page: bytes) -> list[str]:
    """Each row of the queue table as text, in display order."""
    return [m.decode() for m in re.findall(rb'<tr class="govuk-table__row portal-queue__row.*?</tr>', page, re.S)]


def queue_references(page: bytes) -> list[str]:
    return [re.search(r"portal-ref\"[^>]*>([^<]+)<", row).group(1) for row in queue_rows(page)]


def queue_row(page: bytes, reference: str) -> str:
    for row in queue_rows(page):
        if f">{reference}<" in row:
            return row
    raise AssertionError(f"{reference} not in the queue")


def linked_count(page: bytes, reference: str) -> int:
    row = queue_row(page, reference)
    cell = re.findall(r'<td class="govuk-table__cell govuk-table__cell--numeric">(.*?)</td>', row, re.S)[-1]
    return int(re.sub(r"<[^>]+>", "", cell).strip().rstrip("+"))  # "100+": at least 100


# -- reports --------------------------------------------------------------------------


def read(database, query):
    """Run `query(session)` on fresh data and end the transaction at once (return plain values).

    A test's own session must not stay "idle in transaction": on PostgreSQL that
    would hold locks while the application works.
    """
    session = database.session
    session.expire_all()
    try:
        return query(session)
    finally:
        session.rollback()


def report_by_reference(database, reference: str):
    """The report row with its messages, notes, wraps and attachments, detached from the session."""
    from sqlalchemy.orm import selectinload

    from portal.reports.models import Report

    def load(session):
        report = session.scalar(
            select(Report)
            .options(selectinload(Report.messages), selectinload(Report.notes), selectinload(Report.wraps),
                     selectinload(Report.attachments))
            .where(Report.reference == reference)
        )
        if report is not None:
            session.expunge(report)
        return report

    return read(database, load)


def references(database) -> list[str]:
    from portal.reports.models import Report

    return read(database, lambda session: list(session.scalars(select(Report.reference).order_by(Report.id))))


def reporter_keys(instance_dir):
    from portal.instance import read_secret
    from portal.reports.service import ReporterKeys

    return ReporterKeys(
        pepper=read_secret(instance_dir, "receipt_pepper"),
        install_salt=read_secret(instance_dir, "receipt_salt")[:16],
        form_key=read_secret(instance_dir, "reporter_secret_key"),
        signing_seed=read_secret(instance_dir, "report_signing_key"),
    )


def screen_now(database, instance_dir) -> int:
    """Run screening once over everything waiting, as portal-screen.service does within a second
    of arrival; returns how many reports it handled."""
    from portal.config import load_settings
    from portal.triage import screener

    settings = load_settings({"instance_dir": str(instance_dir)})  # the database is the one given
    run = screener.screen_pending(database, settings, screener.load_secrets(settings), limit=10**6)
    database.remove()
    return run.total


def stand_in_for_screening(app) -> None:
    """Make a triage app screen what is waiting before each request: in production
    portal-screen.service does it within a second of arrival, with nobody signed in; tests built
    before screening existed submit a report and look at it at once."""
    from portal import state

    database, instance = state.DATABASE.get(app), state.SETTINGS.get(app).instance_dir

    @app.before_request
    def _screen_waiting_reports() -> None:
        screen_now(database, instance)


def seed_report(database, instance_dir, what_happened: str = "Seeded report", people=(), screen: bool = True,
                **answers) -> tuple[str, str]:
    """Submit one report straight through the service (no HTTP) and screen it (unless `screen`
    is false): (reference, receipt code)."""
    from portal.deadlines import Deadlines
    from portal.reports.answers import Person, ReportAnswers
    from portal.reports.service import Draft, submit_from_server

    persons = [p if isinstance(p, Person) else Person(**p) for p in people]
    with database.transaction() as session:
        report, code = submit_from_server(
            session, reporter_keys(instance_dir), Draft.new(), ReportAnswers(what_happened=what_happened, people=persons, **answers),
            Deadlines(acknowledge_days=7, feedback_days=90),
        )
        reference = report.reference
    if screen:
        screen_now(database, instance_dir)
    return reference, code


def submit_with_reference(reporter_client, database, **fields) -> tuple[str, str]:
    """Submit through the reporter interface; (reference, receipt code)."""
    from support import submit_report

    from portal import state

    before = set(references(database))
    code = submit_report(reporter_client, **fields)
    (reference,) = set(references(database)) - before
    screen_now(database, state.SETTINGS.get(reporter_client.application).instance_dir)
    return reference, code


def reporter_page(reporter_client, code: str) -> str:
    """The reporter's case page after signing in with the receipt code (fresh session each time)."""
    reporter_client.delete_cookie("portal_followup", domain="localhost", path="/")
    response = sign_in(reporter_client, code)
    assert response.status_code == 302, response.data[-1500:]
    page = reporter_client.get("/follow-up/case")
    assert page.status_code == 200
    return page_text(page)


def reporter_status(reporter_client, code: str) -> str:
    match = re.search(r'id="report-status">([^<]+)<', reporter_page(reporter_client, code))
    assert match
    return match.group(1).strip()


def integrity_checker(instance_dir):
    """What the triage host checks reports with (its pin and binding key), as `portal keys recover` does."""
    from portal.crypto.integrity import triage_binding_key
    from portal.instance import read_secret, read_signer_pin
    from portal.reports.integrity import Checker

    return Checker(read_signer_pin(instance_dir), triage_binding_key(read_secret(instance_dir, "audit_key")))


def reviewer_binder(instance_dir):
    """The triage host's signer for what reviewers write (portal.reports.integrity.triage_binder)."""
    from portal.crypto.integrity import triage_binding_key
    from portal.instance import read_secret
    from portal.reports.integrity import triage_binder

    return triage_binder(triage_binding_key(read_secret(instance_dir, "audit_key")))


def resign_as_received(database, instance_dir, reference: str) -> None:
    """Sign a report again, as the reporter host would have had it arrived on the day now stored: for tests
    that move `received_on` back in time (anyone else doing that is a database writer, and shows as altered)."""
    from portal.reports.integrity import sign_report
    from portal.reports.models import Report

    with database.transaction() as session:
        sign_report(session.scalars(select(Report).where(Report.reference == reference)).one(), reporter_keys(instance_dir).signer)
