"""Reporter interface: submitting a report on the no-JavaScript path (multipart form).

Covers the receipt, validation errors that keep every answer (and every file
already encrypted), one-time CSRF tokens and the cross-site check, the upload
limits (per file, per report, number of files, per field), unreadable input,
and requests that are not a form at all. Each rejected request is checked for
what it must NOT leave behind (report, blob or attachment rows).
"""

from __future__ import annotations

import html
import io
import re
import uuid

import pytest
from markupsafe import escape
from sqlalchemy import func, select
from support import csrf_from, receipt_from, sign_in, submit_report

from portal import state
from portal.blobs import Blob, BlobChunk
from portal.crypto.receipt import normalise_receipt_code, wordlist
from portal.forms import TOKEN_EXPIRED, FormTokens
from portal.limits import OneTimeNonces
from portal.reports.models import Attachment, Message, Report

WHAT_REQUIRED = "Tell us what happened. A few sentences are enough to start."
UNREADABLE = "This answer could not be read. Please type it again."


def counts(database) -> dict[str, int]:
    with database.engine.connect() as connection:
        return {m.__tablename__: connection.scalar(select(func.count()).select_from(m))
                for m in (Report, Blob, BlobChunk, Attachment, Message)}


NOTHING = {"reports": 0, "blobs": 0, "blob_chunks": 0, "attachments": 0, "messages": 0}


def token(client) -> str:
    return csrf_from(client.get("/report").data)


def post_report(client, fields: dict, files: list[tuple[bytes, str]] = (), headers: dict | None = None):
    data = {"draft": "", **fields}
    if files:
        data["evidence"] = [(io.BytesIO(content), name) for content, name in files]
    return client.post("/report", data=data, content_type="multipart/form-data", headers=headers or {})


def raw_multipart(parts: list[tuple]) -> tuple[bytes, str]:
    """(name, bytes value) text parts and (name, content, filename) file parts, sent exactly as given."""
    boundary = "----reporter" + uuid.uuid4().hex
    out = bytearray()
    for part in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        if len(part) == 2:
            out += b'Content-Disposition: form-data; name="' + part[0].encode() + b'"\r\n\r\n' + part[1] + b"\r\n"
        else:
            out += (b'Content-Disposition: form-data; name="' + part[0].encode() + b'"; filename="' + part[2].encode()
                    + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + part[1] + b"\r\n")
    out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def staged_names(page: bytes) -> list[str]:
    match = re.search(rb'<div class="govuk-inset-text" id="staged-files">(.*?)</div>', page, re.S)
    if not match:
        return []
    return [html.unescape(n.decode()) for n in re.findall(rb"<li>([^<]*)</li>", match.group(1))]


def draft_from(page: bytes) -> str:
    return re.search(rb'name="draft" value="([^"]*)"', page).group(1).decode()


def field_error(page: bytes, field_id: str) -> str | None:
    match = re.search(rb'<p class="govuk-error-message" id="' + field_id.encode()
                      + rb'-error"><span class="govuk-visually-hidden">Error:</span> ([^<]+)</p>', page)
    return html.unescape(match.group(1).decode()) if match else None


def evidence_errors(page: bytes) -> list[str]:
    group = re.search(rb'<label class="govuk-label govuk-label--s" for="evidence">.*?<input class="govuk-file-upload',
                      page, re.S)
    assert group, "no evidence field"
    return [html.unescape(m.decode()) for m in re.findall(
        rb'<p class="govuk-error-message"(?: id="evidence-error")?><span class="govuk-visually-hidden">Error:</span> ([^<]+)</p>',
        group.group(0))]


def summary_items(page: bytes) -> list[str]:
    found = re.findall(rb'<ul class="govuk-list govuk-error-summary__list">\s*(.*?)</ul>', page, re.S)
    return [html.unescape(m.decode()) for m in found]


def case_page(client, code: str) -> bytes:
    response = sign_in(client, code)
    assert response.status_code == 302, response.data[-1500:]
    page = client.get("/follow-up/case")
    assert page.status_code == 200
    return page.data


def evidence_links(page: bytes) -> dict[str, str]:
    return {html.unescape(name.decode()): link.decode() for link, name in
            re.findall(rb'<a class="govuk-link" href="(/follow-up/files/[0-9a-f]{32})">([^<]*)</a>', page)}


# -- success --------------------------------------------------------------------------------


