"""Broken items never break a page (issue #14).

Anyone holding the receipt code, or anyone who can write to the database, can put something in
front of reviewers that does not decrypt: a reply, an internal note, a file's sealed details, a
safe copy's details, or a file's ciphertext. Each is shown as "could not be decrypted", on the
triage report page and on the reporter's case page, and the rest of the report stays readable
and downloadable; nothing answers 500. A reply sealed in the browser that does not open under the
case's key is refused with a 400 before anything is stored.
"""

from __future__ import annotations

import io
import os
import re

import pytest
from PIL import Image
from sqlalchemy import func, select, update
from support import BLOB_STORES, blob_files, browser_reply, csrf_from, sign_in
from test_adversarial_common import assert_graceful
from triage_support import post_action, read, report_by_reference, sign_in_reviewer, submit_with_reference

from portal.blobs.models import Blob, BlobChunk
from portal.crypto.envelope import new_data_key
from portal.reports.models import Attachment, InternalNote, Message, SafeCopy

WHAT_HAPPENED = "The report itself stays readable"
KEPT_REPLY = "A second reply that is fine"
KEPT_NOTE = "A note that is fine"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 90, 200)).save(out, format="JPEG")
    return out.getvalue()


JPEG = _jpeg()
TEXT_FILE = b"a text file that is fine"


def _ids(page: bytes) -> list[str]:
    found = []
    for file_id in re.findall(r'id="file-([0-9a-f]{32})"', page.decode()):
        if file_id not in found:
            found.append(file_id)
    return found


def _shows(page: str, name: str) -> bool:
    """The file's name is on the page: whole (reporter) or as stem and extension tag (triage)."""
    stem, _, extension = name.rpartition(".")
    return name in page or re.search(rf'portal-file__name">{re.escape(stem)}</span> <strong[^>]*>{extension}</strong>',
                                     page) is not None


