"""Everything that happens to a report on the reporter's side, one function each.

Views call these; so do the CLI and the tests. Nothing here knows about HTML or
requests, and no plaintext leaves memory: content is sealed (portal.crypto)
before it reaches a model.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets as std_secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.blobs.io import BlobReader, mark_attached
from portal.clock import today
from portal.crypto import CryptoError
from portal.crypto.envelope import new_data_key, open_record, open_with_key, seal_record, seal_with_key
from portal.crypto.integrity import FileEntry, key_commitment
from portal.crypto.kdf import hkdf
from portal.crypto.keys import (
    seal_inner,
    unwrap_dek_for_reporter,
    wrap_dek_for_reporter_root,
    wrap_inner_for_recipient,
)
from portal.crypto.receipt import (
    RECEIPT_FORMAT_V2,
    generate_receipt_code,
    lookup_id_v2,
    lookup_token,
    receipt_secret,
    reporter_root,
)
from portal.crypto.screening import hold_wrap, seal_subjects_inner, seal_subjects_outer
from portal.crypto.stream import iter_decrypt_unverified, verify_stream
from portal.deadlines import Deadlines
from portal.reports.answers import AttachmentMeta, MessageBody, ReportAnswers, subject_document
from portal.reports.integrity import Signer, check_key, check_one_key, next_position, reporter_signer, sign_message, sign_report
from portal.reports.models import Attachment, HeldWrap, KeyWrap, Message, Report, ReportStatus
from portal.reports.recipients import NO_INDEPENDENT_BODY, IndependentBody, intake_recipients, screening_key
from portal.reports.upload import StagedAttachment

_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U


class SubmissionError(Exception):
    """The submission cannot be stored as sent; the message is safe to show."""


NOT_READY = lazy_gettext("The portal is not ready to receive reports yet. Please try again later.")


@dataclass(frozen=True)
class ReporterKeys:
    """The reporter host's secrets (from the instance directory)."""

    pepper: bytes
    install_salt: bytes
    form_key: bytes
    signing_seed: bytes = field(repr=False)  # Ed25519: signs every report and message this host accepts

    @property
    def signer(self) -> Signer:
        return reporter_signer(self.signing_seed)

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


def store_report(
    db: Session,
    keys: ReporterKeys,
    *,
    report_id: bytes,
    token: bytes,
    sealed_report: bytes,
    reporter_wrap: bytes,
    commitment: bytes,
    recipient_inners: dict[str, bytes],
    subjects_inner: bytes | None,
    attachments: list[StagedAttachment],
    urgent: bool,
    in_browser: bool,
    deadlines: Deadlines,
    body: IndependentBody | None,
    only_independent: bool,
) -> Report:
    if only_independent and (body is None or body.key is None):
        raise SubmissionError(NO_INDEPENDENT_BODY)
    # With the reporter's choice, only the body and the recovery key: inner wraps for anyone else are ignored.
    recipients = intake_recipients(db, body, only_independent=only_independent)
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
        key_commitment=commitment,
        screening="pending",
        # No subject list (a browser that sent none): screening quarantines the report.
        sealed_subjects=None if subjects_inner is None else seal_subjects_outer(subjects_inner, screening.public_key, report_id),
    )
    deadlines.apply(report)
    for recipient in recipients:
        wrap = wrap_inner_for_recipient(recipient_inners[recipient.fingerprint], recipient.public_key, report_id)
        if recipient.held:  # a reviewer or the body: held for screening (portal.triage.screening releases it)
            held = hold_wrap(wrap, screening.public_key, report_id, recipient.fingerprint)
            report.held_wraps.append(HeldWrap(recipient_fingerprint=recipient.fingerprint, held=held))
        else:
            report.wraps.append(KeyWrap(recipient_fingerprint=recipient.fingerprint, wrap=wrap))
    for staged in attachments:
        report.attachments.append(
            Attachment(public_id=staged.attachment_id, sealed_meta=staged.sealed_meta, ciphertext_bytes=staged.ciphertext_bytes)
        )
        mark_attached(db, staged.attachment_id)
    sign_report(report, keys.signer)  # what was accepted, as it was accepted (portal.reports.integrity)
    db.add(report)
    db.flush()
    return report


