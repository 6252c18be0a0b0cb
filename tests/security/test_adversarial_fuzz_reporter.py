"""Property-based fuzzing of every reporter form (hypothesis).

/report (the no-JavaScript multipart form), /follow-up (sign-in), /follow-up/reply
and /follow-up/sign-out get arbitrary text (control characters, NUL, up to about
100 KB), invalid UTF-8, files where text is expected and text where a file is
expected, missing and unknown fields, and choices outside the lists. Every
answer must be graceful (never a 500; a 4xx is an HTML page with a heading, or
the form again); on a validation error the text the reporter typed must be in
the page; and after each run the marker put in every fuzzed text must not be
anywhere at rest (database file and -wal, instance directory, every table).
"""

from __future__ import annotations

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from markupsafe import escape
from support import csrf_from, receipt_from, sign_in, submit_report, work_fields
from test_adversarial_common import (
    FUZZ,
    MARKER,
    MARKER_BYTES,
    NASTY,
    assert_graceful,
    assert_not_at_rest,
    build_app,
    marked_text,
    nasty_text,
    post_multipart,
    reporter_token,
)

from portal.reports.answers import HOW_KNOWN_CHOICES, RISK_CHOICES

TEXT_FIELDS = ["what_happened", "when_happened", "where_happened", "witnesses"] + [
    f"people-{i}-{k}" for i in range(3) for k in ("name", "role", "identifier", "unit")
]
CHOICES = {
    "risk_now": list(RISK_CHOICES),
    "vulnerable_person": list(RISK_CHOICES),
    "how_known": list(HOW_KNOWN_CHOICES),
    "category": ["sexual-assault", "misuse-of-systems", "other", ""],
}
HOSTILE_NAMES = ["../../etc/passwd", "..\\..\\boot.ini", "a\x00b.txt", "\u202etxt.exe", "x" * 300, "", ".", "..",
                 "/", "C:\\evil.png", "photo.jpg\r\nX-Injected: 1", 'quote".pdf', "\x1b[31mred.txt", "ok.png"]


@pytest.fixture
def app(settings_overrides, database, lead, recovery_key):
    app = build_app("reporter", settings_overrides)
    yield app
    app.extensions["portal.db"].dispose()


def invalid_utf8() -> st.SearchStrategy[bytes]:
    return st.builds(lambda a, b: MARKER_BYTES + a + b, st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]),
                     st.binary(max_size=20))


def file_part(names=("evidence",)) -> st.SearchStrategy[tuple]:
    return st.tuples(
        st.sampled_from(names),
        st.builds(lambda head, b: head + MARKER_BYTES + b, st.sampled_from([b"", b"\x01\x03"]), st.binary(max_size=300)),
        st.one_of(st.sampled_from(HOSTILE_NAMES), nasty_text(40)),
        st.sampled_from(["application/octet-stream", "text/html", "image/svg+xml", "", "text/plain; charset=\x01", "x" * 300]),
    )


@st.composite
def report_submissions(draw):
    """(parts, typed text by field, mode, token_first) for one POST /report."""
    parts: list[tuple] = []
    typed: dict[str, str] = {}
    token = draw(st.sampled_from(["valid"] * 8 + ["missing", "garbage"]))
    mode = draw(st.sampled_from([None] * 6 + ["server", "browser", "BROWSER", "\x00"]))
    if token == "valid":
        parts.append(("csrf_token", "{token}"))
    elif token == "garbage":
        parts.append(("csrf_token", draw(nasty_text())))
    if mode is not None:
        parts.append(("mode", mode))
    work = draw(st.sampled_from(["valid"] * 3 + ["missing", "garbage"]))
    if work == "valid":
        parts += [("pow_challenge", "{pow_challenge}"), ("pow_solution", "{pow_solution}")]
    elif work == "garbage":
        parts += [("pow_challenge", draw(nasty_text())), ("pow_solution", draw(nasty_text(12)))]
    if draw(st.booleans()):
        parts.append(("draft", draw(nasty_text())))
    # Half the examples are plausible (answers within the limits, choices from the lists), so the
    # successful path, where everything is sealed and stored, gets hostile content too.
    plausible = draw(st.booleans())
    for name in TEXT_FIELDS:
        if plausible:
            kind = "text" if name == "what_happened" else draw(st.sampled_from(["text", "missing"]))
        else:
            kind = draw(st.sampled_from(["text"] * 4 + ["missing"] * 3 + ["bytes", "file"]))
        if kind == "text":
            value = draw(st.builds(lambda v: v[:190], marked_text()) if plausible else marked_text())
            if plausible and name == "what_happened" and not value.strip():
                value = MARKER
            parts.append((name, value))
            typed[name] = value
        elif kind == "bytes":
            parts.append((name, draw(invalid_utf8())))
        elif kind == "file":
            parts.append(draw(file_part((name,))))
    for name, valid in CHOICES.items():
        choice = draw(st.one_of(st.none(), st.sampled_from(valid)) if plausible else st.one_of(st.none(), st.sampled_from(valid), nasty_text()))
        if choice is not None:
            parts.append((name, choice))
    for _ in range(draw(st.integers(0, 2))):
        parts.append((draw(st.one_of(st.sampled_from(["people-9-name", "people-99-name", "csrf", "evidence", "x"]), nasty_text(20))),
                      draw(marked_text())))
    names = ["evidence", "evidence", "attachment." + "ab" * 16, "attachment.zz", "unknown"]
    parts += draw(st.lists(file_part(names), max_size=3))
    return parts, typed, mode, draw(st.booleans())


