"""Receipt format v2 on the reporter host (issue 18): with JavaScript the server is given a
lookup token, never the receipt secret, holds nothing in the session that opens the case,
and hands the browser only sealed records. Reports stored under format 1 are upgraded at
their next sign-in. (The Chromium side is tests/browser/test_follow_up_browser.py.)"""

from __future__ import annotations

import base64
import io
import os

from sqlalchemy import select
from support import csrf_from, sign_in, submit_report, work_fields
from triage_support import reporter_keys

from portal.crypto import CryptoError
from portal.crypto.envelope import open_record, seal_record
from portal.crypto.keys import ALG_WRAP_REPORTER, ALG_WRAP_REPORTER_V2, unwrap_dek_for_reporter_root, wrap_dek_for_reporter
from portal.crypto.receipt import lookup_id, lookup_id_v2, lookup_token, receipt_secret, reporter_root
from portal.crypto.stream import decrypt_stream
from portal.reports.answers import MessageBody
from portal.reports.models import Attachment, Message, Report
from portal.reports.service import reporter_dek

MARKER = "Marker-LookupToken-5519"


def _secret(client, code: str) -> bytes:
    return receipt_secret(code, bytes.fromhex(client.get("/keys.json").get_json()["install_salt"]))


def _js_sign_in(client, token: bytes, secret: bytes | None = None):
    data = {"csrf_token": csrf_from(client.get("/follow-up").data), "mode": "browser", "lookup_token": token.hex(),
            **work_fields(client, "sign-in")}
    if secret is not None:
        data["receipt_secret"] = secret.hex()
    return client.post("/follow-up", data=data, headers={"Accept": "application/json"})


def _report(database) -> Report:
    with database.transaction() as session:
        report = session.scalars(select(Report)).one()
        session.expunge(report)
        return report


def _make_format_1(database, instance_dir, secret: bytes) -> None:
    """Rewrite the one stored report as the portal stored every report before format 2."""
    pepper = reporter_keys(instance_dir).pepper
    with database.transaction() as session:
        report = session.scalars(select(Report)).one()
        dek = reporter_dek(report, secret)
        report.lookup_id = lookup_id(secret, pepper)
        report.reporter_wrap = wrap_dek_for_reporter(dek, secret, report.public_id)
        report.receipt_format = 1


# -- what is stored ---------------------------------------------------------------------------


def test_a_new_report_is_stored_under_format_2(reporter_client, database, instance_dir):
    code = submit_report(reporter_client, what_happened=MARKER)
    secret = _secret(reporter_client, code)
    report = _report(database)
    assert report.receipt_format == 2
    assert report.lookup_id == lookup_id_v2(lookup_token(secret), reporter_keys(instance_dir).pepper)
    assert report.lookup_id != lookup_id(secret, reporter_keys(instance_dir).pepper)
    assert report.reporter_wrap[:2] == bytes([1, ALG_WRAP_REPORTER_V2])
    dek = unwrap_dek_for_reporter_root(report.reporter_wrap, reporter_root(secret), report.public_id)
    assert MARKER.encode() in open_record(dek, report.public_id, "report", report.sealed_report)
    for what_the_server_is_sent in (lookup_token(secret), report.lookup_id):
        try:
            unwrap_dek_for_reporter_root(report.reporter_wrap, what_the_server_is_sent, report.public_id)
        except CryptoError:
            continue
        raise AssertionError("the lookup token opened the reporter wrap")


# -- the JavaScript sign-in and session ---------------------------------------------------------


def test_a_javascript_sign_in_sends_the_token_and_its_session_holds_no_secret(reporter_client, database, reporter_app):
    code = submit_report(reporter_client, what_happened=MARKER)
    secret = _secret(reporter_client, code)
    response = _js_sign_in(reporter_client, lookup_token(secret))
    assert response.status_code == 200 and response.get_json() == {"ok": True, "next": "/follow-up/case"}
    cookie = reporter_client.get_cookie("portal_followup").value
    with reporter_app.app_context():
        from portal import state

        with state.database().transaction() as db:
            payload = state.server_sessions().load(db, cookie)
    assert payload == {"report": _report(database).public_id.hex(), "proof": "lookup-token"}
    page = reporter_client.get("/follow-up/case")
    assert page.status_code == 200
    body = page.data.decode()
    assert "data-key" not in body and MARKER not in body and secret.hex() not in body
    assert 'src="/static/js/case.js"' in body and "decrypted here, on this device" in body


