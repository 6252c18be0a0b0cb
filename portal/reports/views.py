"""The reporter interface: routes only. Each view parses the request, calls portal.reports.service
(uploads: portal.reports.intake) and renders; the request's writes commit in one
`with state.database().transaction():` block, and no view commits by itself.

No route reads or logs the client's address, user agent or referrer (the rate
limiter, flask-limiter, sees only an HMAC of the address, in memory or Redis,
for minutes: portal.limits).
No cookie is set until a reporter signs in with a receipt code.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest

from portal import state
from portal.admission import GateBusy, admission
from portal.crypto import CryptoError, kdf, puzzle
from portal.crypto.receipt import normalise_receipt_code, receipt_secret
from portal.crypto.stream import DEFAULT_CHUNK_LOG2
from portal.deadlines import Deadlines
from portal.forms import TOKEN_EXPIRED, form_token_valid, form_tokens, strictly_same_origin
from portal.referrals.bodies import independent_body
from portal.reports import sign_in_form
from portal.reports.browser_intake import browser_submission, submit_from_browser
from portal.reports.decorators import Discard, case_required, discards
from portal.reports.forms import ReplyForm, ReportForm, SignInForm
from portal.reports.intake import ReplyUpload, ReportUpload, count_files, work_done
from portal.reports.models import ReportStatus
from portal.reports.receipts import SignedInCase, browser_sign_in, find_with_secret
from portal.reports.recipients import independent, intake_recipients, screening_key
from portal.reports.replies import store_browser_reply
from portal.reports.sealed import ciphertext_chunks, sealed_case
from portal.reports.service import (
    Draft,
    SubmissionError,
    add_message,
    decrypt_attachment,
    find_attachment,
    open_attachment_meta,
    reporter_case,
    submit_from_server,
)
from portal.reports.statuses import report_status
from portal.reports.upload import DiscardSink, StagedAttachment, UploadLimits, parse_multipart
from portal.web import download_response

bp = Blueprint("reporter", __name__)

SIGN_IN_EXPIRED = _l("This form has expired or was already sent. Enter your receipt code again.")
WRONG_CODE = _l("We could not find a report with that code. Check each word and try again.")
BUSY = _l("The portal is very busy just now. Please try again in a minute: nothing you typed has been lost.")
PUZZLE_FAILED = _l("Your browser's check did not complete in time. Please send again.")


@bp.app_context_processor
def _template_helpers():
    return {"form_token": lambda: form_tokens().issue()}


def _limits() -> UploadLimits:
    return UploadLimits.for_reporter(state.settings())


# -- pages ------------------------------------------------------------------------


@bp.get("/")
def index():
    return render_template("reporter/index.html", settings=state.settings())


@bp.get("/keys.json")
def published_keys():
    """What a browser needs to encrypt a report to the portal (public values only)."""
    s = state.settings()
    screening = screening_key(state.db_session())
    body = independent(state.db_session(), s)
    return jsonify(
        version=1,
        install_salt=state.REPORTER_KEYS.get().install_salt.hex(),
        argon2={"time_cost": kdf.RECEIPT_ARGON2.time_cost, "memory_kib": kdf.RECEIPT_ARGON2.memory_kib,
                "parallelism": kdf.RECEIPT_ARGON2.parallelism},
        # kind: "reviewer", "body" (the independent body: wrapped to alone when the reporter chooses
        # it) or "recovery" (always wrapped to).
        recipients=[{"fingerprint": r.fingerprint, "intake_x25519": r.public_key.intake_x25519.hex(), "kind": r.kind}
                    for r in intake_recipients(state.db_session(), body)],
        independent_body=None if body is None or body.key is None else {"name": body.name, "fingerprint": body.key.fingerprint},
        # The subject list (names and numbers only) is sealed to this key, which only the triage host holds.
        screening=None if screening is None else {"fingerprint": screening.fingerprint,
                                                  "intake_x25519": screening.public_key.intake_x25519.hex()},
        chunk_log2=DEFAULT_CHUNK_LOG2,
        limits={"file_bytes": s.max_file_bytes, "report_bytes": s.max_report_bytes, "files": s.max_files},
    )


@bp.get("/challenge/<action>")
def challenge(action: str):
    """A proof-of-work challenge for one expensive request (portal.crypto.puzzle); free to ask for."""
    if action not in puzzle.ACTIONS:
        abort(404)
    return jsonify(admission().work.challenge(action).to_json())


def _render_report_form(form: ReportForm, draft: Draft | None = None, errors: list[tuple[str, str]] = (), status: int = 200):
    keys = state.REPORTER_KEYS.get()
    return (
        render_template(
            "reporter/report_form.html",
            form=form,
            draft_token=draft.to_token(keys) if draft and draft.staged else "",
            staged_names=draft.attachment_names() if draft else [],
            errors=list(errors),
            settings=state.settings(),
            max_people=state.settings().max_people,
            independent_body=_independent_body(),
        ),
        status,
    )


def _independent_body():
    """The independent body a reporter may send to alone, or None while its key is not registered."""
    body = independent(state.db_session(), state.settings())
    return None if body is None or body.key is None else body


@bp.get("/report")
def report_form():
    return _render_report_form(ReportForm(formdata=None, taxonomy=state.settings().taxonomy))


@bp.post("/report")
@discards
def submit_report():
    """Cheap checks first (form token, proof of work, fields, sizes); Argon2id only for what passes them."""
    upload = ReportUpload(state.db_session(), state.REPORTER_KEYS.get(), state.settings().taxonomy)
    with state.database().transaction():
        parsed = upload.receive(request.stream, request.content_type or "", _limits())
        fields = parsed.fields
        if not upload.token(fields):
            if form_tokens().was_sent(fields.get("csrf_token")):  # the receipt reloaded: never a second report
                raise Discard(_already_sent)
            if request.accept_mimetypes.best == "application/json":
                raise Discard(_json_errors, [("", _(TOKEN_EXPIRED))], 403)
            raise Discard(_render_report_form, ReportForm(formdata=fields, taxonomy=state.settings().taxonomy), None,
                          [("", _(TOKEN_EXPIRED) + " " + _("Any files you chose need to be attached again."))], 403)
        if fields.get("mode") != "browser":
            response, sent = _submit_server(parsed, upload.draft, with_work=upload.work(fields))
        elif not upload.work(fields):
            raise Discard(_json_errors, [("", PUZZLE_FAILED)], 400)
        else:
            try:
                submission = browser_submission(parsed)
                submit_from_browser(state.db_session(), state.REPORTER_KEYS.get(), submission, Deadlines.from_settings(state.settings()),
                                    independent(state.db_session(), state.settings()))
            except SubmissionError as exc:
                raise Discard(_json_errors, [("", str(exc))], 400) from None
    if fields.get("mode") != "browser":
        if sent:  # committed: the same form sent again (a reload of the receipt) is answered by _already_sent
            form_tokens().mark_sent(fields.get("csrf_token"))
        return response
    count_files(submission.attachments)
    form_tokens().mark_sent(fields.get("csrf_token"))
    return jsonify(ok=True, sent=url_for("reporter.report_sent"))


def _already_sent():
    if request.accept_mimetypes.best == "application/json":
        return jsonify(ok=True, sent=url_for("reporter.report_sent"))
    return redirect(url_for("reporter.report_sent"), 303)


@bp.get("/report/sent")
def report_sent():
    """After a report was sent: a reload or a second send lands here. The code is not shown: it is never stored."""
    return render_template("reporter/report_sent.html", finished=False)


@bp.get("/report/done")
def report_finished():
    """The receipt's "Yes, I have written it down"."""
    return render_template("reporter/report_sent.html", finished=True)


