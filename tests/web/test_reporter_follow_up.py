"""Reporter interface: following up with a receipt code.

Sign-in (every accepted spelling of a code, one uniform refusal, a rate limit),
the session cookie's attributes, the case page, replies with files, downloads
that can never render, sign-out that really ends the session, idle expiry,
tampered cookies, and a triage cookie that means nothing here.
"""

from __future__ import annotations

import html
import io
import re
import time
from http.cookies import SimpleCookie

import pyotp
from sqlalchemy import delete, func, select
from support import csrf_from, receipt_from, sign_in

from portal.blobs import Blob, BlobChunk
from portal.crypto.receipt import generate_receipt_code
from portal.forms import TOKEN_EXPIRED
from portal.reports.models import Attachment, Message
from portal.reports.views import WRONG_CODE
from portal.sessions import ServerSession

COOKIE = "portal_followup"
MARKER = "Marker-FollowUp-7731"


def counts(database) -> dict[str, int]:
    with database.engine.connect() as connection:
        return {m.__tablename__: connection.scalar(select(func.count()).select_from(m))
                for m in (Message, Attachment, Blob, BlobChunk, ServerSession)}


def submit(client, files=(), **fields) -> str:
    token = csrf_from(client.get("/report").data)
    data = {"csrf_token": token, "draft": "", "what_happened": f"What happened: {MARKER}",
            "people-0-name": "Named Person", **fields}
    if files:
        data["evidence"] = [(io.BytesIO(content), name) for content, name in files]
    response = client.post("/report", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.data[-1500:]
    return receipt_from(response.data)


def signed_in(client, code: str) -> bytes:
    response = sign_in(client, code)
    assert response.status_code == 302, response.data[-1500:]
    assert response.headers["Location"].endswith("/follow-up/case")
    page = client.get("/follow-up/case")
    assert page.status_code == 200
    return page.data


def cookie_value(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie is not None else None


def set_cookie(client, value: str, name: str = COOKIE) -> None:
    client.set_cookie(name, value, domain="localhost", path="/")


def assert_signed_out(response) -> None:
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"].endswith("/follow-up?expired=1")


def assert_reply_kept(response, text: str) -> None:
    """A reply sent after its session ended: not sent, shown back beside a way to sign in again."""
    assert response.status_code == 401, response.status_code
    page = response.get_data(as_text=True)
    assert "Your message was not sent" in page and "You were signed out before you pressed Send" in page
    assert re.search(r'<textarea class="govuk-textarea" id="kept-message"[^>]*>' + re.escape(html.escape(text)) + "</textarea>", page)
    assert 'id="sign-in-form"' in page and csrf_from(response.data)
    assert "Try again in a few minutes" not in page
    (cleared,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}=")]
    assert "Max-Age=0" in cleared or "Expires=Thu, 01 Jan 1970" in cleared


def error_messages(page: bytes) -> set[str]:
    """Every error shown: in the summary and beside fields."""
    found = re.findall(rb'<span class="govuk-visually-hidden">Error:</span> ([^<]+)</p>', page)
    summary = re.search(rb'govuk-error-summary__list">(.*?)</ul>', page, re.S)
    if summary:
        found += re.findall(rb"<li>(?:<a [^>]*>)?([^<]+)", summary.group(1))
    return {html.unescape(m.decode()).strip() for m in found}


def links(page: bytes) -> dict[str, str]:
    return {html.unescape(name.decode()): link.decode() for link, name in
            re.findall(rb'<a class="govuk-link" href="(/follow-up/files/[0-9a-f]{32})">([^<]*)</a>', page)}


def reply(client, message: str = "", files=(), token: str | None = "fresh", headers=None):
    data = {"message": message}
    if token == "fresh":
        token = csrf_from(client.get("/follow-up/case").data)
    if token is not None:
        data["csrf_token"] = token
    if files:
        data["evidence"] = [(io.BytesIO(content), name) for content, name in files]
    return client.post("/follow-up/reply", data=data, content_type="multipart/form-data", headers=headers or {})


# -- signing in ---------------------------------------------------------------------------


def test_every_accepted_spelling_of_the_code_signs_in(reporter_app):
    code = submit(reporter_app.test_client())
    words = code.split(" ")
    spellings = [
        code,
        code.upper(),
        "-".join(words),
        " ".join(w[:4] for w in words),
        code + "\n",
        "  " + "  ".join(words).title() + " \r\n",
        "-".join(w[:4].upper() for w in words),
        ", ".join(words),
    ]
    for spelling in spellings:
        client = reporter_app.test_client()
        page = signed_in(client, spelling)
        assert MARKER.encode() in page, spelling


def test_session_cookie_attributes(reporter_client):
    code = submit(reporter_client)
    response = sign_in(reporter_client, code)
    assert response.status_code == 302
    headers = response.headers.getlist("Set-Cookie")
    # the session cookie, and the sign-in form's binding cookie removed (portal.reports.sign_in_form)
    assert len(headers) == 2 and headers[1].startswith("portal_followup_form=;") and "Max-Age=0" in headers[1]
    cookie = SimpleCookie()
    cookie.load(headers[0])
    morsel = cookie[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert not morsel["expires"] and not morsel["max-age"]  # a session cookie: gone when the browser closes
    assert not morsel["domain"]
    assert len(morsel.value) >= 40 and code.split(" ")[0] not in morsel.value
    # over HTTPS the cookie is Secure as well
    page = reporter_client.get("/follow-up", base_url="https://localhost").data
    response = reporter_client.post("/follow-up", data={"csrf_token": csrf_from(page), "receipt_code": code},
                                    base_url="https://localhost")
    assert response.status_code == 302
    assert "; Secure" in response.headers.getlist("Set-Cookie")[0]


def test_wrong_and_malformed_codes_get_one_uniform_message(reporter_client):
    code = submit(reporter_client)
    words = code.split(" ")
    attempts = [
        generate_receipt_code(),  # well formed, wrong
        " ".join(words[:7]),  # seven words
        code + " " + words[0],  # nine words
        " ".join(words[:7] + ["zzzz"]),  # a word not in the list
        " ".join(words[:7] + [words[7][:3]]),  # a prefix too short
        "hello there",
        "' OR 1=1 --",
        "ü" * 50,
    ]
    messages = []
    for attempt in attempts:
        response = sign_in(reporter_client, attempt)
        assert response.status_code == 400, attempt
        assert response.headers.getlist("Set-Cookie") == []
        messages.append(error_messages(response.data))
    assert all(m == {WRONG_CODE} for m in messages), messages
    # nothing tells apart "wrong" from "malformed": same page except the echoed input and the token
    pages = []
    for attempt in (generate_receipt_code(), "hello there"):
        body = sign_in(reporter_client, attempt).data
        body = re.sub(rb'name="csrf_token" value="[^"]+"', b"", body)
        body = re.sub(rb'name="receipt_code"\s+type="text" value="[^"]*"', b"", body)
        pages.append(body)
    assert pages[0] == pages[1]
    # an empty code is asked for, not looked up
    assert error_messages(sign_in(reporter_client, "").data) == {"Enter your receipt code"}


def test_wrong_codes_from_anyone_never_lock_out_the_right_code(reporter_client):
    """Behind Tor every reporter shares one address: 80 wrong codes (more than any old limit)
    from the same client, then the reporter with the right code still gets in at once."""
    code = submit(reporter_client)
    for _ in range(80):
        assert sign_in(reporter_client, generate_receipt_code()).status_code == 400
    response = sign_in(reporter_client, code)
    assert response.status_code == 302 and response.headers["Location"].endswith("/follow-up/case")


def test_sign_in_without_token_is_refused(reporter_client):
    code = submit(reporter_client)
    response = reporter_client.post("/follow-up", data={"receipt_code": code})
    assert response.status_code == 403
    assert not any(c.startswith(COOKIE + "=") for c in response.headers.getlist("Set-Cookie"))  # no session
    assert code.encode() not in response.data  # and the code is not offered back
    token = csrf_from(reporter_client.get("/follow-up").data)
    assert reporter_client.post("/follow-up", data={"csrf_token": token, "receipt_code": code}).status_code == 302
    response = reporter_client.post("/follow-up", data={"csrf_token": token, "receipt_code": code})
    assert response.status_code == 403  # the token was used


# -- the case page -------------------------------------------------------------------------


def test_case_page_shows_status_report_and_attachment(reporter_client):
    code = submit(reporter_client, files=[(b"photo bytes", "IMG_0042.jpg")], when_happened="Last Tuesday",
                  risk_now="yes")
    page = signed_in(reporter_client, code)
    assert re.search(rb'id="report-status">Received</strong>', page)
    assert f"What happened: {MARKER}".encode() in page
    assert b"Name: Named Person" in page and b"Last Tuesday" in page
    assert list(links(page)) == ["IMG_0042.jpg"]
    assert b"There are no messages yet" in page
    assert csrf_from(page)


def test_reply_with_text_and_file_appears_in_the_conversation(reporter_client, database):
    code = submit(reporter_client)
    signed_in(reporter_client, code)
    before = counts(database)
    response = reply(reporter_client, "Here is the rota you asked for", files=[(b"rota,contents\n1,2\n", "rota.csv")])
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/follow-up/case?sent=1#conversation")
    page = reporter_client.get("/follow-up/case?sent=1").data
    conversation = re.search(rb'<ol class="portal-conversation">(.*?)</ol>', page, re.S).group(1)
    assert b"Here is the rota you asked for" in conversation
    assert b"<strong>You</strong>" in conversation
    assert b"rota.csv" in conversation
    assert b"has been encrypted and sent" in page
    after = counts(database)
    assert after["messages"] == before["messages"] + 1 and after["attachments"] == before["attachments"] + 1
    assert reporter_client.get(links(conversation)["rota.csv"]).data == b"rota,contents\n1,2\n"
    # a file alone is a reply too
    assert reply(reporter_client, "", files=[(b"only a file", "only.txt")]).status_code == 302
    assert counts(database)["messages"] == before["messages"] + 2


def test_empty_reply_is_an_error(reporter_client, database):
    signed_in(reporter_client, submit(reporter_client))
    for text in ("", "   \n\t "):
        response = reply(reporter_client, text)
        assert response.status_code == 400
        assert "Write a message or attach a file." in error_messages(response.data)
    response = reply(reporter_client, "m" * 20001)
    assert response.status_code == 400
    assert "Your message must be 20,000 characters or fewer" in error_messages(response.data)
    assert counts(database)["messages"] == 0


def test_reply_without_or_with_a_used_token_stores_nothing(reporter_client, database):
    signed_in(reporter_client, submit(reporter_client))
    before = counts(database)
    response = reply(reporter_client, "no token here", files=[(b"file" * 100, "f.txt")], token=None)
    assert response.status_code in (400, 403)
    assert any(TOKEN_EXPIRED in m for m in error_messages(response.data))
    assert b"no token here</textarea>" in response.data  # the text is kept
    assert counts(database) == before

    token = csrf_from(reporter_client.get("/follow-up/case").data)
    assert reply(reporter_client, "first", token=token).status_code == 302
    before = counts(database)
    response = reply(reporter_client, "replayed", files=[(b"again", "again.txt")], token=token)
    assert response.status_code in (400, 403)
    assert any(TOKEN_EXPIRED in m for m in error_messages(response.data))
    assert counts(database) == before
    page = reporter_client.get("/follow-up/case").data
    assert b"first" in page and b"replayed" not in page

    # a cross-site reply with a good token is refused as well
    response = reply(reporter_client, "cross", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code in (400, 403)
    assert counts(database) == before


def test_reply_needs_a_session(reporter_client, database):
    response = reporter_client.post("/follow-up/reply", data={"message": "x", "csrf_token": "y"},
                                    content_type="multipart/form-data")
    assert_reply_kept(response, "x")
    assert counts(database)["messages"] == 0


def test_a_reply_written_as_the_session_ends_is_kept_without_javascript(make_app, database):
    """Issue 15: the session ends while the reporter writes; without JavaScript the text was thrown away."""
    app = make_app(reporter_idle_timeout=1)
    client = app.test_client()
    form_token = csrf_from(signed_in(client, submit(client)))
    time.sleep(2.1)
    text = "He did it again <b>last night</b> & nobody stopped him"
    response = client.post("/follow-up/reply", data={"message": text, "csrf_token": form_token,
                                                     "evidence": (io.BytesIO(b"photo bytes"), "photo.jpg")},
                           content_type="multipart/form-data")
    assert_reply_kept(response, text)
    assert counts(database)["messages"] == 0 and counts(database)["attachments"] == 0
    assert counts(database)["server_sessions"] == 0


def test_a_sealed_reply_after_the_session_ended_is_told_what_happened(make_app, database):
    """The JavaScript path said "try again in a few minutes", which could never succeed."""
    app = make_app(reporter_idle_timeout=1)
    client = app.test_client()
    signed_in(client, submit(client))
    time.sleep(2.1)
    response = client.post("/follow-up/reply", data={"mode": "browser", "csrf_token": "x", "sealed_message": "AAAA"},
                           content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert response.status_code == 401
    body = response.get_json()
    assert body["ok"] is False and body["expired"] is True and body["sign_in"] == "/follow-up"
    assert "signed out" in body["errors"][0]["message"] and "Nothing was sent" in body["errors"][0]["message"]
    assert "Try again in a few minutes" not in body["errors"][0]["message"]
    assert body["csrf_token"]
    assert counts(database)["messages"] == 0


# -- downloads ------------------------------------------------------------------------------


def test_download_returns_the_original_bytes_and_never_renders(reporter_client):
    evil = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
    binary = bytes(range(256)) * 300
    code = submit(reporter_client, files=[(evil, "evil.html"), (binary, "data.bin")])
    page = signed_in(reporter_client, code)
    found = links(page)
    for name, content in (("evil.html", evil), ("data.bin", binary)):
        response = reporter_client.get(found[name])
        assert response.status_code == 200
        assert response.data == content
        assert response.mimetype == "application/octet-stream"
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
        csp = response.headers["Content-Security-Policy"]
        assert "sandbox" in csp and "default-src 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response.headers["Cache-Control"]


def test_download_name_is_made_header_safe(reporter_client):
    code = submit(reporter_client, files=[(b"x", 'r\u00e9sum\u00e9 "final";.pdf')])
    page = signed_in(reporter_client, code)
    (link,) = links(page).values()
    disposition = reporter_client.get(link).headers["Content-Disposition"]
    # an ASCII fallback, and the real name percent-encoded (RFC 6266): nothing that can break the header
    assert re.fullmatch(r"attachment; filename=\"[A-Za-z0-9._-]+\"(; filename\*=UTF-8''[A-Za-z0-9%._~-]+)?", disposition), disposition
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9" in disposition


def test_download_of_unknown_or_another_reports_file_is_404(reporter_app):
    mine, theirs = reporter_app.test_client(), reporter_app.test_client()
    my_page = signed_in(mine, submit(mine, files=[(b"mine", "mine.txt")]))
    their_page = signed_in(theirs, submit(theirs, files=[(b"theirs", "theirs.txt")]))
    their_link = links(their_page)["theirs.txt"]
    assert theirs.get(their_link).data == b"theirs"
    response = mine.get(their_link)
    assert response.status_code == 404
    assert b"theirs" not in response.data
    for path in ("/follow-up/files/" + "00" * 16, "/follow-up/files/nothex", "/follow-up/files/" + "ab" * 40,
                 "/follow-up/files/", links(my_page)["mine.txt"].upper()):
        response = mine.get(path)
        assert response.status_code == 404, path
    # without a session: back to sign-in
    assert_signed_out(reporter_app.test_client().get(their_link))


# -- signing out and session lifetime --------------------------------------------------------


def test_sign_out_clears_everything_and_the_old_cookie_is_dead(reporter_client, database):
    page = signed_in(reporter_client, submit(reporter_client))
    old = cookie_value(reporter_client)
    assert old
    assert counts(database)["server_sessions"] == 1

    # without its token, sign-out is refused and the session lives on
    assert reporter_client.post("/follow-up/sign-out", data={}).status_code == 403
    assert reporter_client.get("/follow-up/case").status_code == 200

    response = reporter_client.post("/follow-up/sign-out", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/signed-out")
    clear = response.headers["Clear-Site-Data"]
    assert '"cookies"' in clear and '"storage"' in clear and '"cache"' in clear
    (set_cookie_header,) = response.headers.getlist("Set-Cookie")
    assert set_cookie_header.startswith(f"{COOKIE}=;")
    assert "Expires=Thu, 01 Jan 1970" in set_cookie_header or "Max-Age=0" in set_cookie_header
    assert cookie_value(reporter_client) is None
    assert counts(database)["server_sessions"] == 0
    assert b"You have signed out" in reporter_client.get("/signed-out").data

    # someone who copied the cookie before sign-out gets nothing
    set_cookie(reporter_client, old)
    assert_signed_out(reporter_client.get("/follow-up/case"))
    set_cookie(reporter_client, old)
    assert_reply_kept(reporter_client.post("/follow-up/reply", data={"message": "x"}, content_type="multipart/form-data"), "x")
    assert counts(database)["messages"] == 0


def test_idle_session_expires(make_app, database):
    app = make_app(reporter_idle_timeout=1)
    client = app.test_client()
    signed_in(client, submit(client))
    time.sleep(2.1)
    response = client.get("/follow-up/case")
    assert_signed_out(response)
    assert cookie_value(client) is None  # the redirect deletes the cookie
    assert counts(database)["server_sessions"] == 0  # and the row is gone


def test_activity_keeps_the_session_alive(make_app):
    app = make_app(reporter_idle_timeout=3)
    client = app.test_client()
    signed_in(client, submit(client))
    for _ in range(3):
        time.sleep(1.2)
        assert client.get("/follow-up/case").status_code == 200


def _flip(value: str, index: int) -> str:
    ch = value[index]
    return value[:index] + ("A" if ch != "A" else "B") + value[index + 1:]


def test_tampered_cookie_is_refused_without_error(reporter_client, reporter_app):
    signed_in(reporter_client, submit(reporter_client))
    good = cookie_value(reporter_client)
    variants = [_flip(good, 0), _flip(good, len(good) // 3), _flip(good, len(good) // 2 + 3), _flip(good, -1),
                good[:-1], good + "A", good + "AAAA", good[::-1], "", "=", "%%%%", "A" * 4000,
                "not base64 at all!", good[:22]]
    for value in variants:
        client = reporter_app.test_client()
        set_cookie(client, value)
        response = client.get("/follow-up/case")
        assert_signed_out(response)
        response = client.get("/follow-up/files/" + "00" * 16)
        assert_signed_out(response)
    # the genuine cookie still works
    assert reporter_client.get("/follow-up/case").status_code == 200


def test_deleting_the_session_row_ends_the_session(reporter_client, database):
    signed_in(reporter_client, submit(reporter_client))
    with database.transaction() as session:
        session.execute(delete(ServerSession))
    assert_signed_out(reporter_client.get("/follow-up/case"))


def _triage_sign_in(triage_client, account) -> str:
    page = triage_client.get("/login")
    response = triage_client.post("/login", data={"csrf_token": csrf_from(page.data), "login": account.login,
                                                   "passphrase": account.passphrase})
    assert response.status_code == 302, response.data[-1500:]
    page = triage_client.get("/login/code")
    response = triage_client.post("/login/code", data={"csrf_token": csrf_from(page.data),
                                                       "code": pyotp.TOTP(account.totp_secret).now()})
    assert response.status_code == 302, response.data[-1500:]
    assert "/login" not in response.headers["Location"]
    cookie = triage_client.get_cookie("portal_reviewer")
    assert cookie is not None
    return cookie.value


def test_triage_cookie_means_nothing_to_the_reporter_app(reporter_client, triage_client, lead, database):
    submit(reporter_client)
    reviewer_cookie = _triage_sign_in(triage_client, lead)
    assert triage_client.get("/").status_code == 200  # the reviewer session is live
    csrf_cookie = triage_client.get_cookie("portal_triage_csrf")

    # the triage cookies under their own names: the reporter app ignores them
    set_cookie(reporter_client, reviewer_cookie, "portal_reviewer")
    if csrf_cookie is not None:
        set_cookie(reporter_client, csrf_cookie.value, "portal_triage_csrf")
    assert_signed_out(reporter_client.get("/follow-up/case"))
    for path in ("/", "/login", "/reports/1"):
        response = reporter_client.get(path)
        assert response.status_code == (200 if path == "/" else 404)
        assert response.headers.getlist("Set-Cookie") == []

    # the reviewer's session value under the reporter's cookie name: still nothing
    set_cookie(reporter_client, reviewer_cookie)
    assert_signed_out(reporter_client.get("/follow-up/case"))
    assert_signed_out(reporter_client.get("/follow-up/files/" + "00" * 16))
    # and the reviewer session was not disturbed (a reporter-side check must not delete another kind's row)
    assert triage_client.get("/").status_code == 200
