"""Data at rest after a full journey through both interfaces.

A reporter (from a distinctive address, User-Agent and Referer) sends a report
with a file on the no-JavaScript path (after a validation error that stages the
file); a reviewer reads it, acknowledges, messages, writes a note, adds a
subject, escalates and downloads the file; the reporter signs in with the code
hyphenated, reads, replies with a file, signs out; the reviewer reads the reply
and downloads its file. Then the database (SQLite file with -wal and -shm, or
every row of every table on PostgreSQL), the whole instance directory, the blob
directory (with the filesystem attachment store, outside the instance directory),
and everything logged (DEBUG and up) and printed are searched: no plaintext marker,
no receipt code in any spelling, no receipt secret, no subject name, and
nothing about the reporter's connection.
"""

from __future__ import annotations

import logging
import re
import socket

import pytest
from support import BLOB_STORES, blob_files, csrf_from, json_log_lines, receipt_from
from test_adversarial_common import everything_at_rest, post_multipart, reporter_token
from triage_support import act_ok, attachment_ids, references, reporter_keys, sign_in_reviewer

from portal import state
from portal.crypto.receipt import receipt_secret

MARK = "ZQXJOURNEYMARK"
ADDRESS = "203.0.113.77"
USER_AGENT = "AdversarialBrowser/9.9 (ZQX-UA-7731)"
REFERER = "https://referrer.example/zqx-ref-5521/leak"
SUBJECT = "Quillon Zebadiah-Marchbanks"
SUBJECT_ID = "QZ 774411"
REVIEWER_SUBJECT = "Thaddeus Quorrington"
REPORTER_ENVIRON = {"REMOTE_ADDR": ADDRESS, "HTTP_USER_AGENT": USER_AGENT, "HTTP_REFERER": REFERER,
                    "HTTP_X_FORWARDED_FOR": ADDRESS, "HTTP_X_REAL_IP": ADDRESS}


def _code_spellings(code: str) -> list[str]:
    words = code.split()
    prefixes = [w[:4] for w in words]
    spellings = [code, "-".join(words), "".join(words), code.upper(), "-".join(words).upper(), " ".join(prefixes),
                 "-".join(prefixes), "".join(prefixes)]
    # any three consecutive words is already far too much of a code to leave behind
    spellings += [" ".join(words[i:i + 3]) for i in range(len(words) - 2)]
    return spellings


def _subject_spellings(name: str) -> list[str]:
    plain = re.sub(r"[^A-Za-z ]", "", name)
    return [name, name.lower(), name.upper(), plain, plain.lower(), plain.replace(" ", "")] + name.replace("-", " ").split()