def _json_errors(errors: list[tuple[str, str]], status: int, token: str | None = None, **extra) -> Response:
    body = {"ok": False, "errors": [{"field": f, "message": m} for f, m in errors], "csrf_token": token or form_tokens().issue(),
            **extra}
    if any(m == PUZZLE_FAILED for _, m in errors):
        body["retry"] = "work"  # the browser fetches a new challenge and sends once more by itself
    response = jsonify(body)
    response.status_code = status
    return response


def _submit_server(parsed, draft: Draft | None, with_work: bool):
    """The no-JavaScript report, inside the request's transaction: staged files are kept (committed)
    for a corrected or repeated submission; a report that cannot be stored keeps nothing.
    Returns (response, whether a report was stored). "Add another person" re-shows the form with
    one more person and everything typed (files staged as for a correction)."""
    keys = state.REPORTER_KEYS.get()
    if draft is None:  # no file in this request: earlier staged files travel in the draft token
        draft = Draft.from_token(parsed.fields.get("draft", ""), keys) or Draft.new()
    staged_now = [f.result for f in parsed.files if isinstance(f.result, StagedAttachment)]
    draft.staged.extend(staged_now)
    count_files(staged_now)

    form = ReportForm(formdata=parsed.fields, taxonomy=state.settings().taxonomy)
    if parsed.fields.get("add_person"):
        if len(form.people) < state.settings().max_people:
            form.people.append_entry()
        errors = [("evidence", message) for message in parsed.file_errors]
        return _render_report_form(form, draft, errors, 200), False
    valid = form.validate()
    unreadable = list(parsed.unreadable_fields)
    if not valid or unreadable or parsed.file_errors:
        errors = [(name, _("This answer could not be read. Please type it again.")) for name in unreadable]
        errors += [("evidence", message) for message in parsed.file_errors]
        return _render_report_form(form, draft, errors, 400), False
    try:
        with admission().gate.admit(with_work):  # Argon2id for the new receipt code: one of a bounded few at once
            _report, code = submit_from_server(state.db_session(), keys, draft, form.answers(), Deadlines.from_settings(state.settings()),
                                               independent(state.db_session(), state.settings()))
    except GateBusy:  # the staged files are kept: the reporter sends the same form again in a minute
        return _render_report_form(form, draft, [("", BUSY)], 503), False
    except SubmissionError as exc:
        raise Discard(_render_report_form, form, None, [("", str(exc))], 400) from None
    return render_template("reporter/confirmation.html", receipt_code=code), True


