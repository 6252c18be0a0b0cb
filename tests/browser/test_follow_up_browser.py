"""The JavaScript follow-up in Chromium (issue 18): the case is opened on the device, and the
reporter host never receives or stores anything that decrypts it.

A reporter-host compromise is simulated: after a whole JavaScript-path follow-up (sign in, read
a reviewer's reply, download and check a file, reply with a file) everything the reporter app
received (every request body, captured by the WSGI recorder), stored (the database and every
file of the instance directory) or logged is searched for the report's words, the receipt code,
the receipt secret, the reporter root and the report key. Then: a file whose ciphertext was
tampered with, truncated or reordered is refused by the browser, and nothing is offered to save;
a report stored under receipt format 1 is upgraded at its first JavaScript sign-in; and a tab
that never saw the code is told to enter it, not shown a broken page.
"""

from __future__ import annotations

import base64
import logging
import re

import pytest
from journeys import MOBILE, Report, assert_case_shows, download_evidence, fill_form, open_form, reply, send_report, shoot
from playwright.sync_api import expect
from sqlalchemy import delete, select
from triage_support import reporter_keys, reviewer_binder

from portal.blobs.models import Blob, BlobChunk
from portal.crypto.keys import ALG_WRAP_REPORTER_V2, unwrap_dek_for_reporter_root, wrap_dek_for_reporter
from portal.crypto.receipt import lookup_id, lookup_token, receipt_secret, reporter_root
from portal.db import Database
from portal.reports.models import Attachment
from portal.reports.models import Report as StoredReport
from portal.reports.receipts import find_by_token
from portal.reports.service import add_message

pytestmark = pytest.mark.browser

UNREADABLE_FILE = "That file could not be decrypted: it was damaged after it was sent. Nothing was downloaded."


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + " " + repr(record.__dict__))


def _keys(instance, code: str):
    keys = reporter_keys(instance.directory)
    secret = receipt_secret(code, keys.install_salt)
    return keys, secret, reporter_root(secret)


def _with_report(instance, code: str, action):
    """Run action(session, report, dek) on the report of `code` (the test knows the code)."""
    keys, secret, root = _keys(instance, code)
    db = Database(instance.database_url)
    try:
        with db.transaction() as session:
            report = find_by_token(session, keys.pepper, lookup_token(secret))
            assert report is not None, "no format 2 report for this code"
            return action(session, report, unwrap_dek_for_reporter_root(report.reporter_wrap, root, report.public_id))
    finally:
        db.dispose()


def _js_sign_in(page, base: str, code: str) -> None:
    page.goto(base + "/follow-up")
    page.get_by_label("Your receipt code").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(base + "/follow-up/case")
    expect(page.locator("#case[data-opened='true']")).to_have_count(1)


def _forms(value: bytes) -> list[bytes]:
    return [value, value.hex().encode(), base64.b64encode(value), base64.urlsafe_b64encode(value).rstrip(b"=")]


