"""Signing in (passphrase, then the second factor, enrolling the authenticator the first time) and out."""

from __future__ import annotations

import io

import pyotp
import segno
from flask import Blueprint, Response, abort, make_response, redirect, render_template, request, url_for

from portal.i18n import with_language
from portal.triage import auth
from portal.triage.decorators import in_transaction
from portal.triage.forms import CodeForm, ConfirmForm, LoginForm

bp = Blueprint("signin", __name__)


def _safe_next() -> str | None:
    """The local path to return to after signing in (?next=), or None if it could lead off-site.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash,
    so "/<tab>/evil.example" would become "//evil.example": refuse all of those.
    """
    target = request.args.get("next") or ""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or not target.isprintable():
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@in_transaction
def login():
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        login_name = form.login.data
        if auth.throttled(login_name):
            error, status = auth.THROTTLED, 429
        else:
            result = auth.check_passphrase_for_sign_in(login_name, form.passphrase.data)
            if result is None:
                error, status = auth.LOGIN_FAILED, 400
            else:
                reviewer, kek = result
                cookie = auth.start_pending_session(reviewer, kek)
                return auth.set_session_cookie(redirect(url_for("signin.second_factor", next=_safe_next())), cookie)
    elif request.method == "POST":
        status = 400
    form.passphrase.data = ""
    return render_template("triage/login.html", form=form, error=error), status


@bp.route("/login/code", methods=["GET", "POST"])
@in_transaction
def second_factor():
    reviewer = auth.pending_reviewer()
    if reviewer is None:
        return redirect(url_for("signin.login"))
    form = CodeForm()
    error = None
    status = 200
    if form.validate_on_submit():
        if auth.throttled(reviewer.login):
            error, status = auth.THROTTLED, 429
        elif not auth.verify_totp(reviewer, form.code.data):
            error, status = auth.LOGIN_FAILED, 400
        elif (cookie := auth.complete_sign_in(reviewer)) is None:
            page = render_template("triage/login.html", form=LoginForm(), error=auth.KEY_MISMATCH)
            return auth.forget_session_cookie(make_response(page, 400))
        else:
            if reviewer.must_change_passphrase:  # someone else chose it: replace it before anything else
                target = url_for("account.account")
            else:
                next_path = _safe_next()
                target = with_language(next_path) if next_path else url_for("queue.queue")
            return auth.set_session_cookie(redirect(target), cookie)
    elif request.method == "POST":
        status = 400
    return render_template("triage/code.html", form=form, error=error, enrol=not reviewer.totp_enrolled,
                           secret=auth.totp_secret(reviewer) if not reviewer.totp_enrolled else None), status


@bp.get("/login/code/qr.svg")
@in_transaction
def enrolment_qr():
    reviewer = auth.pending_reviewer()
    if reviewer is None or reviewer.totp_enrolled:
        abort(404)
    uri = pyotp.TOTP(auth.totp_secret(reviewer)).provisioning_uri(name=reviewer.login, issuer_name="Confidential reporting portal")
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False, svgns=True)
    return Response(out.getvalue(), mimetype="image/svg+xml")


@bp.post("/logout")
@in_transaction
def logout():
    ConfirmForm().validate_on_submit() or abort(400)
    return auth.sign_out(redirect(url_for("signin.login", signed_out=1)))
