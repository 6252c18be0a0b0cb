"""The reporter interface: routes only. Work happens in portal.reports.service.

No route reads or logs the client's address, user agent or referrer (the rate
limiter, flask-limiter, sees only an HMAC of the address, in memory or Redis,
for minutes: portal.limits).
No cookie is set until a reporter signs in with a receipt code.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from portal import state
from portal.admission import GateBusy, admission
from portal.admission.storage import FILES_REFUSED_TODAY
from portal.blobs import Blob
from portal.crypto import CryptoError, kdf, puzzle
from portal.crypto.receipt import normalise_receipt_code, receipt_secret
from portal.crypto.stream import DEFAULT_CHUNK_LOG2
from portal.deadlines import Deadlines
from portal.forms import TOKEN_EXPIRED, form_token_valid, form_tokens
from portal.reports.forms import ReplyForm, ReportForm, SignInForm
from portal.reports.service import (
    BrowserSubmission,
    CiphertextSink,
    Draft,
    EncryptingSink,
    ReporterKeys,
    StagedAttachment,
    SubmissionError,
    add_message,
    decrypt_attachment,
    find_attachment,
    find_report,
    intake_recipients,
    open_attachment_meta,
    reporter_case,
    reporter_dek,
    store_sealed_message,
    submit_from_browser,
    submit_from_server,
)
from portal.reports.upload import UploadLimits, parse_multipart
from portal.web import download_response

bp = Blueprint("reporter", __name__)

WRONG_CODE = "We could not find a report with that code. Check each word and try again."
BUSY = ("The portal is very busy just now. Please try again in a minute: "
        "nothing you typed has been lost.")
PUZZLE_FAILED = "Your browser's check did not complete in time. Please send again."
FILES_NOT_KEPT = "Attach your files again once the answers above are complete: files are kept only with a report that can be sent."
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _db():
    return state.db_session()


def _keys() -> ReporterKeys:
    return state.REPORTER_KEYS.get()


def _settings():
    return state.settings()


@bp.app_context_processor
def _template_helpers():
    return {"form_token": lambda: form_tokens().issue()}


def _limits() -> UploadLimits:
    s = _settings()
    return UploadLimits(
        # One field can be the browser's sealed report (every answer, base64): allow for it.
        max_field_bytes=512 * 1024,
        max_total_field_bytes=2 * 1024 * 1024,
        max_fields=120,
        max_file_bytes=s.max_file_bytes,
        max_total_file_bytes=s.max_report_bytes,
        max_files=s.max_files,
    )


# -- pages ------------------------------------------------------------------------


@bp.get("/")
def index():
    return render_template("reporter/index.html")


@bp.get("/keys.json")
def published_keys():
    """What a browser needs to encrypt a report to the portal (public values only)."""
    s = _settings()
    return jsonify(
        version=1,
        install_salt=_keys().install_salt.hex(),
        argon2={"time_cost": kdf.RECEIPT_ARGON2.time_cost, "memory_kib": kdf.RECEIPT_ARGON2.memory_kib,
                "parallelism": kdf.RECEIPT_ARGON2.parallelism},
        recipients=[{"fingerprint": r.fingerprint, "intake_x25519": r.public_key.intake_x25519.hex()}
                    for r in intake_recipients(_db())],
        chunk_log2=DEFAULT_CHUNK_LOG2,
        limits={"file_bytes": s.max_file_bytes, "report_bytes": s.max_report_bytes, "files": s.max_files},
    )


@bp.get("/challenge/<action>")
def challenge(action: str):
    """A proof-of-work challenge for one expensive request (portal.crypto.puzzle); free to ask for."""
    if action not in puzzle.ACTIONS:
        abort(404)
    return jsonify(admission().work.challenge(action).to_json())


def _work_done(fields: MultiDict, action: str) -> bool:
    """Did this request carry a solved, unspent challenge for `action`? (Spends it.)"""
    return admission().work.redeem(fields.get("pow_challenge"), fields.get("pow_solution"), action)


def _render_report_form(form: ReportForm, draft: Draft | None = None, errors: list[tuple[str, str]] = (), status: int = 200):
    keys = _keys()
    return (
        render_template(
            "reporter/report_form.html",
            form=form,
            draft_token=draft.to_token(keys) if draft and draft.staged else "",
            staged_names=draft.attachment_names() if draft else [],
            errors=list(errors),
            settings=_settings(),
        ),
        status,
    )


@bp.get("/report")
def report_form():
    return _render_report_form(ReportForm(formdata=None, taxonomy=_settings().taxonomy))


class _UploadChecks:
    """The cheap checks of one upload request, each made once, when its fields have arrived.

    The multipart parser calls the views' sinks before the body is complete: the form token
    and the proof of work are checked the first time a file part needs them (so no file is
    written without them), or at the end. Messages about files that were not kept collect
    in `refused`, once each.
    """

    def __init__(self, action: str) -> None:
        self.action = action
        self._token: bool | None = None
        self._work: bool | None = None
        self.refused: list[str] = []

    def token(self, fields: MultiDict) -> bool:
        if self._token is None:
            self._token = form_token_valid(fields.get("csrf_token"))
        return self._token

    def work(self, fields: MultiDict) -> bool:
        if self._work is None:
            self._work = _work_done(fields, self.action)
        return self._work

    def refuse(self, message: str) -> None:
        if message not in self.refused:
            self.refused.append(message)

    def room_for_files(self) -> bool:
        """Below today's file cap? Otherwise the file is dropped and the reporter told why."""
        if admission().intake.has_room(_db()):
            return True
        self.refuse(FILES_REFUSED_TODAY)
        return False