def test_success_shows_an_eight_word_receipt(reporter_client, database):
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "He took the keys"})
    assert response.status_code == 200
    match = re.search(rb"<span class=\"portal-receipt__code\" data-receipt-code>([^<]+)</span>", response.data)
    assert match, response.data[-2000:]
    code = match.group(1).decode()
    words = code.split(" ")
    assert len(words) == 8
    assert set(words) <= set(wordlist())
    assert normalise_receipt_code(code) == code
    assert counts(database)["reports"] == 1
    # a second report gets a different code
    assert submit_report(reporter_client) != code
    assert counts(database)["reports"] == 2


# -- validation errors keep everything -------------------------------------------------------


ANSWERS = {
    "people-0-name": "Dana Whitfield",
    "people-0-role": "Sergeant",
    "people-0-identifier": "PS 4417",
    "people-0-unit": "Eastgate custody",
    "people-1-name": "Second Person <b>&\"x\"",
    "when_happened": "Most night shifts since March",
    "where_happened": "Eastgate station",
    "witnesses": "The late-turn gaoler\nand a detention officer",
    "risk_now": "yes",
    "vulnerable_person": "unsure",
    "how_known": "told",
}


def assert_answers_kept(page: bytes) -> None:
    for name in ("people-0-name", "people-0-role", "people-0-identifier", "people-0-unit", "people-1-name",
                 "when_happened", "where_happened"):
        expected = str(escape(ANSWERS[name])).encode()
        assert re.search(rb'id="' + name.encode() + rb'" name="' + name.encode() + rb'"\s+type="text" value="'
                         + re.escape(expected) + rb'"', page), name
    assert re.search(rb'name="witnesses"[^>]*>' + re.escape(str(escape(ANSWERS["witnesses"])).encode()) + rb"</textarea>", page)
    assert re.search(rb'id="risk_now-yes" name="risk_now" type="radio" value="yes"\s+checked', page)
    assert not re.search(rb'id="risk_now-no" name="risk_now" type="radio" value="no"\s+checked', page)
    assert re.search(rb'id="vulnerable_person-unsure" name="vulnerable_person" type="radio" value="unsure"\s+checked', page)
    assert re.search(rb'id="how_known-told" name="how_known" type="radio" value="told"\s+checked', page)
    assert b"<b>&" not in page  # escaped, never echoed as markup


def test_empty_what_happened_keeps_every_other_answer(reporter_client, database, reporter_app):
    category = state.SETTINGS.get(reporter_app).taxonomy.categories[1].key
    fields = {"csrf_token": token(reporter_client), "what_happened": "   ", **ANSWERS, "category": category}
    response = post_report(reporter_client, fields)
    assert response.status_code == 400
    page = response.data
    assert field_error(page, "what_happened") == WHAT_REQUIRED  # beside the field
    assert b'<a href="#what_happened">' + WHAT_REQUIRED.encode() + b"</a>" in page  # and in the summary
    assert b"<title>Error: " in page
    assert_answers_kept(page)
    assert re.search(rb'id="category-' + category.encode() + rb'" name="category" type="radio" value="' + category.encode() + rb'"\s*checked>', page)
    assert draft_from(page) == ""  # no file, no draft
    assert counts(database) == NOTHING


def test_no_file_is_staged_beside_an_answer_that_fails_its_checks(reporter_client, database):
    """Red-team finding: a report whose "where" was 300 characters long was refused, yet stored every
    file in a draft, with no proof of work and no Argon2id: about 50 MiB/s from one client into the
    day's file cap. Only a browser that ignores maxlength sends such an answer."""
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "x",
                                             "where_happened": "w" * 300}, files=[(b"f" * 100_000, "flood.bin")])
    assert response.status_code == 400
    assert staged_names(response.data) == []
    assert counts(database) == NOTHING


def test_field_longer_than_the_limit_is_a_clear_error(reporter_client, database):
    fields = {"csrf_token": token(reporter_client), "what_happened": "a" * 20001, "people-0-name": "n" * 201,
              "when_happened": "w" * 201}
    response = post_report(reporter_client, fields)
    assert response.status_code == 400
    assert field_error(response.data, "what_happened") == "This answer must be 20,000 characters or fewer"
    assert field_error(response.data, "people-0-name") == "Name must be 200 characters or fewer"
    assert field_error(response.data, "when_happened") == "When it happened must be 200 characters or fewer"
    assert b"a" * 20001 in response.data  # kept so the reporter can shorten it
    assert counts(database) == NOTHING
    # exactly at the limit is fine
    fields = {"csrf_token": token(reporter_client), "what_happened": "a" * 20000, "people-0-name": "n" * 200}
    assert post_report(reporter_client, fields).status_code == 200
    assert counts(database)["reports"] == 1


