"""Safe copies of evidence: made once per file, in the sandbox, kept encrypted beside the original.

A reviewer asks for a safe copy of one attachment; the original is decrypted in this
worker's memory and handed to `portal.evidence.make_safe_copy`, which parses it only in a
confined child process (PDF pages to pixels, images from pixels, Office files without
people, comments or macros). The copy is STREAM-encrypted under the report's key with its
own id, its details (type, pages, what was removed) sealed as "safe-copy-meta", and every
later reviewer downloads that copy without converting again. The original is never changed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from portal.blobs import BlobWriter
from portal.crypto import CryptoError
from portal.crypto.envelope import open_record, seal_record
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


@dataclass(frozen=True)
class SafeCopyInfo:
    """What the report page says about a safe copy: its type, size, pages and what was removed."""

    content_type: str
    size: int
    pages: int
    removed: tuple[str, ...]
    readable: bool = True

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.content_type, "bin")

    @property
    def removed_sentence(self) -> str:
        return describe_removed(list(self.removed))

    def to_json(self) -> bytes:
        return json.dumps(
            {"type": self.content_type, "size": self.size, "pages": self.pages, "removed": list(self.removed)}
        ).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> SafeCopyInfo:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("removed"), list):
            raise ValueError("safe copy details malformed")
        return cls(str(data.get("type", "")), int(data.get("size", 0)), int(data.get("pages", 0)),
                   tuple(str(r) for r in data["removed"]))


def infos(report: Report, dek: bytes) -> dict[str, SafeCopyInfo]:
    """attachment id (hex) -> its safe copy's details, for every file of the report that has one."""
    found = {}
    for attachment in report.attachments:
        if attachment.safe_copy is not None:
            found[attachment.public_id.hex()] = _open_info(dek, report, attachment.safe_copy)
    return found


def _open_info(dek: bytes, report: Report, copy: SafeCopy) -> SafeCopyInfo:
    try:
        return SafeCopyInfo.from_json(open_record(dek, report.public_id, "safe-copy-meta", copy.sealed_meta, copy.public_id))
    except (CryptoError, ValueError):
        return SafeCopyInfo("", 0, 0, (), readable=False)


def make(ctx: Context, actor: Actor, report: Report, attachment: Attachment, dek: bytes) -> SafeCopyInfo | Refused:
    """Make (once) and store the safe copy of one attachment the actor may read; audited either way.

    A refusal (a bomb, a type that cannot be converted, a damaged file) is returned, not raised,
    so that its audit entry is kept; the reviewer is told why and can still take the original.
    """
    attachment_hex = attachment.public_id.hex()
    if attachment.safe_copy is not None:
        return _open_info(dek, report, attachment.safe_copy)
    original = b"".join(decrypt_blob(ctx.db, report, dek, attachment.public_id))
    result = make_safe_copy(original)
    del original
    if isinstance(result, Refused):
        audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "attachment.safe-copy-refused", report.reference,
                     attachment=attachment_hex[:32], seconds=round(result.seconds, 1))
        return result
    info = _store(ctx, report, attachment, dek, result)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "attachment.safe-copy-made", report.reference,
                 attachment=attachment_hex[:32], removed=len(result.removed), seconds=round(result.seconds, 1))
    return info


def _store(ctx: Context, report: Report, attachment: Attachment, dek: bytes, result: Converted) -> SafeCopyInfo:
    copy_id = os.urandom(16)
    writer = BlobWriter(ctx.db, copy_id, attached=True)
    encryptor = StreamEncryptor(dek, report.public_id, copy_id, writer)
    view = memoryview(result.data)
    for start in range(0, len(view), 1 << 20):
        encryptor.write(view[start : start + (1 << 20)])
    encryptor.finish()
    writer.close()
    info = SafeCopyInfo(result.content_type, len(result.data), result.pages, tuple(result.removed))
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
    info = _open_info(dek, report, copy)
    chunks = decrypt_blob(ctx.db, report, dek, copy.public_id)
    stem = open_attachment_meta(dek, report, attachment).safe_name.stem
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "attachment.downloaded", report.reference,
                 attachment=attachment.public_id.hex(), copy="safe")
    return chunks, f"safe-copy-{stem}.{info.extension}"