@FUZZ
@given(submission=report_submissions())
def test_report_form_fuzz(app, database, instance_dir, marker_check, submission):
    parts, typed, mode, json_accept = submission
    client = app.test_client()
    token = reporter_token(app)
    solved = {"{token}": token, **{f"{{{k}}}": v for k, v in work_fields(client, "report").items()}}
    parts = [(p[0], solved[p[1]]) + p[2:] if isinstance(p[1], str) and p[1] in solved else p for p in parts]
    headers = {"Accept": "application/json"} if json_accept and mode is None else {}
    response = post_multipart(client, "/report", parts, headers=headers)
    event(f"status {response.status_code}")
    browser = mode == "browser" or json_accept
    assert_graceful(response, allow_json=browser)
    assert "Set-Cookie" not in response.headers  # no cookie before a reporter signs in with a code
    if response.status_code == 200 and response.mimetype == "text/html":
        assert receipt_from(response.data)
    if response.status_code in (400, 403) and response.mimetype == "text/html":
        page = response.data.decode("utf-8")
        for name, value in typed.items():
            if len(value) < 90_000:  # every typed answer comes back in the form, escaped
                assert str(escape(value)) in page, name
        if any(isinstance(p[1], bytes) and len(p) == 2 and p[0] in TEXT_FIELDS for p in parts) and response.status_code == 400:
            assert "could not be read" in page


def test_report_form_fuzz_leaves_no_plaintext(app, database, instance_dir):
    """Run after the fuzz in the same shape: a successful and a failed submission with files, then search."""
    client = app.test_client()
    text = f"plain {MARKER} text"
    good = post_multipart(client, "/report", [("csrf_token", reporter_token(app)), ("what_happened", text),
                                               ("people-0-name", text), ("evidence", MARKER_BYTES * 50, f"{MARKER}.txt", "text/plain")])
    assert good.status_code == 200 and receipt_from(good.data)
    bad = post_multipart(client, "/report", [("csrf_token", reporter_token(app)), ("what_happened", text), ("risk_now", "nope"),
                                              ("evidence", MARKER_BYTES * 50, f"{MARKER}.txt", "text/plain")])
    assert bad.status_code == 400 and MARKER in bad.data.decode()
    assert_not_at_rest([MARKER], database, instance_dir)


@pytest.fixture
def marker_check(database, instance_dir):
    """Search everything at rest for the marker after the test (and its whole hypothesis run)."""
    yield
    database.session.rollback()
    assert_not_at_rest([MARKER], database, instance_dir)


@pytest.fixture
def signed_in(app):
    client = app.test_client()
    code = submit_report(client, what_happened="a report to follow up")
    response = sign_in(client, code)
    assert response.status_code == 302
    return client


@st.composite
def replies(draw):
    parts: list[tuple] = []
    typed = None
    token = draw(st.sampled_from(["valid"] * 6 + ["missing", "garbage"]))
    if token == "valid":
        parts.append(("csrf_token", "{token}"))
    elif token == "garbage":
        parts.append(("csrf_token", draw(nasty_text())))
    mode = draw(st.sampled_from([None] * 5 + ["browser", "server"]))
    if mode:
        parts.append(("mode", mode))
    kind = draw(st.sampled_from(["text"] * 4 + ["missing", "bytes", "file"]))
    if kind == "text":
        typed = draw(marked_text())
        parts.append(("message", typed))
    elif kind == "bytes":
        parts.append(("message", draw(invalid_utf8())))
    elif kind == "file":
        parts.append(draw(file_part(("message",))))
    if mode == "browser":
        for name in ("message_id", "sealed_message", "attachment_meta." + "ab" * 16):
            if draw(st.booleans()):
                parts.append((name, draw(nasty_text())))
    for _ in range(draw(st.integers(0, 2))):
        parts.append((draw(nasty_text(20)), draw(marked_text())))
    parts += draw(st.lists(file_part(("evidence", "attachment." + "cd" * 16, "other")), max_size=2))
    return parts, typed, mode


