"""The follow-up sign-in form's token, tied to the browser that asked for the form.

Issue 13: the sign-in token was tied to nothing, so a page elsewhere could fetch one and
post the attacker's own receipt code from a reporter's browser ("login CSRF"): the reporter
would then add what they know to the attacker's report. Now:

- GET /follow-up gives the browser a random value in a cookie (HttpOnly, SameSite=Strict,
  path /follow-up, ending with the browser session) and a token whose MAC covers that value; the token
  works only together with the cookie, which a cross-site post does not carry and another
  browser does not have. This is the portal's first cookie for someone who chose to follow up;
  it identifies nothing and is dropped at sign-in.
- the page is sent with `Referrer-Policy: same-origin`, so the browser's POST carries its real
  Origin (with no-referrer it would be `null`), and `portal.forms.strictly_same_origin` refuses
  `Origin: null`, a foreign Origin or Referer, and Sec-Fetch-Site other than same-origin.
Without JavaScript it is an ordinary form post; Tor Browser sends Origin and Sec-Fetch-Site.
"""

from __future__ import annotations

import base64
import os
import re

from flask import Response, g, request

from portal import state
from portal.forms import form_tokens

BIND_COOKIE = "portal_followup_form"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _binding() -> str:
    value = request.cookies.get(BIND_COOKIE, "")
    if _WELL_FORMED.match(value):
        return value
    if "new_sign_in_binding" not in g:
        g.new_sign_in_binding = base64.urlsafe_b64encode(os.urandom(32)).decode("ascii").rstrip("=")
    return g.new_sign_in_binding


def issue() -> str:
    """A one-time token for the sign-in form, bound to this browser's cookie (set by `finish`)."""
    return form_tokens().issue(_binding())


def consume(token: str | None) -> bool:
    """Use up the token: it must have been issued to the browser that sends it."""
    value = request.cookies.get(BIND_COOKIE, "")
    return bool(_WELL_FORMED.match(value)) and form_tokens().consume(token, value)


def finish(response: Response) -> Response:
    """The sign-in page's response: its binding cookie (when new) and the referrer policy."""
    if "new_sign_in_binding" in g:
        secure = request.is_secure or state.settings().https
        # A session cookie (gone when the browser closes); the token it binds expires on its own.
        response.set_cookie(BIND_COOKIE, g.new_sign_in_binding, httponly=True, samesite="Strict", secure=secure,
                            path="/follow-up")
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def forget(response: Response) -> Response:
    """Drop the binding cookie at sign-in (with the same attributes it was set with)."""
    secure = request.is_secure or state.settings().https
    response.delete_cookie(BIND_COOKIE, path="/follow-up", secure=secure, httponly=True, samesite="Strict")
    return response