def _count_files(attachments) -> None:
    """Add files just stored to today's total (portal.admission.storage)."""
    admission().intake.add(sum(a.ciphertext_bytes for a in attachments))


@bp.post("/report")
def submit_report():
    """Cheap checks first (form token, proof of work, fields, sizes); Argon2id only for what passes them."""
    db = _db()
    keys = _keys()
    wants_json = request.accept_mimetypes.best == "application/json"
    checks = _UploadChecks("report")
    state: dict = {"draft": None}

    def open_sink(field_name: str, filename: str, content_type: str, fields: MultiDict):
        if not checks.token(fields):
            return _DiscardSink()
        if fields.get("mode") == "browser":
            if not checks.work(fields) or not checks.room_for_files():
                return _DiscardSink()
            return _ciphertext_sink(db, field_name)
        if field_name != "evidence" or not filename:
            return _DiscardSink()
        if "answers_ok" not in state:
            state["answers_ok"] = ReportForm(formdata=fields, taxonomy=_settings().taxonomy).validate()
        if not state["answers_ok"]:
            # The answers before the file fail their checks (nothing said, too long, not a choice):
            # stage nothing, so a request that fails cheap checks writes nothing at all.
            checks.refuse(FILES_NOT_KEPT)
            return _DiscardSink()
        if not checks.room_for_files():
            return _DiscardSink()
        checks.work(fields)  # a fallback post from a browser with JavaScript carries proof of work
        if state["draft"] is None:
            state["draft"] = Draft.from_token(fields.get("draft", ""), keys) or Draft.new()
        return EncryptingSink(db, state["draft"].dek, state["draft"].report_id, _clean_filename(filename), content_type)

    try:
        parsed = parse_multipart(request.stream, request.content_type or "", _limits(), open_sink)
    except Exception:
        db.rollback()
        raise
    fields = parsed.fields
    parsed.file_errors.extend(checks.refused)
    if not checks.token(fields):
        db.rollback()
        if wants_json:
            return _json_errors([("", TOKEN_EXPIRED)], 403)
        form = ReportForm(formdata=fields, taxonomy=_settings().taxonomy)
        return _render_report_form(form, None, [("", TOKEN_EXPIRED + " Any files you chose need to be attached again.")], 403)
    if fields.get("mode") == "browser":
        if not checks.work(fields):
            db.rollback()
            return _json_errors([("", PUZZLE_FAILED)], 400)
        return _submit_browser(parsed)
    return _submit_server(parsed, state["draft"], with_work=checks.work(fields))