@FUZZ
@given(reply=replies())
def test_reply_form_fuzz(app, signed_in, marker_check, reply):
    parts, typed, mode = reply
    token = csrf_from(signed_in.get("/follow-up/case").data)
    parts = [(p[0], token) + p[2:] if p[1] == "{token}" else p for p in parts]
    response = post_multipart(signed_in, "/follow-up/reply", parts)
    event(f"status {response.status_code}")
    assert_graceful(response, allow_json=mode == "browser")
    if response.status_code == 302:
        assert "/follow-up/case" in response.headers["Location"]
    if response.status_code in (400, 403) and response.mimetype == "text/html" and typed is not None and len(typed) < 90_000:
        page = response.data.decode()
        assert str(escape(typed)) in page


@st.composite
def sign_ins(draw):
    fields = {}
    token = draw(st.sampled_from(["valid"] * 5 + ["missing", "garbage"]))
    if token == "valid":
        fields["csrf_token"] = "{token}"
    elif token == "garbage":
        fields["csrf_token"] = draw(nasty_text())
    code = draw(st.one_of(
        st.none(),
        marked_text(),
        st.sampled_from(NASTY),
        # right shape, wrong words; and real words in a code that was never issued
        st.lists(st.sampled_from(["able", "acid", "zzzz", "abou", "ab", "ABLE-"]), min_size=1, max_size=10).map(" ".join),
    ))
    if code is not None:
        fields["receipt_code"] = code
    for _ in range(draw(st.integers(0, 2))):
        fields[draw(nasty_text(10)) or "x"] = draw(marked_text())
    return fields, draw(st.sampled_from(["form", "multipart", "multipart-file"]))


@FUZZ
@given(attempt=sign_ins())
def test_sign_in_form_fuzz(app, marker_check, attempt):
    fields, encoding = attempt
    client = app.test_client()
    fields = {k: (reporter_token(app) if v == "{token}" else v) for k, v in fields.items()}
    if encoding == "form":
        response = client.post("/follow-up", data=fields)
    else:
        parts = list(fields.items())
        if encoding == "multipart-file":
            parts.append(("receipt_code", MARKER_BYTES, "code.txt", "text/plain"))
        response = post_multipart(client, "/follow-up", parts)
    assert_graceful(response)
    assert response.status_code != 302  # nobody guesses a code
    assert client.get_cookie("portal_followup") is None
    code = fields.get("receipt_code")
    if response.status_code == 400 and encoding != "multipart-file" and code and len(code) <= 200 and "\x00" not in code:
        assert str(escape(code)) in response.data.decode()


@FUZZ
@given(token=st.one_of(st.none(), nasty_text()), cookie=st.one_of(st.none(), nasty_text(80)), valid_token=st.booleans())
def test_sign_out_fuzz(app, token, cookie, valid_token):
    client = app.test_client()
    if cookie:
        client.set_cookie("portal_followup", cookie.encode("ascii", "ignore").decode() or "x", domain="localhost", path="/")
    data = {"csrf_token": reporter_token(app) if valid_token else token} if (valid_token or token is not None) else {}
    response = client.post("/follow-up/sign-out", data=data)
    assert_graceful(response)
    assert response.status_code in (302, 403, 400)


@FUZZ
@given(segment=nasty_text(), query=nasty_text())
def test_reporter_get_routes_fuzz(app, signed_in, segment, query):
    from urllib.parse import quote

    for path in (f"/follow-up/files/{quote(segment, safe='')}", f"/follow-up?expired={quote(query, safe='')}",
                 f"/follow-up/case?sent={quote(query, safe='')}", f"/{quote(segment, safe='')}"):
        response = signed_in.get(path)
        assert_graceful(response)


# -- regressions found by this battery -------------------------------------------------------


@pytest.mark.parametrize("head", [b"\x01\x03", b"\x09\x09"], ids=["stream-header", "damaged-header"])
def test_browser_attachment_id_sent_twice_or_damaged_is_a_400_not_a_500(app, database, head):
    """A browser-encrypted part with a damaged header used to raise out of the parser, and an
    attachment id sent twice (or already stored) crashed on the blob's primary key: both were 500s."""
    from test_adversarial_common import row_counts

    from portal.blobs import Blob

    client = app.test_client()
    part = ("attachment." + "ab" * 16, head + b"ciphertext", "x", "application/octet-stream")
    work = list(work_fields(client, "report").items())
    response = post_multipart(client, "/report", [("csrf_token", reporter_token(app)), ("mode", "browser"), *work, part, part])
    assert response.status_code == 400 and response.get_json()["ok"] is False
    assert "retry" not in response.get_json()  # refused for the file, past the proof of work
    assert row_counts(database, Blob) == {"blobs": 0}