def submit_from_server(
    db: Session, keys: ReporterKeys, draft: Draft, answers: ReportAnswers, deadlines: Deadlines, body: IndependentBody | None = None
) -> tuple[Report, str]:
    """No-JavaScript path: the server seals everything; returns the report and the new receipt code.
    `body`: the independent body (portal.reports.recipients.independent), held for screening like a reviewer."""
    only = answers.only_independent  # without the body's key, store_report refuses it before anything is kept
    code = generate_receipt_code()
    secret = receipt_secret(code, keys.install_salt)
    inners = {r.fingerprint: seal_inner(draft.dek, r.public_key.intake_x25519, draft.report_id)
              for r in intake_recipients(db, body, only_independent=only)}
    screening = screening_key(db)
    if screening is None:
        raise SubmissionError(NOT_READY)
    subjects = seal_subjects_inner(subject_document(answers.people, only), screening.public_key.intake_x25519, draft.report_id)
    sealed_report = seal_record(draft.dek, draft.report_id, "report", answers.to_json())
    reporter_wrap = wrap_dek_for_reporter_root(draft.dek, reporter_root(secret), draft.report_id)
    commitment = key_commitment(draft.dek, draft.report_id)
    try:  # the server holds the key here: everything it can open must hold that one key
        check_one_key(draft.dek, draft.report_id, unwrap_dek_for_reporter(reporter_wrap, secret, draft.report_id), commitment,
                      sealed_report, [(s.attachment_id, s.sealed_meta) for s in draft.staged])
    except CryptoError:
        raise SubmissionError(str(MIXED_KEYS)) from None
    report = store_report(
        db,
        keys,
        report_id=draft.report_id,
        token=lookup_token(secret),
        sealed_report=sealed_report,
        reporter_wrap=reporter_wrap,
        commitment=commitment,
        recipient_inners=inners,
        subjects_inner=subjects,
        attachments=draft.staged,
        urgent=answers.risk_now == "yes",
        in_browser=False,
        deadlines=deadlines,
        body=body,
        only_independent=only,
    )
    return report, code


MIXED_KEYS = lazy_gettext("The encrypted report did not hold one key for every recipient. Reload the page and send it again.")


# -- following up -----------------------------------------------------------------


@dataclass
class ConversationEntry:
    from_reporter: bool
    author: str
    sent_on: dt.date
    text: str | None  # None: it did not open (shown as "could not be decrypted")
    attachments: list[tuple[str, AttachmentMeta]]  # (attachment id hex, meta)
    altered: bool = False  # failed its signature (portal.reports.integrity): never shown, nor its files


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
            # the reporter host cannot read reviewer_id (MESSAGE_READABLE): it passes no names
            author=_("Reporter") if m.from_reporter else (names.get(m.reviewer_id, _("Reviewer")) if names else _("Reviewer")),
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
    opened = open_report(report, reporter_dek(report, secret))
    return ReporterCase(
        reference=report.reference,
        received_on=report.received_on,
        answers=opened.answers,
        attachments=opened.attachments,
        conversation=opened.conversation,
    )


def reporter_dek(report: Report, secret: bytes) -> bytes:
    """The report's key from the reporter's wrap, checked against the report's key commitment
    (IntegrityError when a database writer replaced the wrap or the key)."""
    dek = unwrap_dek_for_reporter(report.reporter_wrap, secret, report.public_id)
    check_key(report, dek)
    return dek



def add_message(
    db: Session,
    report: Report,
    dek: bytes,
    text: str,
    *,
    from_reporter: bool,
    signer: Signer,
    reviewer_id: int | None = None,
    attachments: list[StagedAttachment] = (),
) -> Message:
    """Seal, sign and store one message (and any files sent with it). Used by both interfaces: the
    reporter host signs with its key, the triage host binds with its own (portal.reports.integrity)."""
    public_id = os.urandom(16)
    sealed = seal_record(dek, report.public_id, "message", MessageBody(text).to_json(), public_id)
    return store_sealed_message(db, report, public_id, sealed, from_reporter=from_reporter, signer=signer,
                                reviewer_id=reviewer_id, attachments=attachments)


def store_sealed_message(
    db: Session,
    report: Report,
    public_id: bytes,
    sealed_body: bytes,
    *,
    from_reporter: bool,
    signer: Signer,
    reviewer_id: int | None = None,
    attachments: list[StagedAttachment] = (),
) -> Message:
    """Store a message sealed by the caller (the server, or the reporter's browser), at the next
    position of the conversation, signed with its author, position and files."""
    if len(public_id) != 16 or len(sealed_body) < 30 or sealed_body[:2] != b"\x01\x01":
        raise SubmissionError(_("The encrypted message was incomplete. Please send it again."))
    if db.scalar(select(Message.id).where(Message.public_id == public_id)) is not None:
        raise SubmissionError(_("This message has already been received."))
    # The queue's signals (Message): unread until the handler opens it; after closure until someone decides.
    message = Message(public_id=public_id, from_reporter=from_reporter, reviewer_id=reviewer_id, sent_on=today(),
                      seq=next_position(db, report), sealed_body=sealed_body, unread=from_reporter,
                      after_closure=from_reporter and report.status_for_reporter == ReportStatus.CLOSED)
    # Signed before the row is written: the reporter host's role may insert a message, never update one.
    sign_message(report, message, [FileEntry.of(s.attachment_id, s.sealed_meta) for s in attachments], signer)
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