def _ciphertext_sink(db, field_name: str):
    """Where a file the browser encrypted goes: `attachment.<32 hex>` parts only."""
    hex_id = field_name.removeprefix("attachment.")
    if not field_name.startswith("attachment.") or not _HEX32.match(hex_id):
        return _DiscardSink()
    if db.get(Blob, bytes.fromhex(hex_id)) is not None:  # an id sent twice or already stored: refused, not a crash
        return _DiscardSink()
    return CiphertextSink(db, bytes.fromhex(hex_id))


def _browser_attachments(parsed) -> list[StagedAttachment]:
    """Pair each browser-encrypted file with its sealed name and type."""
    if parsed.file_errors:
        raise SubmissionError(" ".join(parsed.file_errors))
    metas = {k.removeprefix("attachment_meta."): _b64(v) for k, v in parsed.fields.items(multi=True) if k.startswith("attachment_meta.")}
    attachments = []
    for received in parsed.files:
        hex_id = received.field_name.removeprefix("attachment.")
        if received.result is None or hex_id not in metas:
            raise SubmissionError("An encrypted file was damaged on the way. Please send it again.")
        attachments.append(StagedAttachment(bytes.fromhex(hex_id), metas[hex_id], int(received.result)))
    return attachments


class _DiscardSink:
    def write(self, data: bytes) -> None:
        pass

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        pass


