"""Issue 13: follow-up sign-in accepted `Origin: null`, and its form token was tied to nothing, so a page
elsewhere could sign a reporter's browser in to the attacker's own report ("login CSRF").

Now a request with any cross-site signal is refused (and the code it carried never offered back),
the token works only in the browser it was issued to, and the honest no-JavaScript form still works,
with or without Origin / Referer / Sec-Fetch-Site."""

from __future__ import annotations

import re

import pytest
from support import csrf_from, submit_report

from portal.crypto.receipt import generate_receipt_code

SESSION = "portal_followup"
HERE = "http://localhost"


@pytest.fixture
def client(reporter_client):
    return reporter_client


@pytest.fixture
def attackers_code(client):
    """The attacker made a report of their own: they know its code."""
    return submit_report(client)


def post(client, token: str, code: str, headers: dict | None = None, **extra):
    return client.post("/follow-up", data={"csrf_token": token, "receipt_code": code, **extra}, headers=headers or {})


def refused(response, code: str) -> None:
    assert response.status_code == 403
    assert not any(c.startswith(SESSION + "=") for c in response.headers.getlist("Set-Cookie"))
    assert code.encode() not in response.data  # nothing to click "Continue" on
    assert not re.search(rb'name="receipt_code"[^>]*value="[^"]', response.data)


CROSS_SITE = {
    "Origin: null": {"Origin": "null"},
    "a foreign Origin": {"Origin": "https://attacker.example"},
    "Sec-Fetch-Site: cross-site": {"Sec-Fetch-Site": "cross-site"},
    "Sec-Fetch-Site: same-site": {"Sec-Fetch-Site": "same-site"},
    "a foreign Referer": {"Referer": "https://attacker.example/page"},
    "same Origin but a cross-site fetch": {"Origin": HERE, "Sec-Fetch-Site": "cross-site"},
}


@pytest.mark.parametrize("signal", list(CROSS_SITE))
def test_cross_site_signals_are_refused_even_with_a_valid_token(client, attackers_code, signal):
    token = csrf_from(client.get("/follow-up").data)  # a genuine token, in this very browser
    refused(post(client, token, attackers_code, CROSS_SITE[signal]), attackers_code)
    assert client.get_cookie(SESSION) is None


@pytest.mark.parametrize("signal", ["Origin: null", "Sec-Fetch-Site: cross-site"])
def test_the_javascript_path_refuses_them_too(client, signal):
    token = csrf_from(client.get("/follow-up").data)
    response = client.post("/follow-up", data={"csrf_token": token, "mode": "browser", "receipt_secret": "00" * 32},
                           headers=CROSS_SITE[signal])
    assert response.status_code == 403 and client.get_cookie(SESSION) is None


def test_a_token_fetched_in_another_browser_does_not_work_in_this_one(app_of_kind, reporter_app, attackers_code):
    attacker, victim = reporter_app.test_client(), reporter_app.test_client()
    token = csrf_from(attacker.get("/follow-up").data)  # the attacker's own, valid token
    # An old browser that sends no Origin, Referer or Sec-Fetch-Site, and no SameSite cookie guard:
    # the victim even has a binding cookie of their own from an earlier visit.
    victim.get("/follow-up")
    refused(post(victim, token, attackers_code), attackers_code)
    assert victim.get_cookie(SESSION) is None
    # ... and without any binding cookie at all.
    victim.delete_cookie("portal_followup_form", path="/follow-up")
    refused(post(victim, csrf_from(attacker.get("/follow-up").data), attackers_code), attackers_code)


def test_a_token_from_another_form_does_not_sign_in(client, attackers_code):
    token = csrf_from(client.get("/report").data)  # an unbound token: for the report form only
    refused(post(client, token, attackers_code), attackers_code)


def test_the_javascript_path_needs_a_bound_token_too(client):
    token = csrf_from(client.get("/report").data)
    response = client.post("/follow-up", data={"csrf_token": token, "mode": "browser", "receipt_secret": "00" * 32})
    assert response.status_code == 403
    fresh = response.get_json()["csrf_token"]  # the retry token it gives is bound to this browser
    response = client.post("/follow-up", data={"csrf_token": fresh, "mode": "browser", "receipt_secret": "00" * 32})
    assert response.status_code == 400  # past the token: now it is the missing proof of work


@pytest.mark.parametrize("headers", [
    {},  # no JavaScript, an old browser or a privacy setting: no Origin, Referer or Sec-Fetch-Site
    {"Origin": HERE, "Sec-Fetch-Site": "same-origin"},  # a current browser (Tor Browser included)
    {"Referer": HERE + "/follow-up"},
    {"Sec-Fetch-Site": "none"},
], ids=["nothing", "origin and fetch metadata", "same-site referer", "user-initiated"])
def test_the_honest_form_still_signs_in(client, attackers_code, headers):
    page = client.get("/follow-up")
    assert page.headers["Referrer-Policy"] == "same-origin"  # so that the browser's post carries its real Origin
    assert b'<meta name="referrer" content="same-origin">' in page.data  # (a meta tag would override the header)
    assert b'<meta name="referrer" content="no-referrer">' in client.get("/").data  # every other page: none at all
    response = post(client, csrf_from(page.data), attackers_code, headers)
    assert response.status_code == 302 and response.headers["Location"].endswith("/follow-up/case")
    assert client.get_cookie(SESSION) is not None
    assert client.get_cookie("portal_followup_form", path="/follow-up") is None  # dropped at sign-in


def test_an_expired_form_asks_for_the_code_again_and_then_works(client, attackers_code):
    response = post(client, "not-a-token", attackers_code)
    refused(response, attackers_code)
    assert b"Enter your receipt code again" in response.data
    assert post(client, csrf_from(response.data), attackers_code).status_code == 302


def test_a_wrong_code_keeps_the_binding(client):
    page = client.get("/follow-up")
    response = post(client, csrf_from(page.data), generate_receipt_code())
    assert response.status_code == 400
    assert response.headers.getlist("Set-Cookie") == []  # the same binding cookie, not a new one
    assert response.headers["Referrer-Policy"] == "same-origin"