def test_javascript_follow_up_leaves_nothing_on_the_reporter_host_that_decrypts(browsing, reporter, instance, screenshots):
    page = browsing.new_page()
    open_form(page, reporter.url)
    report = Report()
    fill_form(page, report)
    first_post = len(reporter.recorder.posts)
    code = send_report(page)

    reviewer_reply = f"Reviewerreply{report.tag}: which shift was this?"
    dek = _with_report(instance, code, lambda s, r, dek: (add_message(s, r, dek, reviewer_reply, from_reporter=False, signer=reviewer_binder(instance.directory)), dek)[1])
    _keys_, secret, root = _keys(instance, code)

    captured = Captured()  # every record at every level, the request lines included
    root_logger, request_logger = logging.getLogger(), logging.getLogger("werkzeug")
    levels = (root_logger.level, request_logger.level)
    root_logger.addHandler(captured)
    root_logger.setLevel(logging.DEBUG)
    request_logger.setLevel(logging.DEBUG)
    try:
        before_sign_in = len(reporter.recorder.posts)
        _js_sign_in(page, reporter.url, code)
        sign_in_posts = [body for path, body in reporter.recorder.posts[before_sign_in:] if path == "/follow-up"]
        assert len(sign_in_posts) == 1 and b'name="lookup_token"' in sign_in_posts[0] or b"lookup_token=" in sign_in_posts[0]
        assert b"receipt_secret" not in sign_in_posts[0] and b"receipt_code" not in sign_in_posts[0]

        conversation = page.locator("#conversation-list")
        expect(conversation.locator(".portal-message--reviewer")).to_contain_text(reviewer_reply)
        assert_case_shows(page, report)
        expect(page.locator("#case-protection")).to_contain_text("decrypted here, on this device")
        shoot(page, screenshots, "20-follow-up-case-javascript")
        assert download_evidence(page, report.file_name) == report.file_content
        expect(page.get_by_text("Decrypted and checked.")).to_be_visible()

        message = f"Replymarker{report.tag}: yes, the night shift."
        reply_file = (f"reply-filename{report.tag}.txt", f"Replycontent{report.tag}\n".encode())
        reply(page, message, reply_file)
        expect(page.locator("#case[data-opened='true']")).to_have_count(1)
        assert download_evidence(page, reply_file[0]) == reply_file[1]
        shoot(page, screenshots, "21-follow-up-reply-sent-javascript")
        page.set_viewport_size(MOBILE)
        shoot(page, screenshots, "22-follow-up-case-javascript-mobile")
    finally:
        root_logger.removeHandler(captured)
        root_logger.setLevel(levels[0])
        request_logger.setLevel(levels[1])

    # Everything the reporter app received, stored or logged.
    received = [body for _path, body in reporter.recorder.posts[first_post:]]
    stored = {str(p): p.read_bytes() for p in instance.directory.rglob("*") if p.is_file()}
    assert any(name.endswith(".sqlite3") for name in stored), "the database file was not searched"
    logged = "\n".join(captured.lines).encode()
    assert len(received) >= 3 and logged, "nothing was captured"

    words = code.split()
    needles = {f"report's {what}": [marker.encode(), marker.lower().encode()] for what, marker in report.markers().items()}
    needles |= {
        "reviewer's reply": [f"Reviewerreply{report.tag}".encode()],
        "reporter's reply": [f"Replymarker{report.tag}".encode()],
        "reply file name": [f"reply-filename{report.tag}".encode()],
        "reply file content": [f"Replycontent{report.tag}".encode()],
        "receipt code": [code.encode(), "".join(words).encode(), "-".join(words).encode(), "+".join(words).encode()],
        "receipt secret": _forms(secret),
        "reporter root": _forms(root),
        "report key": _forms(dek),
    }
    for where, haystacks in (("a request body", received), ("a stored file", list(stored.values())), ("the logs", [logged])):
        for what, forms in needles.items():
            for haystack in haystacks:
                lowered = haystack.lower()
                assert not any(form in haystack or form.lower() in lowered for form in forms), f"{what} found in {where}"
    browsing.assert_clean()


def _rewrite_blob(instance, blob_id: bytes, change) -> bytes:
    """Replace a stored ciphertext with change(ciphertext); returns the original."""
    db = Database(instance.database_url)
    try:
        with db.transaction() as session:
            chunks = session.scalars(select(BlobChunk).where(BlobChunk.blob_id == blob_id).order_by(BlobChunk.seq)).all()
            original = b"".join(c.data for c in chunks)
            new = change(original)
            session.execute(delete(BlobChunk).where(BlobChunk.blob_id == blob_id))
            session.add(BlobChunk(blob_id=blob_id, seq=0, data=new))
            session.get(Blob, blob_id).size = len(new)
        return original
    finally:
        db.dispose()


def _reordered(stream: bytes) -> bytes:
    header, size = 19, (1 << stream[2]) + 16
    chunks = [stream[i:i + size] for i in range(header, len(stream), size)]
    assert len(chunks) >= 3
    return stream[:header] + chunks[1] + chunks[0] + b"".join(chunks[2:])


def _truncated(stream: bytes) -> bytes:
    size = (1 << stream[2]) + 16
    return stream[: 19 + 2 * size]  # whole chunks, but no final one


def _tampered(stream: bytes) -> bytes:
    flipped = bytearray(stream)
    flipped[19 + 100] ^= 0x01
    return bytes(flipped)


def test_a_tampered_truncated_or_reordered_file_is_refused_in_the_browser(browsing, reporter, instance, screenshots):
    page = browsing.new_page()
    open_form(page, reporter.url)
    report = Report()
    report.file_content = bytes(range(256)) * 1000  # 256,000 bytes: four 64 KiB chunks
    fill_form(page, report)
    code = send_report(page)
    attachment_id = _with_report(instance, code, lambda s, r, dek: r.attachments[0].public_id)
    _js_sign_in(page, reporter.url, code)
    downloads = []
    page.on("download", lambda download: downloads.append(download))

    for name, change in (("tampered", _tampered), ("truncated", _truncated), ("reordered", _reordered)):
        original = _rewrite_blob(instance, attachment_id, change)
        try:
            page.reload()
            expect(page.locator("#case[data-opened='true']")).to_have_count(1)
            page.get_by_role("link", name=report.file_name).first.click()
            expect(page.get_by_text(UNREADABLE_FILE)).to_be_visible()
            page.wait_for_timeout(300)
            assert downloads == [], f"a {name} file was offered to be saved"
            if name == "tampered":
                shoot(page, screenshots, "23-follow-up-file-refused")
        finally:
            _rewrite_blob(instance, attachment_id, lambda _damaged, kept=original: kept)
    page.reload()
    assert download_evidence(page, report.file_name) == report.file_content  # control: the intact file
    browsing.assert_clean()