def test_choice_outside_the_list_is_refused(reporter_client, database):
    fields = {"csrf_token": token(reporter_client), "what_happened": "x", "risk_now": "maybe", "category": "nonsense"}
    response = post_report(reporter_client, fields)
    assert response.status_code == 400
    assert field_error(response.data, "risk_now") and field_error(response.data, "category")
    assert counts(database) == NOTHING


def test_invalid_utf8_is_a_400_not_a_500(reporter_client, database):
    body, ctype = raw_multipart([("csrf_token", token(reporter_client).encode()), ("draft", b""),
                                 ("what_happened", "It happened, café".encode()), ("when_happened", b"last \xff\xfe week"),
                                 ("witnesses", b"\xc3(")])
    response = reporter_client.post("/report", data=body, content_type=ctype)
    assert response.status_code == 400
    items = " ".join(summary_items(response.data))
    assert items.count(UNREADABLE) == 2
    assert '<a href="#when_happened">' + UNREADABLE in items and '<a href="#witnesses">' + UNREADABLE in items
    assert "It happened, café".encode() in response.data  # the readable answer is kept
    assert counts(database) == NOTHING

    body, ctype = raw_multipart([("csrf_token", token(reporter_client).encode()),
                                 ("what_happened", b"\xed\xa0\x80 lone surrogate")])
    response = reporter_client.post("/report", data=body, content_type=ctype)
    assert response.status_code == 400
    assert counts(database) == NOTHING

    # an unreadable token is a missing token
    body, ctype = raw_multipart([("csrf_token", b"\xff" + token(reporter_client).encode()), ("what_happened", b"x")])
    assert reporter_client.post("/report", data=body, content_type=ctype).status_code == 403
    assert counts(database) == NOTHING


@pytest.mark.parametrize("content_type, body", [
    ("application/x-www-form-urlencoded", b"what_happened=x&csrf_token=y"),
    ("application/json", b'{"what_happened": "x"}'),
    ("text/plain", b"hello"),
    ("multipart/form-data", b"--x\r\n"),  # no boundary
    ("multipart/form-data; boundary=abc", b'--abc\r\nContent-Disposition: form-data; name="what_happened"\r\n\r\ncut sh'),
    ("multipart/form-data; boundary=abc", b"complete nonsense"),
    ("", b""),
])
def test_a_request_that_is_not_a_multipart_form_is_a_400_page(reporter_client, database, content_type, body):
    response = reporter_client.post("/report", data=body, content_type=content_type)
    assert response.status_code == 400, response.status_code
    assert response.mimetype == "text/html"
    assert b"Something was wrong with that request" in response.data
    assert counts(database) == NOTHING


# -- CSRF ----------------------------------------------------------------------------------


def test_missing_token_is_403_and_stores_nothing(reporter_client, database):
    fields = {"what_happened": "Typed before the token went missing", "people-0-name": "Kept Name"}
    response = post_report(reporter_client, fields, files=[(b"evidence bytes" * 100, "photo.jpg")])
    assert response.status_code == 403
    assert TOKEN_EXPIRED.encode() in response.data
    assert b"Typed before the token went missing" in response.data and b'value="Kept Name"' in response.data
    assert b"data-receipt-code>" not in response.data.replace(b"data-receipt-code></span>", b"")
    assert counts(database) == NOTHING
    for bad in ("", "x", "A" * 56, "A" * 101, token(reporter_client)[:-2] + "AA"):
        response = post_report(reporter_client, {"csrf_token": bad, "what_happened": "x"}, files=[(b"z" * 10, "a.txt")])
        assert response.status_code == 403, bad
    assert counts(database) == NOTHING


def test_replayed_token_is_refused(reporter_client, database):
    """The same form sent again after it was stored (a reload of the receipt, a second press of Send):
    no second report, no file kept, no "form expired" with the form filled in to invite one; the
    reporter lands on a page that says the report was received (issue 15)."""
    used = token(reporter_client)
    assert post_report(reporter_client, {"csrf_token": used, "what_happened": "First"}).status_code == 200
    response = post_report(reporter_client, {"csrf_token": used, "what_happened": "Second"}, files=[(b"b" * 50, "b.txt")])
    assert response.status_code == 303 and response.headers["Location"].endswith("/report/sent")
    assert counts(database) == {**NOTHING, "reports": 1}
    page = reporter_client.get("/report/sent").get_data(as_text=True)
    assert "Your report was received" in page and "You do not need to send it again" in page
    assert "If you did not write down your code" in page and "data-receipt-code" not in page
    assert 'id="report-form"' not in page


