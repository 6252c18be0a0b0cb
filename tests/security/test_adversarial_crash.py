"""Crash consistency: a failure at any write step of a submission leaves nothing behind.

Each no-JavaScript submission (text, people, one 3 MiB file) is made to fail at
one step: after the report and its key wraps are built, in the blob writer on
the second ciphertext chunk or after whole 1 MiB rows were written, on the
final commit, and on a flush. The reporter must get the error page with no
receipt code, and the database must hold no report, no key wrap, no attachment
and no blob (nor blob chunk) from that attempt. Files staged by an earlier
round trip (a validation error) may remain, but only unattached, linked to no
report, and removed by `purge_abandoned_drafts`. The same for a reply. After
each failure the next submission works. Every case runs on both attachment stores:
with the filesystem store, the blob directory must hold exactly one file per blob
row after each failure (no orphan, no unfinished `.part` file).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from support import BLOB_STORES, blob_files, csrf_from, receipt_from, sign_in
from test_adversarial_common import build_app, post_multipart, reporter_token, row_counts

import portal.blobs.stores as blobs
import portal.reports.service as report_service
import portal.reports.views as report_views
from portal.blobs import Blob, BlobChunk, BlobWriter, purge_abandoned_drafts
from portal.reports.models import Attachment, KeyWrap, Message, Report, SubjectIndex

MODELS = (Report, KeyWrap, Attachment, Blob, BlobChunk, Message, SubjectIndex)
FILE = bytes(range(256)) * (3 * 4096)  # 3 MiB: several 64 KiB ciphertext chunks and three 1 MiB blob rows

pytestmark = pytest.mark.parametrize("blob_store", BLOB_STORES)


class Boom(RuntimeError):
    pass


@pytest.fixture
def app(settings_overrides, database, lead, recovery_key):
    app = build_app("reporter", settings_overrides, max_file_bytes=4 << 20)  # FILE fits; _staged_draft's extra file does not
    yield app
    app.extensions["portal.db"].dispose()


def assert_files_match_rows(database, blob_dir) -> None:
    """With the filesystem store: one file per blob row, named after its id, and nothing else."""
    if blob_dir is None:
        return
    session = database.session
    session.expire_all()
    rows = {blob_id.hex() for blob_id in session.scalars(select(Blob.id))}
    session.rollback()
    assert set(blob_files(blob_dir)) == rows


def fail_on_call(monkeypatch, owner, name: str, nth: int, after: bool = False):
    """Make owner.name raise Boom on its nth call (after doing its work, if `after`)."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth and not after:
            raise Boom(f"{name} failed")
        result = original(*args, **kwargs)
        if calls["n"] == nth:
            raise Boom(f"{name} failed after doing its work")
        return result

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def _store_report_then_fail(monkeypatch):
    def failing(db, keys, **kwargs):
        report = original(db, keys, **kwargs)
        assert len(report.wraps) >= 2 and report.id is not None  # the wraps are built and flushed
        raise Boom("after the wraps")

    original = report_service.store_report
    monkeypatch.setattr(report_service, "store_report", failing)


FAILURES = {
    "store_report after wraps": _store_report_then_fail,
    "blob write, 2nd ciphertext chunk": lambda mp: fail_on_call(mp, BlobWriter, "write", 3),
    "blob write, after 1 MiB rows": lambda mp: fail_on_call(mp, BlobWriter, "write", 40),
    "blob close": lambda mp: fail_on_call(mp, BlobWriter, "close", 1, after=True),
    "file fsync (filesystem store)": lambda mp: fail_on_call(mp, blobs.os, "fsync", 1),
    "file rename (filesystem store)": lambda mp: fail_on_call(mp, blobs.os, "replace", 1),
    "directory fsync (filesystem store)": lambda mp: fail_on_call(mp, blobs, "_fsync_dir", 1),
    "commit": lambda mp: fail_on_call(mp, Session, "commit", 1),
    "flush": lambda mp: fail_on_call(mp, Session, "flush", 3),
}


def _parts(app, draft: str = "") -> list[tuple]:
    return [("csrf_token", reporter_token(app)), ("draft", draft), ("what_happened", "CRASH-TEST-TEXT"),
            ("people-0-name", "Crash Testperson"), ("people-0-identifier", "CT 9999"),
            ("evidence", FILE, "evidence.bin", "application/octet-stream")]


def _assert_error_page(response) -> None:
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    page = response.data.decode()
    assert "Sorry, there is a problem with the service" in page
    assert "data-receipt-code" not in page and "receipt code" not in page.lower().split("<body", 1)[-1].split("</main>")[0]


