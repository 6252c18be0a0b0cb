"""Everything that happens to a report on the reporter's side, one function each.

Views call these; so do the CLI and the tests. Nothing here knows about HTML or
requests, and no plaintext leaves memory: content is sealed (portal.crypto)
before it reaches a model.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import secrets as std_secrets
from collections.abc import Iterator
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.blobs.io import BlobReader, mark_attached
from portal.clock import today
from portal.crypto import CryptoError
from portal.crypto.envelope import new_data_key, open_record, open_with_key, seal_record, seal_with_key
from portal.crypto.kdf import hkdf
from portal.crypto.keys import (
    INNER_WRAP_LEN,
    check_reporter_wrap_v2,
    seal_inner,
    unwrap_dek_for_reporter,
    wrap_dek_for_reporter_root,
    wrap_inner_for_recipient,
)
from portal.crypto.receipt import (
    LOOKUP_TOKEN_LEN,
    RECEIPT_FORMAT_V2,
    generate_receipt_code,
    lookup_id_v2,
    lookup_token,
    receipt_secret,
    reporter_root,
)
from portal.crypto.screening import MAX_SUBJECTS_BYTES, hold_wrap, seal_subjects_inner, seal_subjects_outer
from portal.crypto.stream import iter_decrypt_unverified, verify_stream
from portal.deadlines import Deadlines
from portal.reports.answers import AttachmentMeta, MessageBody, ReportAnswers, subject_document
from portal.reports.models import Attachment, HeldWrap, KeyWrap, Message, Report
from portal.reports.recipients import intake_recipients, screening_key
from portal.reports.upload import ParsedUpload, StagedAttachment
from portal.triage.vocabulary import Stage

_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U


class SubmissionError(Exception):
    """The submission cannot be stored as sent; the message is safe to show."""


NOT_READY = _l("The portal is not ready to receive reports yet. Please try again later.")


@dataclass(frozen=True)
class ReporterKeys:
    """The reporter host's secrets (from the instance directory)."""

    pepper: bytes
    install_salt: bytes
    form_key: bytes

    @property
    def draft_key(self) -> bytes:
        return hkdf(self.form_key, b"portal/v1/draft-token")


