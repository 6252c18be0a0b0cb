"""A reporter's reply sealed in their browser, stored as it arrived (signed by the reporter host)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.crypto import CryptoError
from portal.crypto.envelope import open_record
from portal.reports.answers import AttachmentMeta
from portal.reports.browser_intake import browser_attachments, sealed_field
from portal.reports.integrity import Signer
from portal.reports.models import Report
from portal.reports.service import SubmissionError, open_text, store_sealed_message
from portal.reports.upload import ParsedUpload, StagedAttachment


def store_browser_reply(
    db: Session, report: Report, dek: bytes | None, parsed: ParsedUpload, max_text_chars: int, signer: Signer
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
    store_sealed_message(db, report, message_id, sealed, from_reporter=True, signer=signer, attachments=attachments)
    return attachments


def _meta_opens(dek: bytes, report_id: bytes, staged: StagedAttachment) -> bool:
    try:
        AttachmentMeta.from_json(open_record(dek, report_id, "attachment-meta", staged.sealed_meta, staged.attachment_id))
    except (CryptoError, ValueError):
        return False
    return True