def test_the_case_comes_as_sealed_records_the_reporter_root_opens(reporter_client, database):
    code = submit_report(reporter_client, what_happened=MARKER,
                         evidence=[(io.BytesIO(b"Evidence-" + MARKER.encode()), "statement.txt")])
    secret = _secret(reporter_client, code)
    assert _js_sign_in(reporter_client, lookup_token(secret)).status_code == 200
    response = reporter_client.get("/follow-up/case.json")
    assert response.status_code == 200 and response.headers["Cache-Control"].startswith("no-store")
    assert MARKER not in response.data.decode() and "statement.txt" not in response.data.decode()
    sealed = response.get_json()
    report_id = bytes.fromhex(sealed["report_id"])
    dek = unwrap_dek_for_reporter_root(base64.b64decode(sealed["reporter_wrap"]), reporter_root(secret), report_id)
    assert MARKER.encode() in open_record(dek, report_id, "report", base64.b64decode(sealed["sealed_report"]))
    [attachment] = sealed["attachments"]
    assert attachment["message_id"] is None
    meta = open_record(dek, report_id, "attachment-meta", base64.b64decode(attachment["sealed_meta"]), bytes.fromhex(attachment["id"]))
    assert b"statement.txt" in meta
    # The file comes as its stored ciphertext, never decrypted by the server.
    download = reporter_client.get(f"/follow-up/files/{attachment['id']}/sealed")
    assert download.status_code == 200 and b"Evidence-" not in download.data
    assert download.headers["Content-Disposition"].startswith("attachment") and "sandbox" in download.headers["Content-Security-Policy"]
    assert len(download.data) == attachment["ciphertext_bytes"]
    plain = io.BytesIO()
    decrypt_stream(dek, report_id, bytes.fromhex(attachment["id"]), io.BytesIO(download.data), plain)
    assert plain.getvalue() == b"Evidence-" + MARKER.encode()
    assert reporter_client.get(f"/follow-up/files/{'00' * 16}/sealed").status_code == 404


def test_a_javascript_session_cannot_make_the_server_decrypt_or_seal(reporter_client, database):
    code = submit_report(reporter_client, what_happened=MARKER, evidence=[(io.BytesIO(b"file"), "a.txt")])
    assert _js_sign_in(reporter_client, lookup_token(_secret(reporter_client, code))).status_code == 200
    attachment_id = reporter_client.get("/follow-up/case.json").get_json()["attachments"][0]["id"]
    refused = reporter_client.get(f"/follow-up/files/{attachment_id}")
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert "this server cannot open it" in refused.data.decode()
    before = _counts(database)
    form = reporter_client.post("/follow-up/reply", data={"csrf_token": csrf_from(reporter_client.get("/follow-up/case").data),
                                                          "message": "typed without JavaScript",
                                                          "evidence": (io.BytesIO(b"x"), "x.txt")},
                                content_type="multipart/form-data")
    assert form.status_code == 400 and "this server cannot open it" in form.data.decode()
    assert _counts(database) == before


