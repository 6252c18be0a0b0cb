"""Configures a Flask app as the triage interface (and nothing else)."""

from __future__ import annotations

from flask import Flask
from flask_wtf import CSRFProtect

from portal import web
from portal.config import Settings
from portal.instance import read_secret
from portal.limits import RateLimits
from portal.sessions import SessionStore

REVIEWER_COOKIE = "portal_reviewer"


def configure(app: Flask, settings: Settings) -> None:
    secret_key = read_secret(settings.instance_dir, "triage_secret_key")
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME="portal_triage_csrf",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_TIME_LIMIT=settings.reviewer_absolute_timeout,
        MAX_CONTENT_LENGTH=settings.max_file_bytes + 1024 * 1024,
    )
    app.extensions["portal.totp_key"] = read_secret(settings.instance_dir, "totp_key")
    app.extensions["portal.blind_index_key"] = read_secret(settings.instance_dir, "blind_index_key")
    app.extensions["portal.audit_key"] = read_secret(settings.instance_dir, "audit_key")
    app.extensions["portal.limits"] = RateLimits(settings.redis_url, secret_key)
    app.extensions["portal.sessions"] = SessionStore(
        "reviewer", settings.reviewer_idle_timeout, settings.reviewer_absolute_timeout
    )
    CSRFProtect(app)
    web.install(app, web.CSP_TRIAGE, "triage/error.html")
    from portal.triage.views import bp

    app.register_blueprint(bp)
