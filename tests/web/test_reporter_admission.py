"""Intake that one anonymous client cannot silence (issue #11), through the reporter app.

* With JavaScript, sign-in posts the secret the browser derived plus a solved challenge: the
  server runs no Argon2id, and without a solved, unspent challenge nothing is looked up.
* A report sealed in the browser is refused, with nothing written, unless it carries proof of work.
* Without JavaScript, Argon2id passes the gate; when the gate is full the reporter gets a busy
  page that keeps what they typed and the files they attached.
* Once the day's file cap is reached, files are refused with a message and reports still accepted.
"""

from __future__ import annotations

import io
import os

import pytest
from sqlalchemy import func, select
from support import browser_report, csrf_from, post_browser_report, receipt_from, sign_in, submit_report, work_fields

from portal.blobs import Blob
from portal.crypto import receipt as receipt_module
from portal.crypto.receipt import generate_receipt_code, lookup_token, receipt_secret
from portal.reports.models import Report


@pytest.fixture
def argon2_calls(monkeypatch):
    calls = []
    real = receipt_module.argon2id
    monkeypatch.setattr(receipt_module, "argon2id", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def install_salt(client) -> bytes:
    return bytes.fromhex(client.get("/keys.json").get_json()["install_salt"])


def browser_sign_in(client, secret: bytes, work: dict | None):
    """What sign-in.js posts: the lookup token of the receipt secret (a malformed `secret` is posted as it is)."""
    token = csrf_from(client.get("/follow-up").data)
    lookup = lookup_token(secret) if len(secret) == 32 else secret
    return client.post("/follow-up", data={"csrf_token": token, "mode": "browser", "lookup_token": lookup.hex(), **(work or {})})


def report_count(database) -> int:
    with database.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Report))


def blob_count(database) -> int:
    with database.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Blob))


# -- the JavaScript path ------------------------------------------------------------------------


def test_browser_sign_in_runs_no_argon2id_on_the_server(reporter_client, argon2_calls):
    code = submit_report(reporter_client)
    secret = receipt_secret(code, install_salt(reporter_client))  # what sign-in.js derives on the device
    argon2_calls.clear()
    response = browser_sign_in(reporter_client, secret, work_fields(reporter_client, "sign-in"))
    assert response.status_code == 200 and response.get_json() == {"ok": True, "next": "/follow-up/case"}
    assert reporter_client.get_cookie("portal_followup") is not None
    assert argon2_calls == []
    assert reporter_client.get("/follow-up/case").status_code == 200


def test_browser_sign_in_needs_a_solved_unspent_challenge_for_sign_in(reporter_client, argon2_calls):
    code = submit_report(reporter_client)
    secret = receipt_secret(code, install_salt(reporter_client))
    for work in (None, {"pow_challenge": "x", "pow_solution": "1"}, work_fields(reporter_client, "report")):
        response = browser_sign_in(reporter_client, secret, work)
        assert response.status_code == 400
        body = response.get_json()
        assert body["ok"] is False and body["retry"] == "work" and body["csrf_token"]
        assert reporter_client.get_cookie("portal_followup") is None
    work = work_fields(reporter_client, "sign-in")
    assert browser_sign_in(reporter_client, secret, work).status_code == 200
    reporter_client.delete_cookie("portal_followup")
    assert browser_sign_in(reporter_client, secret, work).status_code == 400  # replayed
    assert reporter_client.get_cookie("portal_followup") is None


def test_browser_sign_in_with_a_wrong_secret_is_the_wrong_code_message(reporter_client):
    submit_report(reporter_client)
    for secret in (os.urandom(32), b"", b"short"):
        response = browser_sign_in(reporter_client, secret, work_fields(reporter_client, "sign-in"))
        assert response.status_code == 400
        assert response.get_json()["errors"] == [{"field": "receipt_code", "message":
                                                  "We could not find a report with that code. Check each word and try again."}]


def test_a_browser_report_without_proof_of_work_writes_nothing(reporter_client, database):
    secret = os.urandom(32)
    fields = browser_report(reporter_client, secret)
    attachment = ("attachment." + "ab" * 16, b"\x01\x03\x10" + b"c" * 5000)
    for work in (None, {"pow_challenge": "forged", "pow_solution": "7"}, work_fields(reporter_client, "sign-in")):
        response = post_browser_report(reporter_client, fields, work, files=[attachment])
        assert response.status_code == 400 and response.get_json()["retry"] == "work"
        assert report_count(database) == 0 and blob_count(database) == 0
    response = post_browser_report(reporter_client, fields, work_fields(reporter_client, "report"))
    assert response.status_code == 200 and response.get_json() == {"ok": True, "sent": "/report/sent"}
    assert report_count(database) == 1