def test_token_used_by_a_validation_error_cannot_be_used_again(reporter_client, database):
    used = token(reporter_client)
    response = post_report(reporter_client, {"csrf_token": used, "what_happened": ""})
    assert response.status_code == 400
    fresh = csrf_from(response.data)
    assert fresh != used
    assert post_report(reporter_client, {"csrf_token": used, "what_happened": "now"}).status_code == 403
    assert post_report(reporter_client, {"csrf_token": fresh, "what_happened": "now"}).status_code == 200
    assert counts(database)["reports"] == 1


def test_expired_and_foreign_tokens_are_refused(reporter_client, reporter_app, database):
    expired = FormTokens(reporter_app.config["SECRET_KEY"], OneTimeNonces(None), -5).issue()
    foreign = FormTokens(b"k" * 32, OneTimeNonces(None), 3600).issue()
    for bad in (expired, foreign):
        assert post_report(reporter_client, {"csrf_token": bad, "what_happened": "x"}).status_code == 403
    assert counts(database) == NOTHING
    still_valid = FormTokens(reporter_app.config["SECRET_KEY"], OneTimeNonces(None), 3600).issue()
    assert post_report(reporter_client, {"csrf_token": still_valid, "what_happened": "x"}).status_code == 200


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "http://localhost.evil.example"},
    {"Origin": "https://localhost"},  # another scheme is another origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"},
])
def test_cross_site_request_with_a_valid_token_is_refused(reporter_client, database, headers):
    good = token(reporter_client)
    response = post_report(reporter_client, {"csrf_token": good, "what_happened": "forged"},
                           files=[(b"f" * 100, "f.txt")], headers=headers)
    assert response.status_code == 403
    assert counts(database) == NOTHING
    # sign-in is guarded the same way, and sets no cookie
    code = submit_report(reporter_client)
    page = reporter_client.get("/follow-up").data
    response = reporter_client.post("/follow-up", data={"csrf_token": csrf_from(page), "receipt_code": code}, headers=headers)
    assert response.status_code == 403
    assert response.headers.getlist("Set-Cookie") == []


def test_same_origin_request_is_accepted(reporter_client, database):
    headers = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "x"}, headers=headers)
    assert response.status_code == 200
    headers = {"Sec-Fetch-Site": "none"}
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "y"}, headers=headers)
    assert response.status_code == 200
    assert counts(database)["reports"] == 2


def test_many_submissions_never_lock_out_the_next_reporter(reporter_client, database):
    """The old limit (120 an hour from one address, i.e. from everyone behind Tor) let 114 empty
    posts silence the portal. Invalid posts now cost nothing and count against nothing."""
    for _ in range(130):
        assert post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": ""}).status_code == 400
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "x"})
    assert response.status_code == 200
    assert counts(database) == {**NOTHING, "reports": 1}


# -- upload limits ----------------------------------------------------------------------------


def test_oversized_file_is_named_and_dropped_and_the_text_kept(make_app, database):
    client = make_app(max_file_bytes=1000).test_client()
    fields = {"csrf_token": token(client), "what_happened": "The answer I typed", **ANSWERS}
    response = post_report(client, fields, files=[(b"x" * 5000, "bodycam-export.mp4")])
    assert response.status_code == 400
    errors = evidence_errors(response.data)
    assert len(errors) == 1 and "bodycam-export.mp4" in errors[0] and "larger than" in errors[0]
    assert b"The answer I typed</textarea>" in response.data
    assert_answers_kept(response.data)
    assert staged_names(response.data) == []
    assert counts(database) == NOTHING  # no blob (or chunk) left for the dropped file

    # a file exactly at the limit is accepted
    response = post_report(client, {"csrf_token": token(client), "what_happened": "x"}, files=[(b"y" * 1000, "ok.bin")])
    assert response.status_code == 200
    assert counts(database)["attachments"] == 1


