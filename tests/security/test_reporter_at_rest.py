"""Nothing a reporter sends, and nothing about the reporter, is at rest or in a log.

One whole journey on the no-JavaScript path (a validation error that stages a
file, the corrected report with a marker in every text field and in a file's
name and content, sign-in, a reply with its own marker and file, a download, a
wrong code, a 404, sign-out), every request sent from 127.0.0.1 with a distinctive
User-Agent, Referer and X-Forwarded-For. Afterwards every byte of the database
(SQLite file with its -wal and -shm; on PostgreSQL every row of every table),
every file under the instance directory and, with the filesystem attachment
store, every file in the blob directory is searched for the markers, the
receipt code in any spelling, the receipt secret, and the client details; and
so is everything logged (at DEBUG) or printed.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from support import BLOB_STORES, blob_files, csrf_from, json_log_lines, receipt_from
from test_adversarial_common import table_dump

import portal.models  # noqa: F401  (registers every table)
from portal.crypto.receipt import receipt_secret
from portal.instance import read_secret
from portal.logs import json_handler
from portal.reports.models import Report

MARKERS = {
    "what_happened": "ZqWhatHappenedMarker81",
    "people-0-name": "ZqPersonNameMarker82",
    "people-0-identifier": "ZqCollar9183Marker",
    "people-0-role": "ZqRoleMarker84",
    "people-0-unit": "ZqUnitMarker85",
    "witnesses": "ZqWitnessMarker86",
    "when_happened": "ZqWhenMarker87",
    "where_happened": "ZqWhereMarker88",
}
FILE_NAME_MARKER = "ZqFileNameMarker91"
FILE_CONTENT_MARKER = "ZqFileContentMarker92"
STAGED_MARKER = "ZqStagedFileMarker93"
REPLY_MARKER = "ZqReplyMarker94"
REPLY_FILE_MARKER = "ZqReplyFileMarker95"

CLIENT_ADDR = "203.0.113.57"  # the error test's client address (the journey uses 127.0.0.1)
FORWARDED_ADDR = "198.51.100.23"
USER_AGENT = "ZqAgent/7.3 (DistinctiveBrowser; Reporter-UA-Marker)"
REFERER = "https://referrer-marker.example/ZqRefererPath"
CLIENT_DETAILS = [CLIENT_ADDR, FORWARDED_ADDR, "127.0.0.1", USER_AGENT, "DistinctiveBrowser", "Reporter-UA-Marker",
                  REFERER, "referrer-marker.example", "ZqRefererPath"]




def files_under(directory: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def variants(needle: str | bytes) -> list[bytes]:
    raw = needle.encode("utf-8") if isinstance(needle, str) else needle
    out = [raw.lower()]
    try:
        text = raw.decode("utf-8")
        out.append(text.encode("utf-16-le").lower())
        out.append(text.lower().encode("utf-16-le"))
    except UnicodeDecodeError:
        pass
    return out


def assert_absent(needles, haystacks: dict[str, bytes]) -> None:
    for where, haystack in haystacks.items():
        lowered = haystack.lower()
        for needle in needles:
            for form in variants(needle):
                assert form not in lowered, f"{needle!r} found in {where}"


@pytest.fixture
def app(make_app):
    return make_app(max_file_bytes=1 << 20)  # small: the journey makes a file error cheaply


@pytest.fixture
def json_log():
    """What a production reporter process writes: the handler gunicorn's logconfig_dict puts on the root logger."""
    stream = io.StringIO()
    handler = json_handler("reporter", stream)
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


@pytest.fixture
def client(app):
    client = app.test_client()
    # REMOTE_ADDR stays the test client's 127.0.0.1; a proxy's headers carry another distinctive address
    client.environ_base.update({
        "HTTP_USER_AGENT": USER_AGENT,
        "HTTP_REFERER": REFERER,
        "HTTP_X_FORWARDED_FOR": FORWARDED_ADDR,
        "HTTP_X_REAL_IP": FORWARDED_ADDR,
    })
    return client