def test_a_format_1_report_is_upgraded_at_its_first_javascript_sign_in(browsing, reporter, instance):
    page = browsing.new_page()
    open_form(page, reporter.url)
    report = Report()
    fill_form(page, report, attach=False)
    code = send_report(page)
    keys, secret, _root = _keys(instance, code)

    def to_format_1(session, stored, dek):
        stored.lookup_id = lookup_id(secret, keys.pepper)
        stored.reporter_wrap = wrap_dek_for_reporter(dek, secret, stored.public_id)
        stored.receipt_format = 1
        return stored.public_id

    public_id = _with_report(instance, code, to_format_1)
    browsing.expect_status("/follow-up", 400)  # the token alone finds no format 1 report: "legacy", once
    before = len(reporter.recorder.posts)
    _js_sign_in(page, reporter.url, code)
    expect(page.locator("#report-answers")).to_contain_text(report.what_happened)
    posts = [body for path, body in reporter.recorder.posts[before:] if path == "/follow-up"]
    assert len(posts) == 2 and b"receipt_secret" not in posts[0] and b"receipt_secret" in posts[1]
    db = Database(instance.database_url)
    try:
        stored = db.session.scalar(select(StoredReport).where(StoredReport.public_id == public_id))
        assert stored.receipt_format == 2 and stored.reporter_wrap[1] == ALG_WRAP_REPORTER_V2
    finally:
        db.dispose()

    page.locator("header").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(reporter.url + "/signed-out")
    before = len(reporter.recorder.posts)
    _js_sign_in(page, reporter.url, code)  # upgraded: the token alone
    posts = [body for path, body in reporter.recorder.posts[before:] if path == "/follow-up"]
    assert len(posts) == 1 and b"receipt_secret" not in posts[0]
    browsing.assert_clean()


def test_a_tab_that_never_saw_the_code_is_asked_for_it(browsing, reporter, screenshots):
    page = browsing.new_page()
    open_form(page, reporter.url)
    report = Report()
    fill_form(page, report, attach=False)
    code = send_report(page)
    _js_sign_in(page, reporter.url, code)
    other = browsing.new_page()
    other.context.add_cookies(page.context.cookies())  # the session cookie, but not this tab's storage
    other.goto(reporter.url + "/follow-up/case")
    expect(other.get_by_text("Your case can only be opened in the browser window where you entered your code.")).to_be_visible()
    expect(other.locator("#case-opened")).to_be_hidden()
    expect(other.get_by_text(re.compile(report.what_happened[:20]))).to_have_count(0)
    shoot(other, screenshots, "24-follow-up-case-no-key")
    browsing.assert_clean()


def test_attachment_rows_hold_only_sealed_details(instance):
    db = Database(instance.database_url)
    try:
        for attachment in db.session.scalars(select(Attachment)):
            assert attachment.sealed_meta[:2] == b"\x01\x01"
    finally:
        db.dispose()


@pytest.mark.parametrize("keys_answer", ["missing", "no-screening-key"])
def test_without_published_keys_javascript_sends_nothing_rather_than_plaintext(browsing, reporter, keys_answer):
    """Found by the attacker review: with JavaScript on, a /keys.json that failed or lacked the
    screening key made the form post itself as it was (the no-JavaScript form), so the reporter
    host received the report in clear. Now the reporter is told, and nothing is posted."""
    import json

    from journeys import assert_form_kept

    page = browsing.new_page()
    posted = []
    page.on("request", lambda request: posted.append(request.url) if request.method == "POST" else None)

    def keys(route):
        if keys_answer == "missing":
            return route.fulfill(status=503, body="")
        response = route.fetch()
        published = response.json()
        published.pop("screening", None)
        return route.fulfill(response=response, body=json.dumps(published))

    page.route("**/keys.json", keys)
    open_form(page, reporter.url)
    report = Report()
    fill_form(page, report, attach=False)
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_text("nothing was sent")).to_be_visible()
    assert not [url for url in posted if url.endswith("/report")], posted
    assert_form_kept(page, report)
