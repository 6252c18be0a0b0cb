"""Configures a Flask app as the triage interface (and nothing else): its secrets, sessions and
CSRF protection, its blueprints, the error handlers that answer the services' exceptions, and the
header's counts."""

from __future__ import annotations

import time

from flask import Flask, abort, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf import CSRFProtect
from werkzeug import exceptions as http
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import state, web
from portal.config import Settings
from portal.forms import same_origin_request
from portal.instance import read_secret
from portal.limits import install_limiter
from portal.sessions import SessionStore
from portal.triage import (
    account,
    admin,
    auth,
    listing,
    quarantine,
    queue,
    referral_views,
    reports,
    routed,
    screening,
    signin,
    themes,
)
from portal.triage.checkpoints import Checkpointer
from portal.triage.context import ActionError, Forbidden, NotFound
from portal.triage.decorators import refusal_page, run_in_transaction
from portal.triage.models import Role
from portal.triage.throttle import Backoff
from portal.triage.vocabulary import ROLES

BLUEPRINTS = (signin.bp, queue.bp, reports.bp, referral_views.bp, account.bp, admin.bp, themes.bp, quarantine.bp, routed.bp)


class _CsrfCookieInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session (here it holds only the CSRF token), marked Secure whenever
    the request came over HTTPS (nginx's X-Forwarded-Proto, trusted by gunicorn from loopback)
    or `https = true`, like the reviewer cookie: never sent in clear because a setting was missed."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def configure(app: Flask, settings: Settings) -> None:
    secret_key = read_secret(settings.instance_dir, "triage_secret_key")
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME="portal_triage_csrf",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_TIME_LIMIT=settings.reviewer_absolute_timeout,
        # Flask-WTF's HTTPS check needs a Referer, which this app never lets browsers send
        # (Referrer-Policy: no-referrer); the Origin / Sec-Fetch-Site check below replaces it.
        WTF_CSRF_SSL_STRICT=False,
        SESSION_COOKIE_SECURE=settings.https,
        MAX_CONTENT_LENGTH=settings.max_file_bytes + 1024 * 1024,
    )
    state.TRIAGE_SECRETS.install(
        app,
        state.TriageSecrets(
            totp_key=read_secret(settings.instance_dir, "totp_key"),
            blind_index_key=read_secret(settings.instance_dir, "blind_index_key"),
            audit_key=read_secret(settings.instance_dir, "audit_key"),
        ),
    )
    Checkpointer.from_settings(settings).install(state.DATABASE.get(app))
    install_limiter(app, settings.redis_url, secret_key, prefix="triage")
    state.SIGN_IN_BACKOFF.install(app, Backoff(settings.redis_url, settings.login_free_attempts, settings.login_backoff_max))
    state.SESSIONS.install(app, SessionStore("reviewer", settings.reviewer_idle_timeout, settings.reviewer_absolute_timeout))
    app.session_interface = _CsrfCookieInterface()
    CSRFProtect(app)

    if settings.triage_trusted_proxies:
        # The number of reverse proxies in front of gunicorn (the shipped triage.conf: 1, nginx,
        # which sets X-Forwarded-For to the address it saw): take the client address (for
        # per-client sign-in throttling) and the scheme from them. Never on the reporter host.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.triage_trusted_proxies, x_proto=1)

    @app.before_request
    def _refuse_cross_site_posts() -> None:
        if request.method == "POST" and not same_origin_request():
            abort(403)

    @app.before_request
    def _refuse_nul_in_forms() -> None:
        # PostgreSQL text cannot hold NUL: a login or a reviewer's name with one was a 500 there.
        # No reviewer form needs one (browsers cannot type it), so refuse the request outright.
        if request.method == "POST" and any("\x00" in k or "\x00" in v for k, v in request.form.items(multi=True)):
            abort(400)

    web.install(app, web.CSP_TRIAGE, "triage/error.html")
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(Forbidden, _forbidden)
    app.register_error_handler(ActionError, _action_refused)
    app.context_processor(_layout_values)
    app.after_request(_forget_own_counts)


# -- the services' exceptions, answered (after the view's transaction was rolled back) ----------


def _not_found(_exc: NotFound):
    return current_app.handle_http_exception(http.NotFound())


def _refused(exc: Exception, status: int):
    page = refusal_page()
    if page is None:
        return current_app.handle_http_exception(http.Forbidden() if status == 403 else http.BadRequest())
    try:
        return run_in_transaction(page, str(exc), status)
    except NotFound:  # the report went out of reach meanwhile
        return _not_found(NotFound())


def _forbidden(exc: Forbidden):
    return _refused(exc, 403)


def _action_refused(exc: ActionError):
    return _refused(exc, 400)


# -- the header's counts -----------------------------------------------------------------------

_BADGE_SECONDS = 30
_badges: dict[tuple[int, int], tuple[float, int, int, tuple[int, int], int]] = {}  # (app, reviewer) -> (expires, overdue, approvals, (unread, new information), quarantined)


def _forget_own_counts(response):
    """After a reviewer's own action (a POST), their header counts are worked out afresh on the next
    page: an approval just given must not still say "Awaiting your approval 1" for 30 seconds."""
    if request.method == "POST":
        actor = g.get("actor")  # only as the view found it: nothing is looked up here
        if actor is not None:
            _badges.pop((id(current_app._get_current_object()), actor.reviewer.id), None)
    return response


def _layout_values() -> dict:
    actor = auth.current_actor() if request.endpoint not in (None, "static") else None
    if actor is None:
        return {"actor": None, "role_labels": ROLES}
    # The header's counts scan every readable report: refreshed every 30 s per process, not per page.
    key = (id(current_app._get_current_object()), actor.reviewer.id)
    now = time.monotonic()
    cached = _badges.get(key)
    if cached is None or cached[0] < now:
        ctx = auth.request_context()
        cached = (now + _BADGE_SECONDS, listing.overdue_count(ctx, actor), listing.pending_approvals(ctx, actor),
                  listing.attention_counts(ctx, actor), screening.quarantined_count(ctx, actor))
        _badges[key] = cached
    return {"actor": actor, "overdue_total": cached[1], "approvals_total": cached[2], "count_cap": listing.COUNT_CAP,
            "unread_total": cached[3][0], "new_information_total": cached[3][1], "quarantined_total": cached[4], "Role": Role,
            "role_labels": ROLES}
