"""A case as the reporter host can give it to a JavaScript follow-up: sealed records only.

The reporter host holds no key to a format 2 case (docs/crypto.md, "Receipt format v2"),
so it hands the browser what is stored, as stored: the reporter's wrap of the report key,
the sealed report, the sealed messages and each attachment's sealed details, size and
ciphertext. `static/js/case.js` opens and checks them on the device.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

from sqlalchemy.orm import Session

from portal.blobs.io import BlobReader
from portal.reports.models import Report

READ_BYTES = 1 << 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sealed_case(report: Report) -> dict:
    """The JSON body of /follow-up/case.json. Dates are days, as everywhere on this side."""
    message_ids = {m.id: m.public_id.hex() for m in report.messages}
    return {
        "version": 1,
        "report_id": report.public_id.hex(),
        "reporter_wrap": _b64(report.reporter_wrap),
        "status": report.status_for_reporter.label,
        "key_commitment": _b64(report.key_commitment) if report.key_commitment else None,  # checked after unwrapping
        "received_on": report.received_on.isoformat(),
        "sealed_report": _b64(report.sealed_report),
        "messages": [
            {"id": m.public_id.hex(), "from_reporter": m.from_reporter, "sent_on": m.sent_on.isoformat(),
             "sealed_body": _b64(m.sealed_body)}
            for m in report.messages
        ],
        "attachments": [
            {"id": a.public_id.hex(), "message_id": message_ids.get(a.message_id) if a.message_id else None,
             "from_reporter": a.from_reporter, "sealed_meta": _b64(a.sealed_meta), "ciphertext_bytes": a.ciphertext_bytes}
            for a in report.attachments
        ],
    }


def ciphertext_chunks(db: Session, blob_id: bytes) -> Iterator[bytes]:
    """An attachment's STREAM ciphertext as stored; the browser verifies and decrypts it."""
    reader = BlobReader(db, blob_id)
    while chunk := reader.read(READ_BYTES):
        yield chunk
