"""Safe copies of evidence: made once per file, in the sandbox, kept encrypted beside the original.

A reviewer asks for a safe copy of one attachment; the original is decrypted in this
worker's memory and handed to `portal.evidence.make_safe_copy`, which parses it only in a
confined child process (PDF pages to pixels, images from pixels, Office files without
people, comments or macros). The copy is STREAM-encrypted under the report's key with its
own id, its details (type, pages, what was removed) sealed as "safe-copy-meta", and every
later reviewer downloads that copy without converting again. The original is never changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from portal.blobs import BlobWriter, delete_blob
from portal.crypto import CryptoError
from portal.crypto.envelope import open_record, seal_record
from portal.crypto.errors import IntegrityError
from portal.crypto.stream import StreamEncryptor
from portal.evidence import Converted, Refused, describe_removed, make_safe_copy
from portal.reports.models import Attachment, Report, SafeCopy
from portal.reports.service import decrypt_blob, open_attachment_meta
from portal.triage import audit
from portal.triage.context import Actor, Context, NotFound

EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
}


def stream_id(copy_id: bytes) -> bytes:
    """The id a safe copy's STREAM is bound to: derived from, never equal to, its blob id, so a
    record pointed at an original's blob (which is bound to the original's own id) fails to open."""
    return hashlib.sha256(b"portal/v1/safe-copy-stream" + copy_id).digest()[:16]


@dataclass(frozen=True)
class SafeCopyInfo:
    """What the report page says about a safe copy: its type, size, pages and what was removed."""

    content_type: str
    size: int
    pages: int
    removed: tuple[str, ...]
    of: str = ""  # the attachment id (hex) it is a copy of: a record moved to another file fails
    readable: bool = True

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.content_type, "bin")

    @property
    def removed_sentence(self) -> str:
        return describe_removed(list(self.removed))

    def to_json(self) -> bytes:
        return json.dumps(
            {"of": self.of, "type": self.content_type, "size": self.size, "pages": self.pages, "removed": list(self.removed)}
        ).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> SafeCopyInfo:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("removed"), list):
            raise ValueError("safe copy details malformed")
        return cls(str(data.get("type", "")), int(data.get("size", 0)), int(data.get("pages", 0)),
                   tuple(str(r) for r in data["removed"]), str(data.get("of", "")))


def infos(report: Report, dek: bytes) -> dict[str, SafeCopyInfo]:
    """attachment id (hex) -> its safe copy's details, for every file of the report that has one."""
    found = {}
    for attachment in report.attachments:
        if attachment.safe_copy is not None:
            found[attachment.public_id.hex()] = _open_info(dek, report, attachment)
    return found


def _open_info(dek: bytes, report: Report, attachment: Attachment) -> SafeCopyInfo:
    """The copy's details, unreadable when they do not open or belong to another file."""
    copy = attachment.safe_copy
    try:
        info = SafeCopyInfo.from_json(open_record(dek, report.public_id, "safe-copy-meta", copy.sealed_meta, copy.public_id))
    except (CryptoError, ValueError):
        info = None
    if info is None or info.of != attachment.public_id.hex():
        return SafeCopyInfo("", 0, 0, (), readable=False)
    return info


def make(ctx: Context, actor: Actor, report: Report, attachment: Attachment, dek: bytes) -> SafeCopyInfo | Refused:
    """Make (once) and store the safe copy of one attachment the actor may read; audited either way.

    A refusal (a bomb, a type that cannot be converted, a damaged file) is returned, not raised,
    so that its audit entry is kept; the reviewer is told why and can still take the original.
    """
    attachment_hex = attachment.public_id.hex()
    replaced = False
    if attachment.safe_copy is not None:
        existing = _open_info(dek, report, attachment)
        if existing.readable:
            return existing
        _discard(ctx, attachment)  # altered or damaged after it was made: make it again
        replaced = True
    original = b"".join(decrypt_blob(ctx.db, report, dek, attachment.public_id))
    result = make_safe_copy(original)
    del original
    if isinstance(result, Refused):
        audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "attachment.safe-copy-refused", report.reference,
                     attachment=attachment_hex[:32], seconds=round(result.seconds, 1))
        return result
    info = _store(ctx, report, attachment, dek, result)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "attachment.safe-copy-made", report.reference,
                 attachment=attachment_hex[:32], removed=len(result.removed), seconds=round(result.seconds, 1),
                 replaced_unreadable=replaced)
    return info


def _discard(ctx: Context, attachment: Attachment) -> None:
    blob_id = attachment.safe_copy.public_id
    attachment.safe_copy = None
    ctx.db.flush()
    delete_blob(ctx.db, blob_id)


def _store(ctx: Context, report: Report, attachment: Attachment, dek: bytes, result: Converted) -> SafeCopyInfo:
    copy_id = os.urandom(16)
    writer = BlobWriter(ctx.db, copy_id, attached=True)
    encryptor = StreamEncryptor(dek, report.public_id, stream_id(copy_id), writer)
    view = memoryview(result.data)
    for start in range(0, len(view), 1 << 20):
        encryptor.write(view[start : start + (1 << 20)])
    encryptor.finish()
    writer.close()
    info = SafeCopyInfo(result.content_type, len(result.data), result.pages, tuple(result.removed), attachment.public_id.hex())
    attachment.safe_copy = SafeCopy(
        public_id=copy_id,
        sealed_meta=seal_record(dek, report.public_id, "safe-copy-meta", info.to_json(), copy_id),
        ciphertext_bytes=writer.size,
    )
    ctx.db.flush()
    return info


def download(ctx: Context, actor: Actor, report: Report, attachment: Attachment, dek: bytes) -> tuple[object, str]:
    """(chunks, file name) of a stored safe copy; NotFound until one has been made. Audited."""
    copy = attachment.safe_copy
    if copy is None:
        raise NotFound
    info = _open_info(dek, report, attachment)
    if not info.readable:
        raise IntegrityError("the safe copy's details do not open: it was altered or damaged")
    chunks = decrypt_blob(ctx.db, report, dek, copy.public_id, stream_id(copy.public_id))
    stem = open_attachment_meta(dek, report, attachment).safe_name.stem
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "attachment.downloaded", report.reference,
                 attachment=attachment.public_id.hex(), copy="safe")
    return chunks, f"safe-copy-{stem}.{info.extension}"
