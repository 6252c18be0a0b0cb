"""Over HTTPS every triage cookie is Secure, whether or not `https = true` is set (issue #20):
behind nginx the scheme comes from X-Forwarded-Proto, which gunicorn trusts from loopback."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("https_setting", [False, True])
def test_the_csrf_cookie_is_secure_over_https(build_triage, https_setting):
    client = build_triage(https=https_setting).test_client()
    response = client.get("/login", base_url="https://triage.portal.internal")
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("portal_triage_csrf=")]
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_over_plain_http_without_the_setting_it_is_not(build_triage):
    """Development (`make run`, http://127.0.0.1): a Secure cookie would never come back."""
    client = build_triage(https=False).test_client()
    response = client.get("/login")
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("portal_triage_csrf=")]
    assert "Secure" not in cookie
