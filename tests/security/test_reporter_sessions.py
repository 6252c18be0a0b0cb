"""The reporter's follow-up session: the server keeps nothing that opens it.

The session row holds the receipt secret (from which the reporter's key pair
and the report's data key follow) only sealed under a key that lives in the
cookie; the row is found by a hash of the session id. Deleting the row ends the
session, whatever the browser still holds.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from sqlalchemy import delete, func, select
from support import csrf_from, receipt_from, sign_in

from portal.app import create_app
from portal.crypto.receipt import receipt_secret
from portal.instance import read_secret
from portal.reports.models import Report
from portal.sessions import ID_LEN, KEY_LEN, ReviewerSession, ServerSession

COOKIE = "portal_followup"


@pytest.fixture
def client(reporter_app):
    return reporter_app.test_client()


def report_and_sign_in(client) -> tuple[str, str]:
    """A report through the form, then sign-in; returns (receipt code, cookie value)."""
    token = csrf_from(client.get("/report").data)
    response = client.post("/report", content_type="multipart/form-data",
                           data={"csrf_token": token, "draft": "", "what_happened": "Session test"})
    code = receipt_from(response.data)
    response = sign_in(client, code)
    assert response.status_code == 302
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return code, cookie.value


def session_rows(database) -> list[dict]:
    with database.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(ServerSession.__table__))]


def row_bytes(row: dict) -> bytes:
    return b"\n".join(bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else str(v).encode() for v in row.values())


def test_session_row_holds_no_receipt_secret_in_clear(client, database, instance_dir):
    code, cookie = report_and_sign_in(client)
    install_salt = read_secret(instance_dir, "receipt_salt")[:16]
    secret = receipt_secret(code, install_salt)
    rows = session_rows(database)
    assert len(rows) == 1
    row = rows[0]
    assert row["kind"] == "reporter"
    stored = row_bytes(row)
    lowered = stored.lower()
    for needle in (secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret),
                   base64.urlsafe_b64encode(secret).rstrip(b"="), code.encode(), "-".join(code.split()).encode(),
                   "".join(code.split()).encode()):
        assert needle not in stored and needle.lower() not in lowered, needle

    # the report it opens is not named in clear either
    with database.engine.connect() as connection:
        public_id, lookup = connection.execute(select(Report.public_id, Report.lookup_id)).one()
    for needle in (public_id, public_id.hex().encode(), lookup, lookup.hex().encode()):
        assert needle not in lowered and needle not in stored

    # nor is the cookie, or either of its halves: the row is found by a hash of the id
    raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    assert len(raw) == ID_LEN + KEY_LEN
    session_id, key = raw[:ID_LEN], raw[ID_LEN:]
    for needle in (cookie.encode(), session_id, key, session_id.hex().encode(), key.hex().encode()):
        assert needle not in stored
    assert row["id_hash"] == hashlib.sha256(session_id).digest()
    # the sealed payload is not JSON (nor base64 of JSON) that anyone could read
    assert b'"secret"' not in row["sealed_payload"] and b"report" not in row["sealed_payload"]


def test_a_second_sign_in_gets_a_new_unrelated_session(reporter_app, database):
    first = reporter_app.test_client()
    code, cookie_one = report_and_sign_in(first)
    second = reporter_app.test_client()
    assert sign_in(second, code).status_code == 302
    cookie_two = second.get_cookie(COOKIE).value
    assert cookie_one != cookie_two
    rows = session_rows(database)
    assert len(rows) == 2
    assert rows[0]["sealed_payload"] != rows[1]["sealed_payload"]
    # signing one out leaves the other alive
    page = first.get("/follow-up/case").data
    assert first.post("/follow-up/sign-out", data={"csrf_token": csrf_from(page)}).status_code == 302
    assert second.get("/follow-up/case").status_code == 200
    assert len(session_rows(database)) == 1


def test_deleting_the_row_ends_the_session_even_with_the_cookie(client, database):
    _, cookie = report_and_sign_in(client)
    assert client.get("/follow-up/case").status_code == 200
    with database.transaction() as session:
        session.execute(delete(ServerSession))
    for path in ("/follow-up/case", "/follow-up/files/" + "00" * 16):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/follow-up?expired=1"), path
    # presenting the same cookie again changes nothing
    client.set_cookie(COOKIE, cookie, domain="localhost", path="/")
    response = client.post("/follow-up/reply", content_type="multipart/form-data", data={"message": "after delete"})
    assert response.status_code == 401 and b"Your message was not sent" in response.data  # shown back, not stored


def test_a_copied_row_does_not_open_without_the_cookie_key(client, database):
    """With the row (a database copy) and the session id, but a different key, nothing opens."""
    _, cookie = report_and_sign_in(client)
    raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    forged = base64.urlsafe_b64encode(raw[:ID_LEN] + bytes(KEY_LEN)).decode().rstrip("=")
    client.set_cookie(COOKIE, forged, domain="localhost", path="/")
    response = client.get("/follow-up/case")
    assert response.status_code == 302 and response.headers["Location"].endswith("/follow-up?expired=1")


def test_reporter_session_store_refuses_other_kinds(reporter_app, settings_overrides, database):
    """A reviewer-kind row, even with its genuine cookie value, is not a reporter session."""
    triage = create_app("triage", settings_overrides)
    try:
        reviewer_store = triage.extensions["portal.sessions"]
        with database.transaction() as session:
            value = reviewer_store.create(session, {"report": "00" * 16, "secret": "11" * 32, "reviewer": 1, "stage": "full"},
                                         reviewer_id=1)
        client = reporter_app.test_client()
        client.set_cookie(COOKIE, value, domain="localhost", path="/")
        response = client.get("/follow-up/case")
        assert response.status_code == 302 and response.headers["Location"].endswith("/follow-up?expired=1")
        assert session_rows(database) == []  # reviewers' sessions are not in the reporter's table at all
        with database.transaction() as session:
            assert session.scalar(select(func.count()).select_from(ReviewerSession)) == 1  # and it was left alone
    finally:
        triage.extensions["portal.db"].dispose()
