"""A report sealed in the reporter's browser: reading the posted fields and storing them.

The server opens nothing here (that is the point of the browser path): it checks sizes, formats
and headers, holds the reviewers' wraps for screening, and stores what it was given
(docs/crypto.md, "Integrity", says what it can and cannot check).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.crypto import CryptoError
from portal.crypto.integrity import COMMITMENT_LEN
from portal.crypto.keys import INNER_WRAP_LEN, check_reporter_wrap_v2
from portal.crypto.receipt import LOOKUP_TOKEN_LEN
from portal.crypto.screening import MAX_SUBJECTS_BYTES
from portal.deadlines import Deadlines
from portal.reports.models import Report
from portal.reports.recipients import IndependentBody, screening_key
from portal.reports.service import ReporterKeys, SubmissionError, store_report
from portal.reports.upload import ParsedUpload, StagedAttachment


@dataclass
class BrowserSubmission:
    report_id: bytes
    token: bytes  # the lookup token: the receipt secret never leaves the browser
    sealed_report: bytes
    reporter_wrap: bytes  # complete (alg 0x15): made in the browser from the reporter root
    key_commitment: bytes  # HMAC(DEK, label || report id), made in the browser (portal.crypto.integrity)
    recipient_inners: dict[str, bytes]
    subjects_inner: bytes | None
    attachments: list[StagedAttachment]
    urgent: bool
    screening_fingerprint: str = ""  # the screening key the browser sealed the subject list to
    # The reporter chose "only the independent body": the browser wrapped to the body and the
    # recovery key only, and says so in the sealed subject list too (screening honours either).
    only_independent: bool = False


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
        key_commitment=sealed_field(fields.get("key_commitment")),
        recipient_inners={k.removeprefix("recipient_inner."): sealed_field(v) for k, v in fields.items()
                          if k.startswith("recipient_inner.")},
        # None (not sent): stored without a subject list, and screening quarantines it.
        subjects_inner=sealed_field(fields.get("subjects_inner")) if fields.get("subjects_inner") else None,
        attachments=attachments,
        urgent=fields.get("urgent") == "yes",
        screening_fingerprint=fields.get("screening_fingerprint", "")[:32],
        only_independent=fields.get("only_independent") == "yes",
    )


def submit_from_browser(db: Session, keys: ReporterKeys, sub: BrowserSubmission, deadlines: Deadlines,
                        body: IndependentBody | None = None) -> Report:
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
    if len(sub.key_commitment) != COMMITMENT_LEN:  # the server cannot open any wrap here: docs/crypto.md, "Integrity"
        raise SubmissionError(_("The encrypted report was incomplete. Please send it again."))
    if sub.subjects_inner is not None and not 48 <= len(sub.subjects_inner) <= 48 + MAX_SUBJECTS_BYTES:
        raise SubmissionError(_("The encrypted report was incomplete. Please send it again."))
    screening = screening_key(db)
    if sub.screening_fingerprint and screening is not None and sub.screening_fingerprint != screening.fingerprint:
        raise SubmissionError(_("The portal's keys have changed since this page was loaded. Reload the page and send again."))
    return store_report(
        db,
        keys,
        report_id=sub.report_id,
        token=sub.token,
        sealed_report=sub.sealed_report,
        reporter_wrap=sub.reporter_wrap,
        commitment=sub.key_commitment,
        recipient_inners=sub.recipient_inners,
        subjects_inner=sub.subjects_inner,
        attachments=sub.attachments,
        urgent=sub.urgent,
        in_browser=True,
        deadlines=deadlines,
        body=body,
        only_independent=sub.only_independent,
    )
