"""Configures a Flask app as the reporter interface (and nothing else)."""

from __future__ import annotations

from flask import Flask, Request

from portal import web
from portal.config import Settings
from portal.forms import FormTokens
from portal.instance import read_secret
from portal.limits import OneTimeNonces, install_limiter
from portal.reports.service import ReporterKeys
from portal.sessions import SessionStore

FOLLOW_UP_COOKIE = "portal_followup"


class NoSpoolRequest(Request):
    """Refuses Werkzeug's file spooling: a plaintext upload must never touch the disk.

    Report and reply uploads are parsed by portal.reports.upload instead; any
    other multipart body is rejected here rather than written to a temp file.
    """

    max_form_parts = 100

    def _get_file_stream(self, *args, **kwargs):  # noqa: ANN002, ANN003
        from werkzeug.exceptions import BadRequest

        raise BadRequest("file uploads are only accepted on the report and reply forms")


def configure(app: Flask, settings: Settings) -> None:
    from portal.reports.views import bp

    app.request_class = NoSpoolRequest
    app.config["SECRET_KEY"] = read_secret(settings.instance_dir, "reporter_secret_key")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_report_bytes + 16 * 1024 * 1024
    app.config["MAX_FORM_MEMORY_SIZE"] = 4 * settings.max_text_chars + 65536
    app.config["SESSION_COOKIE_NAME"] = "portal_reporter_unused"  # Flask's own session is never written here
    keys = ReporterKeys(
        pepper=read_secret(settings.instance_dir, "receipt_pepper"),
        install_salt=read_secret(settings.instance_dir, "receipt_salt")[:16],
        form_key=app.config["SECRET_KEY"],
    )
    app.extensions["portal.reporter_keys"] = keys
    app.extensions["portal.form_tokens"] = FormTokens(keys.form_key, OneTimeNonces(settings.redis_url), settings.form_token_lifetime)
    install_limiter(app, settings.redis_url, keys.form_key, prefix="reporter")
    app.extensions["portal.sessions"] = SessionStore("reporter", settings.reporter_idle_timeout, settings.reporter_idle_timeout * 16)
    web.install(app, web.CSP_REPORTER, "reporter/error.html")
    app.register_blueprint(bp)