def _no_js_reply(client, text: str, files=()):
    token = csrf_from(client.get("/follow-up/case").data)
    data = {"csrf_token": token, "message": text}
    if files:
        data["evidence"] = [(io.BytesIO(content), name, ctype) for name, ctype, content in files]
    response = client.post("/follow-up/reply", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.data[-1500:]


@pytest.fixture
def case(triage_app, reporter_client, database, lead):
    """A report with two files, two replies from the reporter and two internal notes."""
    reference, code = submit_with_reference(
        reporter_client, database, what_happened=WHAT_HAPPENED,
        evidence=[(io.BytesIO(JPEG), "photo.jpg", "image/jpeg"), (io.BytesIO(TEXT_FILE), "kept.txt", "text/plain")])
    assert sign_in(reporter_client, code).status_code == 302
    _no_js_reply(reporter_client, "A first reply, to be poisoned")
    _no_js_reply(reporter_client, KEPT_REPLY)
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    for text in ("A note to be poisoned", KEPT_NOTE):
        assert post_action(reviewer, reference, "note", {"text": text}).status_code == 302
    report = report_by_reference(database, reference)
    messages = sorted((m for m in report.messages if m.from_reporter), key=lambda m: m.id)
    notes = sorted(report.notes, key=lambda n: n.id)
    return {"reference": reference, "code": code, "reviewer": reviewer, "reporter": reporter_client, "report": report,
            "messages": messages, "notes": notes}


def _write(database, statement) -> None:
    """What a database writer does, behind the application's back."""
    with database.transaction() as session:
        session.execute(statement)


def _junk(kind: str, other: bytes) -> bytes:
    return {"random": os.urandom(90), "empty": b"", "truncated": other[:20], "swapped": other}[kind]


def _pages(case) -> tuple[str, str]:
    """(triage report page, reporter case page), both asserted to answer 200."""
    triage = case["reviewer"].get(f"/reports/{case['reference']}")
    reporter = case["reporter"].get("/follow-up/case")
    assert_graceful(triage)
    assert_graceful(reporter)
    assert triage.status_code == 200 and reporter.status_code == 200
    return triage.data.decode(), reporter.data.decode()


@pytest.mark.parametrize("kind", ["random", "empty", "truncated", "swapped"])
def test_a_poisoned_reply_leaves_both_pages_working(case, database, kind):
    first, second = case["messages"]
    junk = _junk(kind, second.sealed_body)  # "swapped": another message's sealed body, genuine but not this one's
    _write(database, update(Message).where(Message.id == first.id).values(sealed_body=junk))
    triage, reporter = _pages(case)
    assert "This message was altered after it was received" in triage  # its signature fails (issue 19)
    assert "This message could not be decrypted" in reporter
    for page in (triage, reporter):
        assert WHAT_HAPPENED in page and KEPT_REPLY in page and _shows(page, "kept.txt") and _shows(page, "photo.jpg")
        assert "A first reply, to be poisoned" not in page
    assert KEPT_NOTE in triage
    # the reviewer can still act on the report and the reporter can still reply
    assert post_action(case["reviewer"], case["reference"], "message", {"text": "We have read it"}).status_code == 302
    _no_js_reply(case["reporter"], "A third reply")
    triage, reporter = _pages(case)
    assert "We have read it" in reporter and "A third reply" in triage


@pytest.mark.parametrize("kind", ["random", "empty", "truncated", "swapped"])
def test_a_poisoned_note_leaves_both_pages_working(case, database, kind):
    first, second = case["notes"]
    _write(database, update(InternalNote).where(InternalNote.id == first.id).values(sealed_body=_junk(kind, second.sealed_body)))
    triage, reporter = _pages(case)
    assert "This note was altered after it was written" in triage  # its binding fails (issue 19)
    assert KEPT_NOTE in triage and "A note to be poisoned" not in triage
    for page in (triage, reporter):
        assert WHAT_HAPPENED in page and KEPT_REPLY in page and _shows(page, "kept.txt")
    assert "could not be decrypted" not in reporter  # notes are never shown to the reporter
    assert post_action(case["reviewer"], case["reference"], "note", {"text": "Another note"}).status_code == 302
    assert "Another note" in _pages(case)[0]


@pytest.mark.parametrize("kind", ["random", "empty", "swapped"])
def test_a_poisoned_file_record_leaves_both_pages_working(case, database, kind):
    photo, kept = sorted(case["report"].attachments, key=lambda a: a.id)
    junk = _junk(kind, kept.sealed_meta)
    _write(database, update(Attachment).where(Attachment.id == photo.id).values(sealed_meta=junk))
    triage, reporter = _pages(case)
    # A file sent with the report is in the report's signed statement (issue 19): reviewers see the whole
    # report as altered, with what failed, and none of it; the reporter's page still works around the item.
    assert "This report was altered after it was received" in triage and "signature does not match" in triage
    assert WHAT_HAPPENED not in triage and not _shows(triage, "photo.jpg")
    assert "A file whose details could not be decrypted" in reporter
    assert WHAT_HAPPENED in reporter and KEPT_REPLY in reporter and _shows(reporter, "kept.txt")
    assert not _shows(reporter, "photo.jpg")
    # the reporter can still download the file itself, under a neutral name; reviewers are refused it
    response = case["reporter"].get(f"/follow-up/files/{photo.public_id.hex()}")
    assert response.status_code == 200 and response.data == JPEG
    assert response.headers["Content-Disposition"] == 'attachment; filename="file"'
    response = case["reviewer"].get(f"/reports/{case['reference']}/files/{kept.public_id.hex()}")
    assert response.status_code == 302 and TEXT_FILE not in response.data


def test_a_poisoned_safe_copy_record_leaves_the_page_working(case, database):
    photo = sorted(case["report"].attachments, key=lambda a: a.id)[0]
    reviewer, reference = case["reviewer"], case["reference"]
    url = f"/reports/{reference}/files/{photo.public_id.hex()}/safe-copy"
    assert reviewer.post(url, data={"csrf_token": csrf_from(reviewer.get(f"/reports/{reference}").data)}).status_code == 302
    _write(database, update(SafeCopy).values(sealed_meta=os.urandom(60)))
    triage, _ = _pages(case)
    assert "The safe copy could not be decrypted" in triage and "Make the safe copy again" in triage
    assert WHAT_HAPPENED in triage and _shows(triage, "photo.jpg") and _shows(triage, "kept.txt")
    response = reviewer.get(url)
    assert_graceful(response)
    assert response.status_code != 200  # a copy whose details do not open is never served
    # it can be made again, and then it is served
    assert reviewer.post(url, data={"csrf_token": csrf_from(reviewer.get(f"/reports/{reference}").data)}).status_code == 302
    response = reviewer.get(url)
    assert response.status_code == 200 and response.data.startswith(b"\xff\xd8")


def _tamper(database, blob_dir, blob_id: bytes) -> None:
    """Flip one byte in the middle of a stored ciphertext, wherever the store keeps it."""
    if blob_dir is not None:
        path = blob_dir / blob_id.hex()
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        return
    with database.transaction() as session:
        chunk = session.scalars(select(BlobChunk).where(BlobChunk.blob_id == blob_id).order_by(BlobChunk.seq)).first()
        data = bytearray(chunk.data)
        data[len(data) // 2] ^= 0x01
        chunk.data = bytes(data)


UNREADABLE_TRIAGE = "This file could not be decrypted: it was damaged or altered after it was received."
UNREADABLE_REPORTER = "That file could not be decrypted: it was damaged after it was sent."


@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_a_tampered_file_is_a_message_not_a_500(case, database, blob_store, blob_dir):
    photo, kept = sorted(case["report"].attachments, key=lambda a: a.id)
    reviewer, reference = case["reviewer"], case["reference"]
    photo_hex = photo.public_id.hex()
    _tamper(database, blob_dir, photo.public_id)

    response = reviewer.get(f"/reports/{reference}/files/{photo_hex}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/reports/{reference}#file-{photo_hex}")
    assert JPEG[-100:] not in response.data
    follow = reviewer.get(response.headers["Location"])
    assert follow.status_code == 200 and UNREADABLE_TRIAGE in follow.data.decode()

    response = case["reporter"].get(f"/follow-up/files/{photo_hex}")
    assert_graceful(response)
    assert response.status_code == 400 and UNREADABLE_REPORTER in response.data.decode()
    assert WHAT_HAPPENED in response.data.decode()  # the case page, not an error page

    # no safe copy can be made of it either, and nothing is stored
    token = csrf_from(reviewer.get(f"/reports/{reference}").data)
    response = reviewer.post(f"/reports/{reference}/files/{photo_hex}/safe-copy", data={"csrf_token": token})
    assert response.status_code == 302
    assert UNREADABLE_TRIAGE in reviewer.get(response.headers["Location"]).data.decode()
    assert read(database, lambda s: s.scalar(select(func.count()).select_from(SafeCopy))) == 0

    # the other file, and both pages, are unaffected
    assert reviewer.get(f"/reports/{reference}/files/{kept.public_id.hex()}").data == TEXT_FILE
    assert case["reporter"].get(f"/follow-up/files/{kept.public_id.hex()}").data == TEXT_FILE
    triage, reporter = _pages(case)
    assert _shows(triage, "photo.jpg") and _shows(reporter, "photo.jpg")


@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_a_tampered_safe_copy_is_a_message_not_a_500(case, database, blob_store, blob_dir):
    photo = sorted(case["report"].attachments, key=lambda a: a.id)[0]
    reviewer, reference = case["reviewer"], case["reference"]
    url = f"/reports/{reference}/files/{photo.public_id.hex()}/safe-copy"
    assert reviewer.post(url, data={"csrf_token": csrf_from(reviewer.get(f"/reports/{reference}").data)}).status_code == 302
    copy_id = read(database, lambda s: s.scalar(select(SafeCopy.public_id)))
    _tamper(database, blob_dir, copy_id)
    response = reviewer.get(url)
    assert response.status_code == 302
    assert "This safe copy could not be decrypted" in reviewer.get(response.headers["Location"]).data.decode()
    assert reviewer.get(f"/reports/{reference}/files/{photo.public_id.hex()}").data == JPEG  # the original is intact


def _counts(database) -> tuple[int, int, int]:
    return read(database, lambda s: (s.scalar(select(func.count()).select_from(Message)),
                                     s.scalar(select(func.count()).select_from(Attachment)),
                                     s.scalar(select(func.count()).select_from(Blob))))


@pytest.mark.parametrize("broken", ["message under another key", "file details under another key"])
@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_a_browser_reply_that_does_not_open_is_refused_and_nothing_stored(case, database, broken, blob_store, blob_dir):
    client = case["reporter"]
    before, files_before = _counts(database), blob_files(blob_dir)
    other_key = new_data_key()
    kwargs = {"message under another key": {"key": other_key},
              "file details under another key": {"meta_key": other_key}}[broken]
    response = browser_reply(client, "This reply is broken", files=[("evidence.txt", "text/plain", b"some evidence")],
                             code=case["code"], **kwargs)
    assert response.status_code == 400, response.data
    body = response.get_json()
    assert body["ok"] is False
    assert any("could not be read" in error or "incomplete" in error for error in map(str, body["errors"])), body
    assert _counts(database) == before
    assert blob_files(blob_dir) == files_before
    triage, reporter = _pages(case)
    assert "could not be decrypted" not in triage and "could not be decrypted" not in reporter
    # control: the same reply, sealed properly, is stored and shown
    response = browser_reply(client, "This reply is fine", files=[("evidence.txt", "text/plain", b"some evidence")], code=case["code"])
    assert response.status_code == 200 and response.get_json()["ok"] is True
    assert "This reply is fine" in _pages(case)[0]