# -- following up -----------------------------------------------------------------


def _store():
    return state.server_sessions()


@bp.get("/follow-up")
def follow_up():
    expired = request.args.get("expired") == "1"
    return sign_in_form.finish(make_response(render_template(
        "reporter/sign_in.html", form=SignInForm(formdata=None), expired=expired, error=None, sign_in_token=sign_in_form.issue(),
        settings=state.settings())))


@bp.post("/follow-up")
def sign_in():
    """Sign in with a receipt code (no JavaScript) or with the lookup token the browser derived from it.

    With JavaScript the browser runs the Argon2id derivation and sends only the lookup token
    with a solved challenge: the server does one HMAC and one lookup, and holds nothing that
    opens the case (portal.reports.receipts). Without, the server derives the secret from the
    code, inside the gate (portal.admission.gate). A malformed code fails before any
    derivation: the word list is public, so that reveals nothing.
    A request from another site is refused outright, and a token not issued to this browser
    is answered without the code that was sent (portal.reports.sign_in_form).
    """
    if not strictly_same_origin():
        abort(403)
    if request.form.get("mode") == "browser":
        return _sign_in_from_browser()
    form = SignInForm(formdata=request.form)
    if not sign_in_form.consume(request.form.get("csrf_token")):
        form.receipt_code.data = ""  # never offer someone else's code back to be sent again
        return _sign_in_page(form, SIGN_IN_EXPIRED, 403)
    if not form.validate():
        return _sign_in_page(form, None, 400)
    try:
        code = normalise_receipt_code(form.receipt_code.data)
    except CryptoError:
        form.receipt_code.errors = [WRONG_CODE]
        return _sign_in_page(form, None, 400)
    try:
        with admission().gate.admit(work_done(request.form, "sign-in")):
            secret = receipt_secret(code, state.REPORTER_KEYS.get().install_salt)
    except GateBusy:
        return _sign_in_page(form, BUSY, 503)
    with state.database().transaction() as db:  # a format 1 report is upgraded here (portal.reports.receipts)
        report = find_with_secret(db, state.REPORTER_KEYS.get().pepper, secret)
    if report is None:
        form.receipt_code.errors = [WRONG_CODE]
        return _sign_in_page(form, None, 400)
    return _start_follow_up(SignedInCase(report, secret), redirect(url_for("reporter.case")))


def _sign_in_page(form: SignInForm, error: str | None, status: int):
    page = render_template("reporter/sign_in.html", form=form, expired=False, error=error, sign_in_token=sign_in_form.issue(),
                           settings=state.settings())
    return sign_in_form.finish(make_response(page, status))


def _sign_in_from_browser():
    if not sign_in_form.consume(request.form.get("csrf_token")):
        return sign_in_form.finish(_json_errors([("", SIGN_IN_EXPIRED)], 403, sign_in_form.issue()))
    if not work_done(request.form, "sign-in"):
        return sign_in_form.finish(_json_errors([("", PUZZLE_FAILED)], 400, sign_in_form.issue()))
    token, secret = _hex_field("lookup_token"), _hex_field("receipt_secret")  # the secret: format 1 upgrade only
    with state.database().transaction() as db:
        report, ask_for_secret = browser_sign_in(db, state.REPORTER_KEYS.get().pepper, token, secret or None)
    if report is None:
        # legacy: the browser may send the receipt secret once (sign-in.js), for a format 1 report
        return sign_in_form.finish(_json_errors([("receipt_code", WRONG_CODE)], 400, sign_in_form.issue(),
                                                **({"legacy": True} if ask_for_secret else {})))
    return _start_follow_up(SignedInCase(report, None), jsonify(ok=True, next=url_for("reporter.case")))