def new_reference() -> str:
    body = "".join(std_secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"R-{body[:4]}-{body[4:]}"


# -- drafts (no-JavaScript path: keeps attachments across a validation error) -----


@dataclass
class Draft:
    report_id: bytes
    dek: bytes
    staged: list[StagedAttachment]

    @classmethod
    def new(cls) -> Draft:
        return cls(os.urandom(16), new_data_key(), [])

    def to_token(self, keys: ReporterKeys) -> str:
        body = {
            "report_id": self.report_id.hex(),
            "dek": self.dek.hex(),
            "expires": (today() + dt.timedelta(days=1)).isoformat(),
            "staged": [
                {"id": s.attachment_id.hex(), "meta": base64.b64encode(s.sealed_meta).decode(), "size": s.ciphertext_bytes}
                for s in self.staged
            ],
        }
        return base64.urlsafe_b64encode(seal_with_key(keys.draft_key, json.dumps(body).encode(), b"portal/v1/draft")).decode()

    @classmethod
    def from_token(cls, token: str, keys: ReporterKeys) -> Draft | None:
        try:
            body = json.loads(open_with_key(keys.draft_key, base64.urlsafe_b64decode(token.encode("ascii")), b"portal/v1/draft"))
            if dt.date.fromisoformat(body["expires"]) < today():
                return None
            staged = [
                StagedAttachment(bytes.fromhex(s["id"]), base64.b64decode(s["meta"]), int(s["size"])) for s in body["staged"]
            ]
            return cls(bytes.fromhex(body["report_id"]), bytes.fromhex(body["dek"]), staged)
        except (CryptoError, ValueError, KeyError, TypeError):
            return None

    def attachment_names(self) -> list[str]:
        names = []
        for staged in self.staged:
            try:
                raw = open_record(self.dek, self.report_id, "attachment-meta", staged.sealed_meta, staged.attachment_id)
                names.append(AttachmentMeta.from_json(raw).name)
            except (CryptoError, ValueError):
                names.append("attachment")
        return names


# -- submitting -------------------------------------------------------------------


def _store_report(
    db: Session,
    keys: ReporterKeys,
    *,
    report_id: bytes,
    token: bytes,
    sealed_report: bytes,
    reporter_wrap: bytes,
    recipient_inners: dict[str, bytes],
    subjects_inner: bytes | None,
    attachments: list[StagedAttachment],
    urgent: bool,
    in_browser: bool,
    deadlines: Deadlines,
) -> Report:
    recipients = intake_recipients(db)
    screening = screening_key(db)
    if not recipients or screening is None:
        raise SubmissionError(NOT_READY)
    missing = [r.fingerprint for r in recipients if r.fingerprint not in recipient_inners]
    if missing:
        raise SubmissionError(_("The portal's keys have changed since this page was loaded. Reload the page and send again."))
    lookup = lookup_id_v2(token, keys.pepper)
    if db.scalar(select(Report.id).where((Report.lookup_id == lookup) | (Report.public_id == report_id))) is not None:
        raise SubmissionError(_("This report has already been received."))
    report = Report(
        public_id=report_id,
        reference=new_reference(),
        lookup_id=lookup,
        receipt_format=RECEIPT_FORMAT_V2,
        received_on=today(),
        reporter_urgent=urgent,
        encrypted_in_browser=in_browser,
        sealed_report=sealed_report,
        reporter_wrap=reporter_wrap,
        screening="pending",
        # No subject list (a browser that sent none): screening quarantines the report.
        sealed_subjects=None if subjects_inner is None else seal_subjects_outer(subjects_inner, screening.public_key, report_id),
    )
    deadlines.apply(report)
    for recipient in recipients:
        wrap = wrap_inner_for_recipient(recipient_inners[recipient.fingerprint], recipient.public_key, report_id)
        if recipient.held:  # a reviewer: held for screening (portal.triage.screening releases it)
            held = hold_wrap(wrap, screening.public_key, report_id, recipient.fingerprint)
            report.held_wraps.append(HeldWrap(recipient_fingerprint=recipient.fingerprint, held=held))
        else:
            report.wraps.append(KeyWrap(recipient_fingerprint=recipient.fingerprint, wrap=wrap))
    for staged in attachments:
        report.attachments.append(
            Attachment(public_id=staged.attachment_id, sealed_meta=staged.sealed_meta, ciphertext_bytes=staged.ciphertext_bytes)
        )
        mark_attached(db, staged.attachment_id)
    db.add(report)
    db.flush()
    return report


def submit_from_server(
    db: Session, keys: ReporterKeys, draft: Draft, answers: ReportAnswers, deadlines: Deadlines
) -> tuple[Report, str]:
    """No-JavaScript path: the server seals everything; returns the report and the new receipt code."""
    code = generate_receipt_code()
    secret = receipt_secret(code, keys.install_salt)
    inners = {r.fingerprint: seal_inner(draft.dek, r.public_key.intake_x25519, draft.report_id) for r in intake_recipients(db)}
    screening = screening_key(db)
    if screening is None:
        raise SubmissionError(NOT_READY)
    subjects = seal_subjects_inner(subject_document(answers.people), screening.public_key.intake_x25519, draft.report_id)
    report = _store_report(
        db,
        keys,
        report_id=draft.report_id,
        token=lookup_token(secret),
        sealed_report=seal_record(draft.dek, draft.report_id, "report", answers.to_json()),
        reporter_wrap=wrap_dek_for_reporter_root(draft.dek, reporter_root(secret), draft.report_id),
        recipient_inners=inners,
        subjects_inner=subjects,
        attachments=draft.staged,
        urgent=answers.risk_now == "yes",
        in_browser=False,
        deadlines=deadlines,
    )
    return report, code


@dataclass
class BrowserSubmission:
    report_id: bytes
    token: bytes  # the lookup token: the receipt secret never leaves the browser
    sealed_report: bytes
    reporter_wrap: bytes  # complete (alg 0x15): made in the browser from the reporter root
    recipient_inners: dict[str, bytes]
    subjects_inner: bytes | None
    attachments: list[StagedAttachment]
    urgent: bool
    screening_fingerprint: str = ""  # the screening key the browser sealed the subject list to


def sealed_field(value: str | None) -> bytes:
    """A base64 field the browser sealed (SubmissionError if it is not base64)."""
    try:
        return base64.b64decode((value or "").encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SubmissionError(_("The encrypted report was incomplete. Please send it again.")) from None


def browser_attachments(parsed: ParsedUpload) -> list[StagedAttachment]:
    """Pair each browser-encrypted file with its sealed name and type."""
    if parsed.file_errors:
        raise SubmissionError(" ".join(parsed.file_errors))
    metas = {k.removeprefix("attachment_meta."): sealed_field(v) for k, v in parsed.fields.items(multi=True)
             if k.startswith("attachment_meta.")}
    attachments = []
    for received in parsed.files:
        hex_id = received.field_name.removeprefix("attachment.")
        if received.result is None or hex_id not in metas:
            raise SubmissionError(_("An encrypted file was damaged on the way. Please send it again."))
        attachments.append(StagedAttachment(bytes.fromhex(hex_id), metas[hex_id], int(received.result)))
    return attachments


def browser_submission(parsed: ParsedUpload) -> BrowserSubmission:
    """A report sealed in the reporter's browser, as its upload's fields carry it."""
    attachments = browser_attachments(parsed)
    fields = parsed.fields
    try:
        report_id = bytes.fromhex(fields.get("report_id", ""))
        token = bytes.fromhex(fields.get("lookup_token", ""))
    except ValueError:
        raise SubmissionError(_("The encrypted report was incomplete. Please send it again.")) from None
    return BrowserSubmission(
        report_id=report_id,
        token=token,
        sealed_report=sealed_field(fields.get("sealed_report")),
        reporter_wrap=sealed_field(fields.get("reporter_wrap")),
        recipient_inners={k.removeprefix("recipient_inner."): sealed_field(v) for k, v in fields.items()
                          if k.startswith("recipient_inner.")},
        # None (not sent): stored without a subject list, and screening quarantines it.
        subjects_inner=sealed_field(fields.get("subjects_inner")) if fields.get("subjects_inner") else None,
        attachments=attachments,
        urgent=fields.get("urgent") == "yes",
        screening_fingerprint=fields.get("screening_fingerprint", "")[:32],
    )


def submit_from_browser(db: Session, keys: ReporterKeys, sub: BrowserSubmission, deadlines: Deadlines) -> Report:
    """JavaScript path: content arrived sealed; the server adds recipients' outer wraps and the lookup id.
    It is given the lookup token and the reporter's finished wrap, never anything that opens it."""
    if len(sub.report_id) != 16 or len(sub.token) != LOOKUP_TOKEN_LEN:
        raise SubmissionError(_("The encrypted report was incomplete. Please send it again."))
    try:
        check_reporter_wrap_v2(sub.reporter_wrap)
    except CryptoError:
        raise SubmissionError(_("The encrypted report was incomplete. Please send it again.")) from None
    if any(len(v) != INNER_WRAP_LEN for v in sub.recipient_inners.values()):
        raise SubmissionError(_("The encrypted report was incomplete. Please send it again."))
    if len(sub.sealed_report) < 30 or sub.sealed_report[:2] != b"\x01\x01":
        raise SubmissionError(_("The encrypted report was incomplete. Please send it again."))
    if sub.subjects_inner is not None and not 48 <= len(sub.subjects_inner) <= 48 + MAX_SUBJECTS_BYTES:
        raise SubmissionError(_("The encrypted report was incomplete. Please send it again."))
    screening = screening_key(db)
    if sub.screening_fingerprint and screening is not None and sub.screening_fingerprint != screening.fingerprint:
        raise SubmissionError(_("The portal's keys have changed since this page was loaded. Reload the page and send again."))
    return _store_report(
        db,
        keys,
        report_id=sub.report_id,
        token=sub.token,
        sealed_report=sub.sealed_report,
        reporter_wrap=sub.reporter_wrap,
        recipient_inners=sub.recipient_inners,
        subjects_inner=sub.subjects_inner,
        attachments=sub.attachments,
        urgent=sub.urgent,
        in_browser=True,
        deadlines=deadlines,
    )


# -- following up -----------------------------------------------------------------


@dataclass
class ConversationEntry:
    from_reporter: bool
    author: str
    sent_on: dt.date
    text: str | None  # None: it did not open (shown as "could not be decrypted")
    attachments: list[tuple[str, AttachmentMeta]]  # (attachment id hex, meta)


@dataclass
class OpenedReport:
    """A report's content, decrypted in memory for one page view (both interfaces)."""

    answers: ReportAnswers
    attachments: list[tuple[str, AttachmentMeta]]  # sent with the report itself
    conversation: list[ConversationEntry]


def open_report(report: Report, dek: bytes, reviewer_names: dict[int, str] | None = None) -> OpenedReport:
    """Everything on a case page. One item that does not open (a message or a file's details a
    database writer or a broken browser replaced) is shown as unreadable; it never breaks the page."""
    answers = ReportAnswers.from_json(open_record(dek, report.public_id, "report", report.sealed_report))
    by_message: dict[int | None, list[tuple[str, AttachmentMeta]]] = {}
    for attachment in report.attachments:
        by_message.setdefault(attachment.message_id, []).append(
            (attachment.public_id.hex(), open_attachment_meta(dek, report, attachment))
        )
    names = reviewer_names or {}
    conversation = [
        ConversationEntry(
            from_reporter=m.from_reporter,
            author=_("Reporter") if m.from_reporter else names.get(m.reviewer_id, _("Reviewer")),
            sent_on=m.sent_on,
            text=open_text(dek, report, "message", m.sealed_body, m.public_id),
            attachments=by_message.get(m.id, []),
        )
        for m in report.messages
    ]
    return OpenedReport(answers, by_message.get(None, []), conversation)


def open_text(dek: bytes, report: Report, purpose: str, sealed: bytes, record_id: bytes) -> str | None:
    """A sealed message or note's text, or None when it does not open (shown as unreadable)."""
    try:
        return MessageBody.from_json(open_record(dek, report.public_id, purpose, sealed, record_id)).text
    except (CryptoError, ValueError):
        return None


@dataclass
class ReporterCase:
    reference: str
    received_on: dt.date
    status_label: str
    answers: ReportAnswers
    attachments: list[tuple[str, AttachmentMeta]]
    conversation: list[ConversationEntry]


def open_attachment_meta(dek: bytes, report: Report, attachment: Attachment) -> AttachmentMeta:
    """A file's name, type and size; `AttachmentMeta.unreadable()` when its sealed details do not open."""
    try:
        raw = open_record(dek, report.public_id, "attachment-meta", attachment.sealed_meta, attachment.public_id)
        return AttachmentMeta.from_json(raw)
    except (CryptoError, ValueError):
        return AttachmentMeta.unreadable()


def reporter_case(db: Session, report: Report, secret: bytes) -> ReporterCase:
    opened = open_report(report, unwrap_dek_for_reporter(report.reporter_wrap, secret, report.public_id))
    return ReporterCase(
        reference=report.reference,
        received_on=report.received_on,
        status_label=report.coarse_status.label,
        answers=opened.answers,
        attachments=opened.attachments,
        conversation=opened.conversation,
    )


def reporter_dek(report: Report, secret: bytes) -> bytes:
    return unwrap_dek_for_reporter(report.reporter_wrap, secret, report.public_id)


def add_message(
    db: Session,
    report: Report,
    dek: bytes,
    text: str,
    *,
    from_reporter: bool,
    reviewer_id: int | None = None,
    attachments: list[StagedAttachment] = (),
) -> Message:
    """Seal and store one message (and any files sent with it). Used by both interfaces."""
    public_id = os.urandom(16)
    sealed = seal_record(dek, report.public_id, "message", MessageBody(text).to_json(), public_id)
    return store_sealed_message(db, report, public_id, sealed, from_reporter=from_reporter, reviewer_id=reviewer_id,
                                attachments=attachments)


def store_sealed_message(
    db: Session,
    report: Report,
    public_id: bytes,
    sealed_body: bytes,
    *,
    from_reporter: bool,
    reviewer_id: int | None = None,
    attachments: list[StagedAttachment] = (),
) -> Message:
    """Store a message sealed by the caller: the server, or the reporter's browser."""
    if len(public_id) != 16 or len(sealed_body) < 30 or sealed_body[:2] != b"\x01\x01":
        raise SubmissionError(_("The encrypted message was incomplete. Please send it again."))
    if db.scalar(select(Message.id).where(Message.public_id == public_id)) is not None:
        raise SubmissionError(_("This message has already been received."))
    # The queue's signals (Message): unread until the handler opens it; after closure until someone decides.
    message = Message(public_id=public_id, from_reporter=from_reporter, reviewer_id=reviewer_id, sent_on=today(),
                      sealed_body=sealed_body, unread=from_reporter, after_closure=from_reporter and report.stage == Stage.CLOSED)
    report.messages.append(message)
    db.flush()
    for staged in attachments:
        report.attachments.append(
            Attachment(
                public_id=staged.attachment_id,
                sealed_meta=staged.sealed_meta,
                ciphertext_bytes=staged.ciphertext_bytes,
                message_id=message.id,
                from_reporter=from_reporter,
            )
        )
        mark_attached(db, staged.attachment_id)
    db.flush()
    return message


def store_browser_reply(
    db: Session, report: Report, dek: bytes | None, parsed: ParsedUpload, max_text_chars: int
) -> list[StagedAttachment]:
    """A reply sealed in the reporter's browser, stored as it arrived. With the case's key (a
    no-JavaScript session that later ran the script) a reply or file details that do not open are
    refused here; a JavaScript session holds no key, so the browser checks its own seal before
    sending and the server checks only the format. Returns the files."""
    attachments = browser_attachments(parsed)
    try:
        message_id = bytes.fromhex(parsed.fields.get("message_id", ""))
    except ValueError:
        raise SubmissionError(_("The encrypted message was incomplete. Please send it again.")) from None
    sealed = sealed_field(parsed.fields.get("sealed_message"))
    if len(sealed) > 4 * max_text_chars + 64:
        raise SubmissionError(_("Your message is too long."))
    if dek is not None and (open_text(dek, report, "message", sealed, message_id) is None or any(
        not _meta_opens(dek, report.public_id, staged) for staged in attachments
    )):
        raise SubmissionError(_("Your message could not be read after encryption. Reload the page and send it again."))
    store_sealed_message(db, report, message_id, sealed, from_reporter=True, attachments=attachments)
    return attachments


def _meta_opens(dek: bytes, report_id: bytes, staged: StagedAttachment) -> bool:
    try:
        AttachmentMeta.from_json(open_record(dek, report_id, "attachment-meta", staged.sealed_meta, staged.attachment_id))
    except (CryptoError, ValueError):
        return False
    return True


def decrypt_attachment(db: Session, report: Report, dek: bytes, attachment: Attachment) -> Iterator[bytes]:
    """Verify the whole file first, then yield its plaintext chunk by chunk."""
    return decrypt_blob(db, report, dek, attachment.public_id)


def decrypt_blob(db: Session, report: Report, dek: bytes, blob_id: bytes, stream_id: bytes | None = None) -> Iterator[bytes]:
    """A STREAM ciphertext of this report: verified whole, then yielded. Its stream is bound to
    `stream_id`: an attachment's own id, or the id derived for a safe copy of one."""
    reader = BlobReader(db, blob_id)
    stream_id = stream_id or blob_id
    verify_stream(dek, report.public_id, stream_id, reader)
    reader.seek(0)
    return iter_decrypt_unverified(dek, report.public_id, stream_id, reader)


def find_attachment(report: Report, attachment_hex: str) -> Attachment | None:
    try:
        wanted = bytes.fromhex(attachment_hex)
    except ValueError:
        return None
    return next((a for a in report.attachments if a.public_id == wanted), None)
