"""Configures a Flask app as the reporter interface (and nothing else)."""

from __future__ import annotations

from flask import Flask, Request
from werkzeug.exceptions import BadRequest

from portal import state, web
from portal.admission import Admission, ArgonGate, DailyIntake, LoadMeter, ProofOfWork
from portal.config import Settings
from portal.crypto.kdf import hkdf
from portal.forms import FormTokens
from portal.instance import read_secret
from portal.limits import OneTimeNonces
from portal.reports.service import ReporterKeys
from portal.reports.views import bp
from portal.sessions import SessionStore
from portal.slow_clients import install_upload_pace


class NoSpoolRequest(Request):
    """Refuses Werkzeug's file spooling: a plaintext upload must never touch the disk.

    Report and reply uploads are parsed by portal.reports.upload instead; any
    other multipart body is rejected here rather than written to a temp file.
    """

    max_form_parts = 100

    def _get_file_stream(self, *args, **kwargs):  # noqa: ANN002, ANN003
        raise BadRequest("file uploads are only accepted on the report and reply forms")


def _install_admission(app: Flask, settings: Settings, keys: ReporterKeys, nonces: OneTimeNonces) -> None:
    """Proof of work, the Argon2id gate and the daily file cap (portal.admission); no per-address limit."""
    work = ProofOfWork(
        hkdf(keys.form_key, b"portal/v1/pow-key"),
        nonces,
        LoadMeter(settings.redis_url),
        floor=settings.pow_floor,
        ceiling=settings.pow_ceiling,
        idle_per_minute=settings.pow_idle_per_minute,
        lifetime=settings.pow_lifetime,
    )
    gate = ArgonGate(settings.argon2_slots, settings.argon2_max_waiting, settings.argon2_max_wait)
    Admission(work, gate, DailyIntake(settings.daily_file_bytes_cap)).install(app)


def configure(app: Flask, settings: Settings) -> None:
    app.request_class = NoSpoolRequest
    app.config["SECRET_KEY"] = read_secret(settings.instance_dir, "reporter_secret_key")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_report_bytes + 16 * 1024 * 1024
    app.config["MAX_FORM_MEMORY_SIZE"] = 4 * settings.max_text_chars + 65536
    app.config["SESSION_COOKIE_NAME"] = "portal_reporter_unused"  # Flask's own session is never written here
    keys = ReporterKeys(
        pepper=read_secret(settings.instance_dir, "receipt_pepper"),
        install_salt=read_secret(settings.instance_dir, "receipt_salt")[:16],
        form_key=app.config["SECRET_KEY"],
        signing_seed=read_secret(settings.instance_dir, "report_signing_key"),
    )
    state.REPORTER_KEYS.install(app, keys)
    nonces = OneTimeNonces(settings.redis_url)
    state.FORM_TOKENS.install(app, FormTokens(keys.form_key, nonces, settings.form_token_lifetime))
    _install_admission(app, settings, keys, nonces)
    state.SESSIONS.install(app, SessionStore("reporter", settings.reporter_idle_timeout, settings.reporter_idle_timeout * 16))
    web.install(app, web.CSP_REPORTER, "reporter/error.html")
    install_upload_pace(app, settings)  # a minimum upload rate for request bodies (portal/slow_clients.py)
    app.register_blueprint(bp)