def journey(client) -> tuple[str, dict[str, bytes]]:
    """The whole reporter journey; returns the receipt code and the files sent (name -> content)."""
    assert client.get("/").status_code == 200
    assert client.get("/keys.json").status_code == 200

    # a first try with one file too large stages the other (encrypted) in a draft
    staged_name, staged = f"{STAGED_MARKER}.txt", f"staged evidence {STAGED_MARKER}".encode()
    response = client.post("/report", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(client.get("/report").data), "draft": "", **MARKERS,
        "evidence": [(io.BytesIO(staged), staged_name), (io.BytesIO(b"\0" * ((1 << 20) + 1)), "too-big.bin")]})
    assert response.status_code == 400
    assert MARKERS["people-0-name"].encode() in response.data
    draft = re.search(rb'name="draft" value="([^"]+)"', response.data).group(1).decode()

    # the report itself: a marker in every text field, and a file with a marker in its name and content
    file_name = f"{FILE_NAME_MARKER} statement.txt"
    content = (f"Statement. {FILE_CONTENT_MARKER}\n" * 50).encode()
    response = client.post("/report", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(response.data), "draft": draft, **MARKERS, "risk_now": "yes", "how_known": "saw",
        "evidence": (io.BytesIO(content), file_name)})
    assert response.status_code == 200, response.data[-1500:]
    code = receipt_from(response.data)

    # a wrong code, then the right one. Sign-in refuses a post with another site's Referer (issue 13),
    # so those posts carry this site's, as a browser's would; the refusal itself logs nothing either.
    page = client.get("/follow-up").data
    assert client.post("/follow-up", data={"csrf_token": csrf_from(page), "receipt_code": code}).status_code == 403
    here = {"Referer": "http://localhost/follow-up"}
    page = client.get("/follow-up").data
    assert client.post("/follow-up", data={"csrf_token": csrf_from(page), "receipt_code": "wrong code"},
                       headers=here).status_code == 400
    page = client.get("/follow-up").data
    response = client.post("/follow-up", data={"csrf_token": csrf_from(page), "receipt_code": code.upper()}, headers=here)
    assert response.status_code == 302
    case = client.get("/follow-up/case")
    assert case.status_code == 200
    for marker in MARKERS.values():
        assert marker.encode() in case.data, marker

    # a reply with a file, then the conversation and a download
    reply_name, reply_content = f"{REPLY_FILE_MARKER}.csv", f"a,b\n{REPLY_FILE_MARKER},2\n".encode()
    response = client.post("/follow-up/reply", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(case.data), "message": f"My answer: {REPLY_MARKER}",
        "evidence": (io.BytesIO(reply_content), reply_name)})
    assert response.status_code == 302
    case = client.get("/follow-up/case")
    assert REPLY_MARKER.encode() in case.data
    links = dict((n.decode(), link.decode()) for link, n in
                 re.findall(rb'href="(/follow-up/files/[0-9a-f]{32})">([^<]+)</a>', case.data))
    assert set(links) == {staged_name, file_name, reply_name}
    assert client.get(links[file_name]).data == content

    # an error page and an empty reply on the way
    assert client.get("/nope").status_code == 404
    assert client.post("/follow-up/reply", content_type="multipart/form-data",
                       data={"csrf_token": csrf_from(case.data), "message": ""}).status_code == 400

    response = client.post("/follow-up/sign-out", data={"csrf_token": csrf_from(client.get("/follow-up/case").data)})
    assert response.status_code == 302
    return code, {staged_name: staged, file_name: content, reply_name: reply_content}