def test_oversized_file_beside_a_good_one(make_app, database):
    client = make_app(max_file_bytes=1000).test_client()
    response = post_report(client, {"csrf_token": token(client), "what_happened": "x"},
                           files=[(b"g" * 500, "good.txt"), (b"b" * 3000, "bad.bin")])
    assert response.status_code == 400
    assert staged_names(response.data) == ["good.txt"]
    assert any("bad.bin" in e for e in evidence_errors(response.data))
    assert counts(database)["blobs"] == 1
    # fix: send with the draft; the good file goes with the report, the bad one is gone
    response = post_report(client, {"csrf_token": csrf_from(response.data), "what_happened": "x",
                                    "draft": draft_from(response.data)})
    assert response.status_code == 200
    c = counts(database)
    assert (c["reports"], c["attachments"], c["blobs"]) == (1, 1, 1)


def test_total_over_max_report_bytes(make_app, database):
    client = make_app(max_file_bytes=3000, max_report_bytes=5000).test_client()
    response = post_report(client, {"csrf_token": token(client), "what_happened": "typed text"},
                           files=[(b"a" * 3000, "first.bin"), (b"b" * 3000, "second.bin")])
    assert response.status_code == 400
    errors = evidence_errors(response.data)
    assert len(errors) == 1 and "second.bin" in errors[0] and "all files together" in errors[0]
    assert b"typed text</textarea>" in response.data
    assert staged_names(response.data) == ["first.bin"]
    assert counts(database)["blobs"] == 1


def test_too_many_files(make_app, database):
    client = make_app(max_files=2).test_client()
    response = post_report(client, {"csrf_token": token(client), "what_happened": "typed text"},
                           files=[(b"1", "one.txt"), (b"2", "two.txt"), (b"3", "three.txt")])
    assert response.status_code == 400
    errors = evidence_errors(response.data)
    assert len(errors) == 1 and "three.txt" in errors[0] and "up to 2 files" in errors[0]
    assert b"typed text</textarea>" in response.data
    assert staged_names(response.data) == ["one.txt", "two.txt"]
    assert counts(database)["reports"] == 0 and counts(database)["blobs"] == 2


def test_no_file_is_staged_for_a_report_that_says_nothing(reporter_client, database):
    """Cheap before expensive: without the one required answer, a file costs the portal nothing."""
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "", **ANSWERS},
                           files=[(b"%PDF-1.4 junk" * 1000, "junk.pdf")])
    assert response.status_code == 400
    assert staged_names(response.data) == [] and not draft_from(response.data)
    assert any("Attach your files again" in e for e in evidence_errors(response.data))
    assert_answers_kept(response.data)
    c = counts(database)
    assert (c["reports"], c["blobs"], c["attachments"]) == (0, 0, 0)


# Files are kept in a draft only when the answers were sendable and a file was refused (too large,
# too many) or the portal was busy: an answer that fails its checks stages nothing (cheap before
# expensive). These tests make a file error with a small per-file limit and one file above it.
STAGING = {"max_file_bytes": 20_000}
TOO_BIG = (b"\0" * 30_000, "too-big.bin")


def test_staged_file_survives_a_file_error(make_app, database):
    reporter_client = make_app(**STAGING).test_client()
    content = b"%PDF-1.4 the rota that shows it\n" + bytes(range(256)) * 20
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "Now I have written it",
                                             **ANSWERS}, files=[(content, "rota march.pdf"), TOO_BIG])
    assert response.status_code == 400
    assert any("too-big.bin" in e for e in evidence_errors(response.data))
    assert_answers_kept(response.data)
    assert staged_names(response.data) == ["rota march.pdf"]
    draft = draft_from(response.data)
    assert draft
    c = counts(database)
    assert (c["reports"], c["blobs"], c["attachments"]) == (0, 1, 0)

    # the staged blob holds ciphertext only (read through the configured store: rows or a file)
    with database.engine.connect() as connection:
        (blob_id,) = connection.scalars(select(Blob.id)).all()
        stored = b"".join(database.blob_store.iter_chunks(connection, blob_id))
    assert len(stored) > len(content) and content[:40] not in stored and b"rota" not in stored

    # fixed text + the draft: one report, with that one attachment
    response = post_report(reporter_client, {"csrf_token": csrf_from(response.data), "what_happened": "Now I have written it",
                                             "draft": draft, **ANSWERS})
    assert response.status_code == 200
    code = receipt_from(response.data)
    c = counts(database)
    assert (c["reports"], c["blobs"], c["attachments"]) == (1, 1, 1)
    with database.engine.connect() as connection:
        assert connection.scalars(select(Blob.attached)).all() == [True]

    # the same draft cannot make a second report
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "again", "draft": draft})
    assert response.status_code == 400
    assert counts(database)["reports"] == 1

    # the follow-up shows the report and its one attachment, which downloads as sent
    page = case_page(reporter_client, code)
    assert b"Now I have written it" in page
    links = evidence_links(page)
    assert list(links) == ["rota march.pdf"]
    download = reporter_client.get(links["rota march.pdf"])
    assert download.status_code == 200 and download.data == content