def test_challenges_are_free_to_ask_for_uncached_and_only_for_known_actions(reporter_client):
    for action in ("report", "sign-in", "reply"):
        response = reporter_client.get(f"/challenge/{action}")
        assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
        body = response.get_json()
        assert body["algorithm"] == "SHA-256" and body["max"] == 2000 and len(body["salt"]) == 32
        assert response.headers.getlist("Set-Cookie") == []
    assert reporter_client.get("/challenge/delete").status_code == 404


def test_only_redeemed_work_raises_the_price_never_free_junk(make_app):
    """Flood benchmark finding: 300 empty posts a second pushed the price to its ceiling and an
    honest JavaScript round to 12 s. Junk now moves nothing; paying is the only way up."""
    client = make_app(pow_idle_per_minute=5).test_client()
    assert client.get("/challenge/report").get_json()["max"] == 2000
    for _ in range(40):  # no token, no work, wrong work: each refused by a cheap check
        assert client.post("/follow-up", data={"receipt_code": "x"}).status_code == 403
        assert browser_sign_in(client, os.urandom(32), {"pow_challenge": "forged", "pow_solution": "1"}).status_code == 400
    assert client.get("/challenge/report").get_json()["max"] == 2000
    for _ in range(20):  # twenty solved challenges (wrong secrets: the work is what counts)
        assert browser_sign_in(client, os.urandom(32), work_fields(client, "sign-in")).status_code == 400
    assert client.get("/challenge/report").get_json()["max"] == 2000 * 16


# -- the no-JavaScript path ---------------------------------------------------------------------


def test_a_full_gate_gives_a_busy_page_that_keeps_the_answers_and_the_files(make_app, database):
    app = make_app(argon2_max_waiting=0)
    client = app.test_client()
    gate = app.extensions["portal.admission"].gate
    token = csrf_from(client.get("/report").data)
    with gate.admit():  # another reporter's derivation holds the only slot
        response = client.post("/report", content_type="multipart/form-data", data={
            "csrf_token": token, "draft": "", "what_happened": "Typed before the rush", "where_happened": "Eastgate",
            "evidence": (io.BytesIO(b"evidence bytes" * 100), "rota.pdf")})
    assert response.status_code == 503
    page = response.data.decode()
    assert "very busy" in page and "Typed before the rush</textarea>" in page and 'value="Eastgate"' in page
    assert "rota.pdf" in page  # kept, encrypted, in the draft
    assert report_count(database) == 0 and blob_count(database) == 1
    draft = page.split('name="draft" value="')[1].split('"')[0]
    response = client.post("/report", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(response.data), "draft": draft, "what_happened": "Typed before the rush"})
    assert response.status_code == 200
    code = receipt_from(response.data)
    assert sign_in(client, code).status_code == 302


def test_a_full_gate_keeps_the_typed_code_and_a_retry_gets_in(make_app):
    app = make_app(argon2_max_waiting=0)
    client = app.test_client()
    code = submit_report(client)
    with app.extensions["portal.admission"].gate.admit():
        response = sign_in(client, code)
    assert response.status_code == 503 and b"very busy" in response.data
    assert client.get_cookie("portal_followup") is None
    assert sign_in(client, code).status_code == 302


def test_a_malformed_code_costs_no_argon2id_and_a_wrong_one_exactly_one(reporter_client, argon2_calls):
    assert sign_in(reporter_client, "these are not eight real words at all").status_code == 400
    assert argon2_calls == []
    assert sign_in(reporter_client, generate_receipt_code()).status_code == 400
    assert len(argon2_calls) == 1


# -- storage ------------------------------------------------------------------------------------


def test_past_the_daily_file_cap_files_are_refused_and_reports_still_accepted(make_app, database):
    client = make_app(daily_file_bytes_cap=3000).test_client()
    token = csrf_from(client.get("/report").data)
    response = client.post("/report", content_type="multipart/form-data", data={
        "csrf_token": token, "draft": "", "what_happened": "First, with a file",
        "evidence": (io.BytesIO(b"a" * 4000), "first.pdf")})
    assert response.status_code == 200  # below the cap when it started
    token = csrf_from(client.get("/report").data)
    response = client.post("/report", content_type="multipart/form-data", data={
        "csrf_token": token, "draft": "", "what_happened": "Second, over the cap",
        "evidence": (io.BytesIO(b"b" * 100), "second.pdf")})
    assert response.status_code == 400
    assert "cannot accept more files today" in response.data.decode()
    assert "Second, over the cap</textarea>" in response.data.decode()
    assert blob_count(database) == 1
    response = client.post("/report", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(response.data), "draft": "", "what_happened": "Second, over the cap"})
    assert response.status_code == 200 and report_count(database) == 2
