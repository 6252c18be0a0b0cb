"""One-time CSRF tokens for forms that are sent before any session exists.

The reporter interface sets no cookie before a reporter signs in with a code,
so its CSRF tokens cannot be tied to a session. Instead each token is a signed,
expiring, single-use nonce: HMAC(key, nonce || expiry), and the nonce is
remembered (memory or Redis) until it expires, so a token replayed after use is
refused. Requests whose Origin or Sec-Fetch-Site say they came from another site
are refused as well.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
import time
from hashlib import sha256
from urllib.parse import urlsplit

from flask import request
from flask_babel import gettext as _

from portal import state
from portal.i18n import N_
from portal.limits import OneTimeNonces

TOKEN_EXPIRED = N_("This form has expired or was already sent. Please send it again.")  # noqa: S105 (a message, gettext'd where shown)


class FormTokens:
    def __init__(self, key: bytes, nonces: OneTimeNonces, lifetime: int) -> None:
        self._key = key
        self._nonces = nonces
        self.lifetime = lifetime

    def _mac(self, payload: bytes, binding: str | None) -> bytes:
        if binding is None:
            return hmac.new(self._key, b"portal/v1/form-token:" + payload, sha256).digest()[:16]
        # A token bound to a value only this browser holds (a SameSite=Strict cookie): a token
        # fetched by someone else, for their own browser, does not work in this one.
        bound = sha256(binding.encode("utf-8", "replace")).digest()
        return hmac.new(self._key, b"portal/v1/bound-form-token:" + payload + bound, sha256).digest()[:16]

    def issue(self, binding: str | None = None) -> str:
        payload = os.urandom(16) + struct.pack(">Q", int(time.time()) + self.lifetime)
        return base64.urlsafe_b64encode(payload + self._mac(payload, binding)).decode("ascii")

    def _genuine(self, token: str | None, binding: str | None = None) -> tuple[bytes, int] | None:
        """(nonce, seconds left) of a genuine, unexpired token; None otherwise."""
        if not token or len(token) > 100:
            return None
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return None
        if len(raw) != 40:
            return None
        payload, mac = raw[:24], raw[24:]
        if not hmac.compare_digest(mac, self._mac(payload, binding)):
            return None
        (expires,) = struct.unpack(">Q", payload[16:])
        remaining = expires - int(time.time())
        return (payload[:16], remaining) if remaining > 0 else None

    def mark_sent(self, token: str | None) -> None:
        """Remember, until the token expires, that its form was sent and stored (nothing about what was sent)."""
        genuine = self._genuine(token)
        if genuine is not None:
            self._nonces.first_use(b"sent:" + genuine[0], genuine[1])

    def was_sent(self, token: str | None) -> bool:
        """Did a form with this (genuine) token already lead to a stored report? A reload of the receipt
        sends the same form again: it is answered with "your report was received", never a second report."""
        genuine = self._genuine(token)
        return genuine is not None and self._nonces.seen(b"sent:" + genuine[0])

    def consume(self, token: str | None, binding: str | None = None) -> bool:
        """True once for a genuine, unexpired token (issued with the same `binding`, if any)."""
        genuine = self._genuine(token, binding)
        return genuine is not None and self._nonces.first_use(*genuine)


def same_origin_request() -> bool:
    """False when the browser says the request came from another site."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in {"same-origin", "none"}:
        return False
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin == request.host_url.rstrip("/")
    return True


def strictly_same_origin() -> bool:
    """False on any sign that the request came from another site: Sec-Fetch-Site other than
    same-origin (or none: typed by the user), an Origin that is not this site's (`null` included:
    pages that need this check send `Referrer-Policy: same-origin`, so a browser sends its real
    Origin from them), or a Referer from another host. A browser that sends none of these (an old
    one) is held by the bound form token instead."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in {"same-origin", "none"}:
        return False
    here = request.host_url.rstrip("/")
    origin = request.headers.get("Origin")
    if origin is not None and origin != here:
        return False
    referer = request.headers.get("Referer")
    if referer:
        parts = urlsplit(referer)
        if f"{parts.scheme}://{parts.netloc}" != here:
            return False
    return True


def form_tokens() -> FormTokens:
    return state.FORM_TOKENS.get()


def form_token_valid(token: str | None) -> bool:
    """Check and use up a form token (it will not be accepted again)."""
    return same_origin_request() and form_tokens().consume(token)


def first_error(form) -> str:
    """The first message of a form that failed validation (shown above the form)."""
    return next((e for errors in form.errors.values() for e in errors), _("Check the form and try again."))
