"""Reporter interface: which routes exist, what every response carries, and no cookie before sign-in.

The reporter app is public: it must serve only reporter pages (never a triage
route), put the strict security headers on every single response (pages, JSON,
static files, redirects and every error page), and set no cookie at all until a
reporter signs in with a receipt code.
"""

from __future__ import annotations

import io
import re

import pytest
from support import csrf_from, receipt_from, sign_in, submit_report

from portal.app import create_app
from portal.config import PROJECT_ROOT
from portal.crypto import kdf
from portal.crypto.receipt import generate_receipt_code
from portal.instance import read_secret
from portal.web import PERMISSIONS_POLICY

PROJECT_STATIC = PROJECT_ROOT / "static"




def assert_security_headers(response) -> None:
    """What every reporter response must carry, whatever its status or type."""
    h = response.headers
    where = f"{response.request.method} {response.request.path} -> {response.status_code}"
    csp = h.get("Content-Security-Policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("default-src") == "default-src 'none'", (where, csp)
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (where, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval'" not in csp.replace("wasm-unsafe-eval'", ""), (where, csp)
    assert "*" not in csp and "http:" not in csp and "https:" not in csp and "data:" not in csp, (where, csp)
    # The follow-up sign-in page sends same-origin, so that its form post carries the real Origin
    # (portal.reports.sign_in_form); nothing leaves for another site either way.
    pages_with_form = response.request.path == "/follow-up" and response.mimetype == "text/html"
    expected = "same-origin" if pages_with_form and response.status_code != 302 else "no-referrer"
    assert h.get("Referrer-Policy") == expected, where
    assert h.get("X-Content-Type-Options") == "nosniff", where
    assert h.get("Cross-Origin-Opener-Policy") == "same-origin", where
    assert h.get("Cross-Origin-Resource-Policy") == "same-origin", where
    assert "no-store" in h.get("Cache-Control", ""), (where, h.get("Cache-Control"))
    assert h.get("Permissions-Policy") == PERMISSIONS_POLICY, where
    assert "camera=()" in h["Permissions-Policy"] and "geolocation=()" in h["Permissions-Policy"]
    assert "ETag" not in h and "Last-Modified" not in h, where


def assert_no_cookie(response) -> None:
    assert response.headers.getlist("Set-Cookie") == [], (response.request.path, response.headers.getlist("Set-Cookie"))


# -- routes and pages ------------------------------------------------------------------


def test_start_page(reporter_client):
    response = reporter_client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    body = response.data
    assert b'href="/report"' in body and b'href="/follow-up"' in body
    # Guidance before submitting (DESIGN: personal device and network, metadata, keeping the code safe)
    assert b"Do not use a force computer" in body
    assert b"hidden information" in body
    assert b"Keeping your receipt code safe" in body
    # No third-party resource, no inline script; the only links off the site are the configured
    # "other ways to raise a concern", opened without a referrer.
    assert not re.search(rb'src="(https?:)?//', body)
    assert not re.search(rb'<link[^>]*href="(https?:)?//', body)
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", body)
    outside = re.findall(rb'<a [^>]*href="((?:https?:)?//[^"]*)"[^>]*>', body)
    assert set(outside) == {b"https://www.policeconduct.gov.uk/", b"https://crimestoppers-uk.org/", b"https://protect-advice.org.uk/"}
    assert body.count(b'rel="noreferrer noopener"') == len(outside)


def test_start_page_never_sends_reporters_to_their_force_for_the_onion_address(reporter_client):
    """Issue 15: the reporter may be reporting on their force; where to get the onion address is configured."""
    body = reporter_client.get("/").get_data(as_text=True)
    onion = re.search(r'<li id="onion-address">(.*?)</li>', body, re.S).group(1)
    assert "onion address" in onion and "force can give" not in onion and "from your force" not in onion
    assert "from the organisation that runs this service" in onion
    other = body[body.index('id="other-ways"'):]
    for name in ("Independent Office for Police Conduct (IOPC)", "Crimestoppers", "Protect"):
        assert name in other


def test_start_page_contacts_come_from_configuration(tmp_path):
    from portal.config import Contact, SettingsError, load_settings

    settings = load_settings({"instance_dir": str(tmp_path), "onion_address_source": "from the Wales office",
                              "other_ways": [{"name": "Example body", "website": "https://example.org/", "phone": "0300 000 0000"}]})
    assert settings.other_ways == (Contact("Example body", "https://example.org/", "", "0300 000 0000"),)
    with pytest.raises(SettingsError, match="https://"):
        load_settings({"instance_dir": str(tmp_path), "other_ways": [{"name": "X", "website": "http://x.example/"}]})
    with pytest.raises(SettingsError, match="only"):
        load_settings({"instance_dir": str(tmp_path), "other_ways": [{"name": "X", "email": "a@b"}]})
    env = load_settings({"instance_dir": str(tmp_path)}, environ={"PORTAL_OTHER_WAYS": '[{"name": "Y", "website": "https://y.example/"}]'})
    assert env.other_ways == (Contact("Y", "https://y.example/"),)


def test_report_form_page(reporter_client):
    response = reporter_client.get("/report")
    assert response.status_code == 200
    body = response.data
    assert b'<form id="report-form" method="post" enctype="multipart/form-data" action="/report"' in body
    assert csrf_from(body)
    assert b'name="draft" value=""' in body
    for name in (b"what_happened", b"people-0-name", b"people-0-identifier", b"when_happened", b"where_happened",
                 b"risk_now", b"vulnerable_person", b"how_known", b"witnesses", b"category", b"evidence"):
        assert b'name="' + name + b'"' in body, name
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", body)
    # two loads give two different one-time tokens
    assert csrf_from(reporter_client.get("/report").data) != csrf_from(body)


def test_follow_up_page(reporter_client):
    response = reporter_client.get("/follow-up")
    assert response.status_code == 200
    body = response.data
    assert b'action="/follow-up"' in body and b'name="receipt_code"' in body
    assert csrf_from(body)
    assert b'autocomplete="off"' in body
    assert b"Signed out" not in body
    assert b"Signed out" in reporter_client.get("/follow-up?expired=1").data


def test_keys_json(reporter_client, instance_dir, lead, recovery_key):
    response = reporter_client.get("/keys.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert data["version"] == 1
    fingerprints = {r["fingerprint"] for r in data["recipients"]}
    assert fingerprints == {lead.fingerprint, recovery_key.public_key().fingerprint}
    for recipient in data["recipients"]:
        assert re.fullmatch(r"[0-9a-f]{64}", recipient["intake_x25519"]), recipient
    assert re.fullmatch(r"[0-9a-f]{32}", data["install_salt"])
    assert bytes.fromhex(data["install_salt"]) == read_secret(instance_dir, "receipt_salt")[:16]
    params = kdf.RECEIPT_ARGON2
    assert data["argon2"] == {"time_cost": params.time_cost, "memory_kib": params.memory_kib, "parallelism": params.parallelism}
    assert isinstance(data["chunk_log2"], int)
    assert set(data["limits"]) == {"file_bytes", "report_bytes", "files"}
    # Public values only: no secret of the instance directory in any form.
    text = response.data.lower()
    for name in ("receipt_pepper", "reporter_secret_key", "triage_secret_key", "totp_key", "blind_index_key",
                 "audit_key", "backup_key"):
        assert read_secret(instance_dir, name).hex().encode() not in text, name
    assert read_secret(instance_dir, "receipt_salt").hex().encode() not in text  # only the first 16 bytes


def test_keys_json_lists_only_intake_recipients(reporter_client, make_reviewer, lead, recovery_key):
    other = make_reviewer("second", "reviewer", receives_new_reports=False)
    fingerprints = {r["fingerprint"] for r in reporter_client.get("/keys.json").get_json()["recipients"]}
    assert other.fingerprint not in fingerprints
    assert lead.fingerprint in fingerprints


UNKNOWN_PATHS = ["/nope", "/report/", "/keys", "/follow-up/case/extra", "/.env", "/login", "/login/code", "/logout",
                 "/queue", "/reports/1", "/reports/R-ABCD-EFGH", "/admin", "/admin/reviewers", "/account", "/themes",
                 "/themes.csv"]


def test_unknown_and_triage_paths_are_404(reporter_client):
    for path in UNKNOWN_PATHS:
        for method in ("GET", "POST"):
            response = reporter_client.open(path, method=method)
            assert response.status_code == 404, (method, path, response.status_code)
            assert b"Page not found" in response.data
            assert_security_headers(response)
            assert_no_cookie(response)


def _concrete(rule) -> str:
    path = rule.rule
    path = re.sub(r"<int:[^>]+>", "1", path)
    path = re.sub(r"<reference>", "R-ABCD-EFGH", path)
    path = re.sub(r"<[^>]+>", "00112233445566778899aabbccddeeff", path)
    return path


def test_reporter_serves_no_route_of_the_triage_app(reporter_app, settings_overrides):
    """Every route the triage app has (except shared health checks and '/') is a 404 here."""
    triage = create_app("triage", settings_overrides)
    try:
        reporter_paths = {r.rule for r in reporter_app.url_map.iter_rules()}
        client = reporter_app.test_client()
        checked = 0
        for rule in triage.url_map.iter_rules():
            if rule.rule in reporter_paths or rule.endpoint == "static":
                continue
            path = _concrete(rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = client.open(path, method=method)
                assert response.status_code == 404, (method, path, response.status_code)
                checked += 1
        assert checked >= 20
        triage_blueprints = set(triage.blueprints)
        assert triage_blueprints
        assert not any(r.endpoint.split(".")[0] in triage_blueprints for r in reporter_app.url_map.iter_rules())
    finally:
        triage.extensions["portal.db"].dispose()


# -- headers on every response ------------------------------------------------------------


def test_headers_on_pages_json_and_static(reporter_client):
    for path in ("/", "/report", "/follow-up", "/follow-up?expired=1", "/signed-out", "/keys.json", "/healthz", "/readyz"):
        response = reporter_client.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)
        if path.startswith("/follow-up"):
            # The one cookie before signing in, for someone who chose to follow up: the sign-in form's
            # binding (portal.reports.sign_in_form), random, for this path only, gone with the browser.
            (cookie,) = response.headers.getlist("Set-Cookie")
            assert re.fullmatch(r"portal_followup_form=[A-Za-z0-9_-]{43}; HttpOnly; Path=/follow-up; SameSite=Strict", cookie)
            reporter_client.delete_cookie("portal_followup_form", path="/follow-up")
        else:
            assert_no_cookie(response)
    assert "script-src 'self'" in reporter_client.get("/").headers["Content-Security-Policy"]


@pytest.mark.parametrize("asset", ["css/portal.css", "js/report-form.js", "js/wordlist.txt"])
def test_headers_on_static_files(reporter_client, asset):
    if not (PROJECT_STATIC / asset).exists():
        pytest.skip(f"static/{asset} is absent")
    response = reporter_client.get(f"/static/{asset}")
    assert response.status_code == 200
    assert response.data == (PROJECT_STATIC / asset).read_bytes()
    assert_security_headers(response)
    assert_no_cookie(response)
    response.close()


def test_headers_on_redirects_and_errors(reporter_client, make_app):
    # redirect: the case page without a session
    response = reporter_client.get("/follow-up/case")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/follow-up?expired=1")
    assert_security_headers(response)

    # 404, also for a missing static file
    assert_security_headers(reporter_client.get("/nope"))
    response = reporter_client.get("/static/nope.css")
    assert response.status_code == 404
    assert_security_headers(response)

    # 405 (a GET on a POST-only route)
    response = reporter_client.get("/follow-up/sign-out")
    assert response.status_code == 405
    assert_security_headers(response)

    # 403: a form without its token
    response = reporter_client.post("/report", data={"what_happened": "x"}, content_type="multipart/form-data")
    assert response.status_code == 403
    assert_security_headers(response)
    response = reporter_client.post("/follow-up", data={"receipt_code": "x"})
    assert response.status_code == 403
    assert_security_headers(response)

    # 400: not multipart; and a validation error
    response = reporter_client.post("/report", data="what_happened=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert_security_headers(response)
    token = csrf_from(reporter_client.get("/report").data)
    response = reporter_client.post("/report", data={"csrf_token": token, "what_happened": ""},
                                    content_type="multipart/form-data")
    assert response.status_code == 400
    assert_security_headers(response)

    # 413: one text field bigger than the parser accepts
    token = csrf_from(reporter_client.get("/report").data)
    response = reporter_client.post("/report", data={"csrf_token": token, "what_happened": "x" * (600 * 1024)},
                                    content_type="multipart/form-data")
    assert response.status_code == 413
    assert b"too large" in response.data
    assert_security_headers(response)

    # 413: a body over MAX_CONTENT_LENGTH
    app = make_app(max_report_bytes=1000)
    client = app.test_client()
    token = csrf_from(client.get("/report").data)
    too_big = app.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post("/report", data={"csrf_token": token, "what_happened": "x",
                                            "evidence": (io.BytesIO(b"\0" * too_big), "big.bin")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert_security_headers(response)
    assert_no_cookie(response)

    # 503: the Argon2id gate is full (no line at all here, and its one slot taken)
    app = make_app(argon2_max_waiting=0)
    client = app.test_client()
    with app.extensions["portal.admission"].gate.admit():
        response = sign_in(client, generate_receipt_code())
    assert response.status_code == 503
    assert b"very busy" in response.data
    assert_security_headers(response)
    assert_no_cookie(response)


def test_headers_on_signed_in_pages_and_downloads(reporter_client):
    code = submit_report(reporter_client)
    response = sign_in(reporter_client, code)
    assert response.status_code == 302
    assert_security_headers(response)
    case = reporter_client.get("/follow-up/case")
    assert case.status_code == 200
    assert_security_headers(case)
    token = csrf_from(case.data)
    response = reporter_client.post("/follow-up/reply", data={"csrf_token": token, "message": "hello",
                                                              "evidence": (io.BytesIO(b"data"), "a.txt")},
                                    content_type="multipart/form-data")
    assert response.status_code == 302
    assert_security_headers(response)
    case = reporter_client.get("/follow-up/case")
    link = re.search(rb'href="(/follow-up/files/[0-9a-f]{32})"', case.data).group(1).decode()
    download = reporter_client.get(link)
    assert download.status_code == 200
    h = download.headers
    assert "sandbox" in h["Content-Security-Policy"] and "default-src 'none'" in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff" and h["Referrer-Policy"] == "no-referrer"
    assert "no-store" in h["Cache-Control"]
    assert h["X-Frame-Options"] == "DENY"
    response = reporter_client.post("/follow-up/sign-out", data={"csrf_token": csrf_from(case.data)})
    assert response.status_code == 302
    assert_security_headers(response)


# -- no cookie before sign-in --------------------------------------------------------------


def test_no_cookie_before_sign_in(reporter_client):
    """No cookie until the reporter chooses to follow up: then only the sign-in form's binding
    (test_headers_on_pages_json_and_static checks it), never on the way to a report."""
    for path in ("/", "/report", "/keys.json", "/signed-out"):
        assert_no_cookie(reporter_client.get(path))

    # a report: the validation error, then the success
    token = csrf_from(reporter_client.get("/report").data)
    response = reporter_client.post("/report", data={"csrf_token": token, "draft": "", "what_happened": ""},
                                    content_type="multipart/form-data")
    assert response.status_code == 400
    assert_no_cookie(response)
    token = csrf_from(reporter_client.get("/report").data)
    response = reporter_client.post("/report", data={"csrf_token": token, "draft": "", "what_happened": "It happened"},
                                    content_type="multipart/form-data")
    assert response.status_code == 200
    assert_no_cookie(response)
    code = receipt_from(response.data)

    # a wrong code and a malformed one
    wrong = sign_in(reporter_client, generate_receipt_code())
    assert wrong.status_code == 400
    assert_no_cookie(wrong)
    assert_no_cookie(sign_in(reporter_client, "??"))
    assert reporter_client.get_cookie("portal_followup") is None
    # the test client's jar holds the sign-in form's binding only
    assert [name for _, _, name in reporter_client._cookies] == ["portal_followup_form"]  # noqa: SLF001

    # only now, with the right code
    response = sign_in(reporter_client, code)
    assert response.status_code == 302
    # the session cookie, and the form's binding removed
    assert [c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie")] == ["portal_followup", "portal_followup_form"]