def _hex_field(name: str) -> bytes:
    try:
        return bytes.fromhex(request.form.get(name, ""))
    except ValueError:
        return b""


def _start_follow_up(signed_in: SignedInCase, response: Response) -> Response:
    """Open a follow-up session for this case; its cookie goes on `response` once the session is committed."""
    with state.database().transaction() as db:
        cookie = _store().create(db, signed_in.session_payload())
    return sign_in_form.forget(_store().set_cookie(response, cookie))


@bp.get("/follow-up/case")
@case_required
def case(signed_in: SignedInCase):
    if signed_in.in_browser:
        return _sealed_case_page(signed_in, [])
    try:
        case_view = reporter_case(state.db_session(), signed_in.report, signed_in.secret)
    except CryptoError:  # the wrap opened to another key than the report was received with (a database writer)
        return render_template("reporter/error.html", title=_("Your case could not be opened"), message=_(
            "What is stored was changed after you sent it, so it is not shown. Your code is right. "
            "Please send your report again as a new report.")), 409
    return render_template("reporter/case.html", case=case_view, form=ReplyForm(formdata=None), errors=[],
                           settings=state.settings(), status=report_status(signed_in.report),
                           routed_body=_routed_body(signed_in))


def _sealed_case_page(signed_in: SignedInCase, errors: list[tuple[str, str]], status: int = 200):
    """The case page of a JavaScript session: a frame that static/js/case.js fills in on the device."""
    return render_template("reporter/case_sealed.html", report=signed_in.report, form=ReplyForm(formdata=None),
                           errors=errors, settings=state.settings(), status=report_status(signed_in.report),
                           routed_body=_routed_body(signed_in)), status


def _routed_body(signed_in: SignedInCase) -> str | None:
    """The name of the independent body the report went to alone (templates/reporter/_routed_notice.html).

    From the status the database computes: the reporter host's role cannot read `routed_to`, and
    there is one independent body (portal.referrals.bodies.independent_body)."""
    if signed_in.report.status_for_reporter != ReportStatus.ROUTED:
        return None
    body = independent_body(state.settings())
    return body.name if body else _("the independent body")


@bp.get("/follow-up/case.json")
@case_required
def case_records(signed_in: SignedInCase):
    """The case as sealed records, for the browser to open (portal.reports.sealed)."""
    return jsonify(sealed_case(signed_in.report))


@bp.get("/follow-up/files/<attachment_hex>/sealed")
@case_required
def sealed_file(attachment_hex: str, signed_in: SignedInCase):
    """An attachment's ciphertext as stored: case.js checks every chunk before offering the file."""
    attachment = find_attachment(signed_in.report, attachment_hex)
    if attachment is None:
        abort(404)
    return download_response(ciphertext_chunks(state.db_session(), attachment.public_id), "encrypted.bin")


SESSION_ENDED = ("You were signed out before your message was sent: {minutes} minutes passed without activity, or you "
                 "signed out in another window. Nothing was sent. Your message is still in the box: sign in again in a "
                 "new tab, then press Send here again.")


def _reply_after_sign_out():
    """A reply that arrives after its session ended: nothing is kept, and nothing is lost. The browser's
    sealed reply is told what happened (its text is still on the page); a reply without JavaScript is
    shown back, from this response only, beside the sign-in form. Files are read and dropped unseen."""
    minutes = state.settings().reporter_idle_timeout // 60
    if request.accept_mimetypes.best == "application/json":
        response = _json_errors([("", _(SESSION_ENDED).format(minutes=minutes))], 401, expired=True,
                                sign_in=url_for("reporter.follow_up"))
        return response
    try:
        parsed = parse_multipart(request.stream, request.content_type or "", _limits(), lambda *_args: DiscardSink())
        kept = parsed.fields.get("message", "")[: state.settings().max_text_chars]
    except BadRequest:
        kept = ""
    page = render_template("reporter/sign_in.html", form=SignInForm(formdata=None), expired=True, error=None,
                           kept_message=kept, sign_in_token=sign_in_form.issue(), settings=state.settings())
    return sign_in_form.finish(make_response(page, 401))