@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_nothing_readable_at_rest_or_in_logs(app, client, database, instance_dir, settings_overrides, caplog, capsys, blob_store,
                                             blob_dir, json_log, monkeypatch):
    assert logging.getLogger("werkzeug").getEffectiveLevel() >= logging.ERROR  # no request log with addresses
    caplog.set_level(logging.DEBUG)
    code, sent = journey(client)
    _fail_one_submission(client, monkeypatch)  # so that the journey's log holds at least one line

    # markers, in the text fields, the files' names and contents, the reply
    needles: list[str | bytes] = [*MARKERS.values(), FILE_NAME_MARKER, FILE_CONTENT_MARKER, STAGED_MARKER, REPLY_MARKER,
                                  REPLY_FILE_MARKER, "My answer", "Statement.", "staged evidence"]
    needles += [content[:24] for content in sent.values()]
    # the receipt code in every spelling, and what is derived from it without the pepper
    words = code.split(" ")
    install_salt = read_secret(instance_dir, "receipt_salt")[:16]
    secret = receipt_secret(code, install_salt)
    needles += [code, "-".join(words), "".join(words), " ".join(w[:4] for w in words), "".join(w[:4] for w in words),
                code.upper(), secret, secret.hex()]
    needles += CLIENT_DETAILS

    haystacks = {"table dump": table_dump(database)}
    for path, data in files_under(instance_dir).items():
        haystacks[str(path.relative_to(instance_dir))] = data
    if settings_overrides["database_url"].startswith("sqlite"):
        db_file = Path(settings_overrides["database_url"].removeprefix("sqlite:///"))
        assert db_file.exists() and str(db_file.relative_to(instance_dir)) in haystacks
        # the files searched really hold the content: the sealed report is in them (main file or -wal)
        with database.engine.connect() as connection:
            sealed = connection.scalar(select(Report.sealed_report))
        assert sealed[:64] in b"".join(data for p, data in files_under(instance_dir).items() if p.name.startswith(db_file.name))
    names = set(haystacks)
    assert any(n.startswith("secrets") for n in names)
    for name, data in blob_files(blob_dir).items():
        haystacks[f"blob directory: {name}"] = data
    if blob_store == "filesystem":
        assert len(blob_files(blob_dir)) == 3  # the staged file, the report's own, the reply's
        assert not any((instance_dir / "blobs").iterdir())  # the configured directory, not the default one

    captured = capsys.readouterr()
    haystacks["log records"] = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records).encode()
    haystacks["log text"] = caplog.text.encode()
    haystacks["JSON log"] = json_log.getvalue().encode()
    haystacks["stdout"] = captured.out.encode()
    haystacks["stderr"] = captured.err.encode()
    assert_absent(needles, haystacks)
    # structured: one JSON object per line, the date but no time of day, no field beyond the known ones
    lines = json_log_lines(json_log.getvalue())
    assert len(lines) == len(caplog.records) >= 1  # every record the journey logged (at DEBUG) went through it
    assert [line["exc_type"] for line in lines if line["level"] == "error"] == ["RuntimeError"]

    # and once every connection is closed (SQLite checkpoints its -wal into the main file)
    app.extensions["portal.db"].dispose()
    database.dispose()
    assert_absent(needles, {str(p): data for p, data in files_under(instance_dir).items()})
    assert_absent(needles, {f"blob directory: {name}": data for name, data in blob_files(blob_dir).items()})


def _fail_one_submission(client, monkeypatch):
    """A submission that fails unexpectedly, with the markers in the exception's message."""
    import portal.reports.views as views

    def broken(*args, **kwargs):
        raise RuntimeError(f"boom with {MARKERS['what_happened']} inside")

    with monkeypatch.context() as patch:
        patch.setattr(views, "submit_from_server", broken)
        response = client.post("/report", content_type="multipart/form-data", data={
            "csrf_token": csrf_from(client.get("/report").data), "draft": "", **MARKERS})
    assert response.status_code == 500
    return response


def test_a_server_error_logs_nothing_about_the_request(app, client, caplog, capsys, monkeypatch, json_log):
    """Even the unexpected-error path logs the error's type only: no address, agent, referrer or content."""
    client.environ_base["REMOTE_ADDR"] = CLIENT_ADDR
    caplog.set_level(logging.DEBUG)
    response = _fail_one_submission(client, monkeypatch)
    assert b"Sorry, there is a problem with the service" in response.data
    assert any(getattr(r, "exc_type", None) == "RuntimeError" for r in caplog.records)
    (line,) = [line for line in json_log_lines(json_log.getvalue()) if line["level"] == "error"]
    assert line == {"date": dt.datetime.now(dt.UTC).date().isoformat(), "level": "error", "app": "reporter",
                    "logger": app.logger.name, "event": "unhandled exception", "exc_type": "RuntimeError",
                    "method": "POST", "route": "/report"}
    captured = capsys.readouterr()
    haystacks = {
        "log records": "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records).encode(),
        "log text": caplog.text.encode(),
        "JSON log": json_log.getvalue().encode(),
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "page": response.data,
    }
    assert_absent([*MARKERS.values(), *CLIENT_DETAILS, "boom with"], haystacks)