def test_a_reply_sealed_in_the_browser_is_stored_without_the_server_holding_the_key(reporter_client, database):
    code = submit_report(reporter_client)
    secret = _secret(reporter_client, code)
    assert _js_sign_in(reporter_client, lookup_token(secret)).status_code == 200
    sealed = reporter_client.get("/follow-up/case.json").get_json()
    report_id = bytes.fromhex(sealed["report_id"])
    dek = unwrap_dek_for_reporter_root(base64.b64decode(sealed["reporter_wrap"]), reporter_root(secret), report_id)
    message_id = os.urandom(16)
    body = seal_record(dek, report_id, "message", MessageBody("Reply-" + MARKER).to_json(), message_id)
    response = reporter_client.post("/follow-up/reply", data={
        "csrf_token": csrf_from(reporter_client.get("/follow-up/case").data), "mode": "browser",
        **work_fields(reporter_client, "reply"), "message_id": message_id.hex(),
        "sealed_message": base64.b64encode(body).decode()}, content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.get_json()["ok"] is True
    [message] = reporter_client.get("/follow-up/case.json").get_json()["messages"]
    assert message["id"] == message_id.hex() and message["from_reporter"] is True
    assert base64.b64decode(message["sealed_body"]) == body


def _counts(database) -> tuple[int, int]:
    with database.transaction() as session:
        return len(session.scalars(select(Message)).all()), len(session.scalars(select(Attachment)).all())


def test_a_wrong_token_is_the_wrong_code_message_and_asks_for_no_secret(reporter_client):
    submit_report(reporter_client)
    response = _js_sign_in(reporter_client, os.urandom(32))
    assert response.status_code == 400
    body = response.get_json()
    assert body["errors"][0]["message"].startswith("We could not find a report with that code")
    assert "legacy" not in body  # no format 1 report remains: the browser is never asked for its secret
    assert reporter_client.get_cookie("portal_followup") is None


# -- reports stored under format 1 -----------------------------------------------------------------


def test_a_format_1_report_is_upgraded_at_its_first_javascript_sign_in(reporter_client, database, instance_dir):
    code = submit_report(reporter_client, what_happened=MARKER)
    secret = _secret(reporter_client, code)
    _make_format_1(database, instance_dir, secret)
    old = _report(database)
    assert old.reporter_wrap[1] == ALG_WRAP_REPORTER

    asked = _js_sign_in(reporter_client, lookup_token(secret))  # the token alone finds nothing yet
    assert asked.status_code == 400 and asked.get_json()["legacy"] is True
    assert reporter_client.get_cookie("portal_followup") is None
    assert _js_sign_in(reporter_client, lookup_token(secret), secret).status_code == 200  # sent once, as format 1 did

    new = _report(database)
    pepper = reporter_keys(instance_dir).pepper
    assert new.receipt_format == 2 and new.lookup_id == lookup_id_v2(lookup_token(secret), pepper) != old.lookup_id
    assert new.reporter_wrap[1] == ALG_WRAP_REPORTER_V2
    dek = unwrap_dek_for_reporter_root(new.reporter_wrap, reporter_root(secret), new.public_id)
    assert MARKER.encode() in open_record(dek, new.public_id, "report", new.sealed_report)  # same key, same content
    with database.transaction() as session:  # nothing keyed on the secret itself remains
        assert session.scalar(select(Report.id).where(Report.lookup_id == lookup_id(secret, pepper))) is None

    reporter_client.delete_cookie("portal_followup")
    again = _js_sign_in(reporter_client, lookup_token(secret))  # from now on: the token alone
    assert again.status_code == 200 and again.get_json()["ok"] is True


def test_a_format_1_report_is_upgraded_at_a_sign_in_without_javascript(reporter_client, database, instance_dir):
    code = submit_report(reporter_client, what_happened=MARKER)
    secret = _secret(reporter_client, code)
    _make_format_1(database, instance_dir, secret)
    assert sign_in(reporter_client, code).status_code == 302
    assert MARKER in reporter_client.get("/follow-up/case").data.decode()  # the no-JavaScript page, as before
    assert _report(database).receipt_format == 2
    reporter_client.delete_cookie("portal_followup")
    assert _js_sign_in(reporter_client, lookup_token(secret)).status_code == 200


def test_a_secret_that_opens_nothing_upgrades_nothing(reporter_client, database, instance_dir):
    code = submit_report(reporter_client)
    secret = _secret(reporter_client, code)
    _make_format_1(database, instance_dir, secret)
    before = _report(database)
    wrong = os.urandom(32)
    response = _js_sign_in(reporter_client, lookup_token(wrong), wrong)
    assert response.status_code == 400 and "legacy" not in response.get_json()
    after = _report(database)
    assert (after.receipt_format, after.lookup_id, after.reporter_wrap) == (1, before.lookup_id, before.reporter_wrap)


def test_the_pages_say_in_plain_words_what_the_server_sees_on_each_path(reporter_client):
    sign_in_page = reporter_client.get("/follow-up").data.decode()
    assert "With JavaScript on, your code is checked on this device and never sent." in sign_in_page
    assert "Without JavaScript, your code is sent to the public server, which uses it to decrypt" in sign_in_page
    start = reporter_client.get("/").data.decode()
    protect = start[start.index('id="how-we-protect-you"'):]
    assert "your code never leaves your device" in protect and "the public server uses your code to decrypt" in protect