def _clean_filename(name: str) -> str:
    """Keep a file's name readable but harmless: no path, no control characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return name[-200:] or "attachment"


def _json_errors(errors: list[tuple[str, str]], status: int) -> Response:
    body = {"ok": False, "errors": [{"field": f, "message": m} for f, m in errors], "csrf_token": form_tokens().issue()}
    if any(m == PUZZLE_FAILED for _, m in errors):
        body["retry"] = "work"  # the browser fetches a new challenge and sends once more by itself
    return jsonify(body), status


def _submit_server(parsed, draft: Draft | None, with_work: bool):
    db = _db()
    keys = _keys()
    if draft is None:  # no file in this request: earlier staged files travel in the draft token
        draft = Draft.from_token(parsed.fields.get("draft", ""), keys) or Draft.new()
    staged_now = [f.result for f in parsed.files if isinstance(f.result, StagedAttachment)]
    draft.staged.extend(staged_now)
    _count_files(staged_now)

    form = ReportForm(formdata=parsed.fields, taxonomy=_settings().taxonomy)
    valid = form.validate()
    unreadable = [name for name in parsed.unreadable_fields]
    if unreadable:
        valid = False
    if not valid or parsed.file_errors:
        db.commit()  # keep the staged, encrypted files for the corrected submission
        errors = [(name, "This answer could not be read. Please type it again.") for name in unreadable]
        errors += [("evidence", message) for message in parsed.file_errors]
        return _render_report_form(form, draft, errors, 400)
    try:
        with admission().gate.admit(with_work):  # Argon2id for the new receipt code: one of a bounded few at once
            report, code = submit_from_server(db, keys, draft, form.answers(), Deadlines.from_settings(_settings()))
        db.commit()
    except GateBusy:
        db.commit()  # keep the staged files: the reporter sends the same form again in a minute
        return _render_report_form(form, draft, [("", BUSY)], 503)
    except SubmissionError as exc:
        db.rollback()
        return _render_report_form(form, None, [("", str(exc))], 400)
    except Exception:
        db.rollback()
        raise
    return render_template("reporter/confirmation.html", receipt_code=code)


def _b64(value: str | None) -> bytes:
    try:
        return base64.b64decode((value or "").encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SubmissionError("The encrypted report was incomplete. Please send it again.") from None


def _submit_browser(parsed):
    db = _db()
    fields = parsed.fields
    try:
        attachments = _browser_attachments(parsed)
        try:
            report_id = bytes.fromhex(fields.get("report_id", ""))
            secret = bytes.fromhex(fields.get("receipt_secret", ""))
        except ValueError:
            raise SubmissionError("The encrypted report was incomplete. Please send it again.") from None
        submission = BrowserSubmission(
            report_id=report_id,
            secret=secret,
            sealed_report=_b64(fields.get("sealed_report")),
            reporter_inner=_b64(fields.get("reporter_inner")),
            recipient_inners={k.removeprefix("recipient_inner."): _b64(v) for k, v in fields.items() if k.startswith("recipient_inner.")},
            attachments=attachments,
            urgent=fields.get("urgent") == "yes",
        )
        submit_from_browser(db, _keys(), submission, Deadlines.from_settings(_settings()))
        db.commit()
        _count_files(attachments)
    except SubmissionError as exc:
        db.rollback()
        return _json_errors([("", str(exc))], 400)
    except Exception:
        db.rollback()
        raise
    return jsonify(ok=True)


# -- following up -----------------------------------------------------------------


def _store():
    return state.server_sessions()


def _current_case():
    """(report, receipt secret) for the signed-in reporter, or None."""
    payload = _store().load(_db(), _store().cookie())
    _db().commit()  # persist the restarted idle timer, or the deletion of an expired session
    if payload is None:
        return None
    from sqlalchemy import select

    from portal.reports.models import Report

    report = _db().scalar(select(Report).where(Report.public_id == bytes.fromhex(payload["report"])))
    if report is None:
        return None
    return report, bytes.fromhex(payload["secret"])


def _signed_out_redirect() -> Response:
    return _store().forget_cookie(redirect(url_for("reporter.follow_up", expired=1)))


@bp.get("/follow-up")
def follow_up():
    expired = request.args.get("expired") == "1"
    return render_template("reporter/sign_in.html", form=SignInForm(formdata=None), expired=expired, error=None)


@bp.post("/follow-up")
def sign_in():
    """Sign in with a receipt code (no JavaScript) or with the secret the browser derived from it.

    With JavaScript the browser runs the Argon2id derivation and sends the secret with a
    solved challenge: the server does one HMAC and one lookup. Without, the server derives
    the secret from the code, inside the gate (portal.admission.gate). A malformed code
    fails before any derivation: the word list is public, so that reveals nothing.
    """
    if request.form.get("mode") == "browser":
        return _sign_in_from_browser()
    form = SignInForm(formdata=request.form)
    if not form_token_valid(request.form.get("csrf_token")):
        return _sign_in_page(form, TOKEN_EXPIRED, 403)
    if not form.validate():
        return _sign_in_page(form, None, 400)
    try:
        code = normalise_receipt_code(form.receipt_code.data)
    except CryptoError:
        form.receipt_code.errors = [WRONG_CODE]
        return _sign_in_page(form, None, 400)
    try:
        with admission().gate.admit(_work_done(request.form, "sign-in")):
            secret = receipt_secret(code, _keys().install_salt)
    except GateBusy:
        return _sign_in_page(form, BUSY, 503)
    report = find_report(_db(), _keys(), secret)
    if report is None:
        form.receipt_code.errors = [WRONG_CODE]
        return _sign_in_page(form, None, 400)
    return _start_follow_up(report, secret, redirect(url_for("reporter.case")))


def _sign_in_page(form: SignInForm, error: str | None, status: int):
    return render_template("reporter/sign_in.html", form=form, expired=False, error=error), status


def _sign_in_from_browser():
    if not form_token_valid(request.form.get("csrf_token")):
        return _json_errors([("", TOKEN_EXPIRED)], 403)
    if not _work_done(request.form, "sign-in"):
        return _json_errors([("", PUZZLE_FAILED)], 400)
    try:
        secret = bytes.fromhex(request.form.get("receipt_secret", ""))
    except ValueError:
        secret = b""
    report = find_report(_db(), _keys(), secret) if len(secret) == 32 else None
    if report is None:
        return _json_errors([("receipt_code", WRONG_CODE)], 400)
    return _start_follow_up(report, secret, jsonify(ok=True, next=url_for("reporter.case")))


def _start_follow_up(report, secret: bytes, response: Response) -> Response:
    """Open a follow-up session for this report and set its cookie on `response`."""
    cookie = _store().create(_db(), {"report": report.public_id.hex(), "secret": secret.hex()})
    _db().commit()
    return _store().set_cookie(response, cookie, https=bool(_settings().https))


@bp.get("/follow-up/case")
def case():
    current = _current_case()
    if current is None:
        return _signed_out_redirect()
    report, secret = current
    return render_template("reporter/case.html", case=reporter_case(_db(), report, secret), form=ReplyForm(formdata=None),
                           errors=[], settings=_settings(), report_id=report.public_id.hex(), data_key=reporter_dek(report, secret).hex())


@bp.post("/follow-up/reply")
def reply():
    current = _current_case()
    if current is None:
        return _signed_out_redirect()
    report, secret = current
    db = _db()
    dek = reporter_dek(report, secret)
    checks = _UploadChecks("reply")

    def open_sink(field_name, filename, content_type, fields):
        if not checks.token(fields):
            return _DiscardSink()
        if fields.get("mode") == "browser":
            if not checks.work(fields) or not checks.room_for_files():
                return _DiscardSink()
            return _ciphertext_sink(db, field_name)
        if field_name != "evidence" or not filename or not checks.room_for_files():
            return _DiscardSink()
        return EncryptingSink(db, dek, report.public_id, _clean_filename(filename), content_type)

    try:
        parsed = parse_multipart(request.stream, request.content_type or "", _limits(), open_sink)
    except Exception:
        db.rollback()
        raise
    parsed.file_errors.extend(checks.refused)
    token_ok = checks.token(parsed.fields)
    if parsed.fields.get("mode") == "browser":
        return _reply_from_browser(report, parsed, token_ok, checks.work(parsed.fields))
    form = ReplyForm(formdata=parsed.fields)
    staged = [f.result for f in parsed.files if isinstance(f.result, StagedAttachment)]
    errors: list[tuple[str, str]] = []
    if not token_ok:
        errors.append(("", TOKEN_EXPIRED + " Any files you chose need to be attached again."))
    if not form.validate() or "message" in parsed.unreadable_fields:
        errors.append(("message", form.message.errors[0] if form.message.errors else "Your message could not be read."))
    if not errors and not (form.message.data or "").strip() and not staged:
        errors.append(("message", "Write a message or attach a file."))
    errors += [("evidence", m) for m in parsed.file_errors]
    if errors:
        db.rollback()
        case_view = reporter_case(db, report, secret)
        return render_template("reporter/case.html", case=case_view, form=form, errors=errors, settings=_settings()), 400
    add_message(db, report, dek, (form.message.data or "").strip(), from_reporter=True, attachments=staged)
    db.commit()
    _count_files(staged)
    return redirect(url_for("reporter.case", sent=1) + "#conversation")


def _reply_from_browser(report, parsed, token_ok: bool, work_ok: bool):
    """A reply sealed in the reporter's browser: stored as it arrived."""
    db = _db()
    if not token_ok:
        db.rollback()
        return _json_errors([("", TOKEN_EXPIRED)], 403)
    if not work_ok:
        db.rollback()
        return _json_errors([("", PUZZLE_FAILED)], 400)
    try:
        attachments = _browser_attachments(parsed)
        try:
            message_id = bytes.fromhex(parsed.fields.get("message_id", ""))
        except ValueError:
            raise SubmissionError("The encrypted message was incomplete. Please send it again.") from None
        sealed = _b64(parsed.fields.get("sealed_message"))
        if len(sealed) > 4 * _settings().max_text_chars + 64:
            raise SubmissionError("Your message is too long.")
        store_sealed_message(db, report, message_id, sealed, from_reporter=True, attachments=attachments)
        db.commit()
        _count_files(attachments)
    except SubmissionError as exc:
        db.rollback()
        return _json_errors([("", str(exc))], 400)
    except Exception:
        db.rollback()
        raise
    return jsonify(ok=True, next=url_for("reporter.case", sent=1) + "#conversation")


@bp.get("/follow-up/files/<attachment_hex>")
def download(attachment_hex: str):
    current = _current_case()
    if current is None:
        return _signed_out_redirect()
    report, secret = current
    attachment = find_attachment(report, attachment_hex)
    if attachment is None:
        abort(404)
    dek = reporter_dek(report, secret)
    meta = open_attachment_meta(dek, report, attachment)
    chunks = decrypt_attachment(_db(), report, dek, attachment)
    return download_response(chunks, meta.name)


@bp.post("/follow-up/sign-out")
def sign_out():
    if not form_token_valid(request.form.get("csrf_token")):
        abort(403)
    response = _store().sign_out(_db(), redirect(url_for("reporter.signed_out")))
    _db().commit()
    return response


@bp.get("/signed-out")
def signed_out():
    return render_template("reporter/signed_out.html")