@pytest.mark.parametrize("failure", list(FAILURES))
def test_failed_submission_leaves_nothing(app, database, blob_store, blob_dir, monkeypatch, failure):
    if "filesystem store" in failure and blob_store != "filesystem":
        pytest.skip("no file is written with the database store")
    client = app.test_client()
    baseline = row_counts(database, *MODELS)
    with monkeypatch.context() as patch:
        FAILURES[failure](patch)
        response = post_multipart(client, "/report", _parts(app))
    _assert_error_page(response)
    assert row_counts(database, *MODELS) == baseline
    assert_files_match_rows(database, blob_dir)

    # the portal is not wedged: the same submission now succeeds, with its file attached
    response = post_multipart(client, "/report", _parts(app))
    assert response.status_code == 200 and receipt_from(response.data)
    after = row_counts(database, *MODELS)
    assert after["reports"] == baseline["reports"] + 1 and after["attachments"] == baseline["attachments"] + 1
    assert after["blobs"] == baseline["blobs"] + 1
    assert_files_match_rows(database, blob_dir)


def _staged_draft(app, client) -> str:
    """A file error (one file over the limit) that stages the other: returns the draft token the form carries."""
    import re

    parts = _parts(app) + [("evidence", b"\0" * ((4 << 20) + 1), "too-big.bin", "application/octet-stream")]
    response = post_multipart(client, "/report", parts)
    assert response.status_code == 400
    return re.search(rb'name="draft" value="([^"]+)"', response.data).group(1).decode()


@pytest.mark.parametrize("failure", ["store_report after wraps", "commit"])
def test_files_staged_before_a_failure_stay_unattached_and_are_purged(app, database, blob_dir, monkeypatch, failure):
    client = app.test_client()
    draft = _staged_draft(app, client)
    staged = row_counts(database, *MODELS)
    assert staged["blobs"] == 1 and staged["reports"] == 0
    with monkeypatch.context() as patch:
        FAILURES[failure](patch)
        response = post_multipart(client, "/report", [p for p in _parts(app, draft) if p[0] != "evidence"])
    _assert_error_page(response)
    assert row_counts(database, *MODELS) == staged  # the staged file, and nothing else
    assert_files_match_rows(database, blob_dir)

    session = database.session
    session.expire_all()
    blob = session.scalars(select(Blob)).one()
    assert blob.attached is False
    assert session.scalars(select(Attachment)).all() == []  # linked to no report
    # an abandoned draft's blob is purged once it is older than a day; a sent report's files never are
    good = post_multipart(client, "/report", _parts(app))
    assert good.status_code == 200
    session.execute(update(Blob).where(Blob.id == blob.id).values(created_on=dt.date.today() - dt.timedelta(days=3)))
    session.commit()
    assert purge_abandoned_drafts(session) == 1
    session.commit()
    remaining = row_counts(database, *MODELS)
    assert remaining["blobs"] == 1 and remaining["attachments"] == 1 and remaining["reports"] == 1
    if blob_dir is None:
        assert remaining["blob_chunks"] >= 3
    else:
        assert remaining["blob_chunks"] == 0
        assert [len(content) for content in blob_files(blob_dir).values()] >= [3 * 1024 * 1024]
    assert_files_match_rows(database, blob_dir)


@pytest.mark.parametrize("failure", ["add_message", "blob write, 2nd ciphertext chunk", "commit"])
def test_failed_reply_leaves_nothing(app, database, blob_dir, monkeypatch, failure):
    client = app.test_client()
    response = post_multipart(client, "/report", _parts(app))
    code = receipt_from(response.data)
    assert sign_in(client, code).status_code == 302
    token = csrf_from(client.get("/follow-up/case").data)
    baseline = row_counts(database, *MODELS)
    with monkeypatch.context() as patch:
        if failure == "add_message":
            patch.setattr(report_views, "add_message", lambda *a, **k: (_ for _ in ()).throw(Boom("add_message")))
        elif failure == "commit":
            # the first commit of a reply restarts the session's idle timer; the second stores the message
            fail_on_call(patch, Session, "commit", 2)
        else:
            FAILURES[failure](patch)
        response = post_multipart(client, "/follow-up/reply", [("csrf_token", token), ("message", "CRASH-REPLY"),
                                                               ("evidence", FILE, "reply.bin", "application/octet-stream")])
    assert response.status_code == 500 and b"Sorry, there is a problem with the service" in response.data
    assert row_counts(database, *MODELS) == baseline
    assert_files_match_rows(database, blob_dir)
    assert client.get("/follow-up/case").status_code == 200  # still signed in, nothing half-sent shown