def test_staged_files_add_up_across_round_trips(make_app, database):
    reporter_client = make_app(**STAGING).test_client()
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "x"},
                           files=[(b"one", "one.txt"), TOO_BIG])
    assert staged_names(response.data) == ["one.txt"]
    response = post_report(reporter_client, {"csrf_token": csrf_from(response.data), "what_happened": "x",
                                             "draft": draft_from(response.data)}, files=[(b"two", "two.txt"), TOO_BIG])
    assert response.status_code == 400
    assert staged_names(response.data) == ["one.txt", "two.txt"]
    response = post_report(reporter_client, {"csrf_token": csrf_from(response.data), "what_happened": "done",
                                             "draft": draft_from(response.data)})
    assert response.status_code == 200
    page = case_page(reporter_client, receipt_from(response.data))
    links = evidence_links(page)
    assert sorted(links) == ["one.txt", "two.txt"]
    assert reporter_client.get(links["two.txt"]).data == b"two"
    assert counts(database)["attachments"] == 2


def test_tampered_draft_token_is_ignored(make_app, database):
    reporter_client = make_app(**STAGING).test_client()
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "x"},
                           files=[(b"secret file", "s.txt"), TOO_BIG])
    draft = draft_from(response.data)
    flipped = draft[:20] + ("A" if draft[20] != "A" else "B") + draft[21:]
    response = post_report(reporter_client, {"csrf_token": csrf_from(response.data), "what_happened": "x", "draft": flipped})
    assert response.status_code == 200
    page = case_page(reporter_client, receipt_from(response.data))
    assert evidence_links(page) == {}
    assert counts(database)["attachments"] == 0


def test_file_names_are_cleaned(reporter_client):
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "x"},
                           files=[(b"a", "../../etc/passwd"), (b"b", "dir/sub/report.docx"), (b"c", ".hidden")])
    assert response.status_code == 200
    page = case_page(reporter_client, receipt_from(response.data))
    assert sorted(evidence_links(page)) == ["hidden", "passwd", "report.docx"]


def test_no_upload_ever_goes_through_a_temporary_file(reporter_client, database, monkeypatch):
    """Werkzeug would spool a large upload to a temp file in clear: the reporter app never lets it."""
    import tempfile

    import werkzeug.formparser

    opened = []

    def refuse(*args, **kwargs):
        opened.append(args)
        raise AssertionError("a temporary file was opened")

    for module, name in ((tempfile, "SpooledTemporaryFile"), (tempfile, "TemporaryFile"), (tempfile, "NamedTemporaryFile"),
                         (tempfile, "mkstemp"), (werkzeug.formparser, "SpooledTemporaryFile"),
                         (werkzeug.formparser, "TemporaryFile")):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, refuse)
    big = b"plaintext evidence " * 40_000  # about 760 KB, well over Werkzeug's in-memory threshold
    response = post_report(reporter_client, {"csrf_token": token(reporter_client), "what_happened": "x"},
                           files=[(big, "big.txt")])
    assert response.status_code == 200
    page = case_page(reporter_client, receipt_from(response.data))
    assert reporter_client.get(evidence_links(page)["big.txt"]).data == big
    response = reporter_client.post("/follow-up/reply", content_type="multipart/form-data",
                                    data={"csrf_token": csrf_from(page), "message": "m", "evidence": (io.BytesIO(big), "r.txt")})
    assert response.status_code == 302
    # a file sent to a form that takes none is refused outright, not spooled
    for path in ("/follow-up", "/follow-up/sign-out"):
        response = reporter_client.post(path, content_type="multipart/form-data",
                                        data={"csrf_token": token(reporter_client), "receipt_code": "x",
                                              "f": (io.BytesIO(big), "f.txt")})
        assert response.status_code == 400, path
    assert opened == []


def test_json_client_gets_json_errors(reporter_client, database):
    response = reporter_client.post("/report", data={"what_happened": "x"}, content_type="multipart/form-data",
                                    headers={"Accept": "application/json"})
    assert response.status_code == 403
    body = response.get_json()
    assert body["ok"] is False and body["errors"][0]["message"] == TOKEN_EXPIRED
    assert body["csrf_token"]  # a fresh token to try again with
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers.getlist("Set-Cookie") == []
    assert counts(database) == NOTHING