@bp.post("/follow-up/reply")
@case_required(when_expired=_reply_after_sign_out)
@discards
def reply(signed_in: SignedInCase):
    report = signed_in.report
    upload = ReplyUpload(state.db_session(), None if signed_in.in_browser else signed_in.dek, report.public_id)
    with state.database().transaction() as db:
        parsed = upload.receive(request.stream, request.content_type or "", _limits())
        if parsed.fields.get("mode") == "browser":
            if not upload.token(parsed.fields):
                raise Discard(_json_errors, [("", _(TOKEN_EXPIRED))], 403)
            if not upload.work(parsed.fields):
                raise Discard(_json_errors, [("", PUZZLE_FAILED)], 400)
            try:
                stored = store_browser_reply(db, report, upload.dek, parsed, state.settings().max_text_chars,
                                             state.REPORTER_KEYS.get().signer)
            except SubmissionError as exc:
                raise Discard(_json_errors, [("", str(exc))], 400) from None
            response = jsonify(ok=True, next=url_for("reporter.case", sent=1) + "#conversation")
        elif signed_in.in_browser:  # this session holds no key to seal with: nothing is kept
            raise Discard(_sealed_case_page, signed_in, [("", NO_KEY_HERE)], 400)
        else:
            form = ReplyForm(formdata=parsed.fields)
            stored = [f.result for f in parsed.files if isinstance(f.result, StagedAttachment)]
            errors = _reply_errors(form, parsed, stored, token_ok=upload.token(parsed.fields))
            if errors:
                raise Discard(_reply_page, signed_in, form, errors)
            add_message(db, report, signed_in.dek, (form.message.data or "").strip(), from_reporter=True,
                        signer=state.REPORTER_KEYS.get().signer, attachments=stored)
            response = redirect(url_for("reporter.case", sent=1) + "#conversation")
    count_files(stored)
    return response


def _reply_errors(form: ReplyForm, parsed, staged: list[StagedAttachment], token_ok: bool) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if not token_ok:
        errors.append(("", _(TOKEN_EXPIRED) + " " + _("Any files you chose need to be attached again.")))
    if not form.validate() or "message" in parsed.unreadable_fields:
        errors.append(("message", form.message.errors[0] if form.message.errors else _("Your message could not be read.")))
    if not errors and not (form.message.data or "").strip() and not staged:
        errors.append(("message", _("Write a message or attach a file.")))
    return errors + [("evidence", m) for m in parsed.file_errors]


def _reply_page(signed_in: SignedInCase, form: ReplyForm, errors: list[tuple[str, str]]):
    if signed_in.in_browser:
        return _sealed_case_page(signed_in, errors, 400)
    case_view = reporter_case(state.db_session(), signed_in.report, signed_in.secret)
    return render_template("reporter/case.html", case=case_view, form=form, errors=errors, settings=state.settings(),
                           status=report_status(signed_in.report), routed_body=_routed_body(signed_in)), 400


UNREADABLE_FILE = _l("That file could not be decrypted: it was damaged after it was sent. Nothing was downloaded.")
NO_KEY_HERE = ("You signed in with JavaScript, so your case is decrypted only on your device and this server cannot "
               "open it. Turn JavaScript back on, or sign out and sign in again with your code.")


@bp.get("/follow-up/files/<attachment_hex>")
@case_required
def download(attachment_hex: str, signed_in: SignedInCase):
    report = signed_in.report
    attachment = find_attachment(report, attachment_hex)
    if attachment is None:
        abort(404)
    if signed_in.in_browser:
        return _sealed_case_page(signed_in, [("", NO_KEY_HERE)], 400)
    dek = signed_in.dek
    meta = open_attachment_meta(dek, report, attachment)
    try:
        chunks = decrypt_attachment(state.db_session(), report, dek, attachment)
    except CryptoError:
        return _reply_page(signed_in, ReplyForm(formdata=None), [("", UNREADABLE_FILE)])
    return download_response(chunks, str(meta.safe_name))


@bp.post("/follow-up/sign-out")
def sign_out():
    if not form_token_valid(request.form.get("csrf_token")):
        abort(403)
    with state.database().transaction() as db:
        response = _store().sign_out(db, redirect(url_for("reporter.signed_out")))
    return response


@bp.get("/signed-out")
def signed_out():
    return render_template("reporter/signed_out.html")