@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_full_journey_leaves_nothing_readable(apps, database, instance_dir, lead, caplog, capsys, blob_store, blob_dir, json_log):
    caplog.set_level(logging.DEBUG)
    reporter, triage = apps
    client = reporter.test_client()
    client.environ_base.update(REPORTER_ENVIRON)

    # Reporter: pages, a file error that stages the other file, then the report.
    for path in ("/", "/report", "/follow-up", "/keys.json", "/no-such-page"):
        client.get(path)
    evidence = ("evidence", f"file content {MARK}-FILE".encode() * 50, f"{MARK}-evidence.txt", "text/plain")
    too_big = ("evidence", b"\0" * (state.SETTINGS.get(reporter).max_file_bytes + 1), "too-big.bin", "text/plain")
    staged = post_multipart(client, "/report", [("csrf_token", reporter_token(reporter)), ("what_happened", f"{MARK}-FIRST"),
                                                ("witnesses", f"{MARK}-STAGED"), evidence, too_big])
    assert staged.status_code == 400
    draft = re.search(rb'name="draft" value="([^"]+)"', staged.data).group(1).decode()
    response = post_multipart(client, "/report", [
        ("csrf_token", reporter_token(reporter)), ("draft", draft),
        ("what_happened", f"{MARK}-WHAT {SUBJECT} did it"), ("when_happened", f"{MARK}-WHEN"),
        ("where_happened", f"{MARK}-WHERE"), ("witnesses", f"{MARK}-WITNESSES"), ("risk_now", "yes"),
        ("people-0-name", SUBJECT), ("people-0-identifier", SUBJECT_ID), ("people-0-role", f"{MARK}-ROLE"),
        ("people-0-unit", f"{MARK}-UNIT"), ("category", "sexual-assault"),
    ])
    assert response.status_code == 200
    code = receipt_from(response.data)
    (reference,) = references(database)

    # Reviewer: queue (indexes subjects), report, every kind of write, a download.
    reviewer = sign_in_reviewer(triage.test_client(), lead)
    reviewer.environ_base.update({"REMOTE_ADDR": "198.51.100.23"})
    assert reviewer.get("/").status_code == 200
    assert MARK in reviewer.get(f"/reports/{reference}").data.decode()
    act_ok(reviewer, reference, "acknowledge")
    act_ok(reviewer, reference, "message", {"text": f"{MARK}-QUESTION from the reviewer"})
    act_ok(reviewer, reference, "note", {"text": f"{MARK}-NOTE about {SUBJECT}"})
    act_ok(reviewer, reference, "subjects", {"name": REVIEWER_SUBJECT, "identifier": ""})
    act_ok(reviewer, reference, "categorise", {"category": "sexual-assault", "priority": "urgent", "flags": ["on-duty"]})
    act_ok(reviewer, reference, "escalate", {"route": "safeguarding", "reason": f"{MARK}-REASON"})
    (file_id,) = attachment_ids(reviewer.get(f"/reports/{reference}").data)
    assert MARK.encode() in reviewer.get(f"/reports/{reference}/files/{file_id}").data

    # Reporter: back with the code hyphenated, reads, replies with a file, a wrong code, signs out.
    # Follow-up sign-in refuses another site's Referer (issue 13): a browser on the sign-in page sends
    # this site's. The refused post logs nothing of the foreign one either (checked below).
    token = csrf_from(client.get("/follow-up").data)
    assert client.post("/follow-up", data={"csrf_token": token, "receipt_code": code}).status_code == 403
    here = {"Referer": "http://localhost/follow-up"}
    token = csrf_from(client.get("/follow-up").data)
    wrong = client.post("/follow-up", data={"csrf_token": token, "receipt_code": "able " * 8}, headers=here)
    assert wrong.status_code == 400
    token = csrf_from(client.get("/follow-up").data)
    assert client.post("/follow-up", data={"csrf_token": token, "receipt_code": code.replace(" ", "-").upper()},
                       headers=here).status_code == 302
    case = client.get("/follow-up/case")
    assert f"{MARK}-QUESTION" in case.data.decode()
    for found in re.findall(r"/follow-up/files/([0-9a-f]{32})", case.data.decode()):
        client.get(f"/follow-up/files/{found}").close()
    reply = post_multipart(client, "/follow-up/reply", [
        ("csrf_token", csrf_from(case.data)), ("message", f"{MARK}-REPLY about {SUBJECT}"),
        ("evidence", f"{MARK}-REPLYFILE".encode() * 100, f"{MARK}-reply.txt", "text/plain")])
    assert reply.status_code == 302
    case = client.get("/follow-up/case")
    assert client.post("/follow-up/sign-out", data={"csrf_token": csrf_from(case.data)}).status_code == 302

    # Reviewer: reads the reply, downloads its file, signs out.
    page = reviewer.get(f"/reports/{reference}").data
    assert f"{MARK}-REPLY".encode() in page
    for found in attachment_ids(page):
        assert reviewer.get(f"/reports/{reference}/files/{found}").data
    assert reviewer.post("/logout", data={"csrf_token": csrf_from(page)}).status_code == 302

    # Everything at rest, and everything logged or printed.
    assert len(json_log_lines(json_log.getvalue())) == len(caplog.records)  # JSON lines, none with a reporter's time of day
    database.session.rollback()
    at_rest = everything_at_rest(database, instance_dir)
    if blob_store == "filesystem":  # the search reads the blob directory: the staged file the report kept, the reply's
        files = blob_files(blob_dir)
        assert len(files) == 2 and all(content in at_rest for content in files.values())
    logged = (caplog.text + "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records) + json_log.getvalue()).encode()
    captured = capsys.readouterr()
    printed = (captured.out + captured.err).encode()
    keys = reporter_keys(instance_dir)
    secret = receipt_secret(code, keys.install_salt)
    needles: dict[str, bytes] = {"marker": MARK.encode(), "receipt secret": secret, "receipt secret hex": secret.hex().encode(),
                                 "address": ADDRESS.encode(), "packed address": socket.inet_aton(ADDRESS),
                                 "user agent": b"ZQX-UA-7731", "referer": b"zqx-ref-5521"}
    needles.update({f"code as {s!r}": s.encode() for s in _code_spellings(code)})
    needles.update({f"subject {s!r}": s.encode() for s in _subject_spellings(SUBJECT) + _subject_spellings(REVIEWER_SUBJECT)})
    needles.update({"subject number": SUBJECT_ID.encode(), "subject number compact": SUBJECT_ID.replace(" ", "").encode()})
    assert reference.encode() in at_rest and lead.login.encode() in at_rest  # the search does read the data (these are in clear by design)
    for where, haystack in (("at rest", at_rest), ("in the logs", logged), ("printed", printed)):
        lowered = haystack.lower()
        for what, needle in needles.items():
            assert needle.lower() not in lowered if needle.isascii() else needle not in haystack, f"{what} found {where}"
