"""Building the case bundle a receiving body gets (portal.crypto.bundle; docs/crypto.md, "Case bundles").

Two kinds:

* a **referral** (`build_referral_bundle`): a lead's session has decrypted the report; the bundle
  holds the content the lead chose, sealed to the body's key;
* a **routed** report (`build_routed_bundle`): a report no lead can read (it was routed to the body
  at screening); the bundle holds its stored ciphertexts and the body's own key wrap, so it is made
  without any plaintext or key of the portal's.

Both open with `portal referral open BUNDLE --key FILE` on the body's machine, into the same layout
(portal.referrals.contents). The bundle's SHA-256 is what the audit log records for the referral.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.blobs.io import BlobReader
from portal.clock import today
from portal.crypto.bundle import KIND_REFERRAL, KIND_ROUTED, BundleWriter, Source
from portal.referrals.bodies import BodyKey
from portal.referrals.contents import BundleMessage, BundleNote, file_path, json_document, report_document, report_text
from portal.reports.answers import ReportAnswers
from portal.reports.models import KeyWrap, Report

VARIANTS = ("original", "safe-copy")
WRAP_PATH = "sealed/key-wrap.bin"
REPORT_PATH = "sealed/report.bin"


@dataclass(frozen=True)
class Bundle:
    data: bytes
    sha256: str  # hex SHA-256 of `data`: recorded in the audit log, and read to the body to compare


@dataclass(frozen=True)
class BundleFile:
    """One file the lead chose: an original attachment or its safe copy, already decrypted.

    `content` is bytes, a readable binary stream, or an iterable of byte chunks (such as
    portal.reports.service.decrypt_attachment's), read once, in chunks."""

    name: str
    media_type: str
    content: Source = field(repr=False)
    variant: str = "original"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}")


def write_referral_bundle(
    sink: BinaryIO,
    body: BodyKey,
    *,
    reference: str,
    received_on: dt.date,
    answers: ReportAnswers,
    messages: Sequence[BundleMessage] = (),
    notes: Sequence[BundleNote] = (),
    files: Iterable[BundleFile] = (),
    audit_excerpt: Sequence[Mapping[str, Any]] = (),
    case: Mapping[str, Any] | None = None,
    referred_by: str = "",
    created_on: dt.date | None = None,
) -> str:
    """`build_referral_bundle` writing to `sink` as it goes (for large files); returns the SHA-256."""
    writer = BundleWriter.to_recipient(sink, body.recipient(), KIND_REFERRAL)
    document = report_document(reference, received_on, answers, case or {})
    message_list = [message.to_json() for message in messages]
    file_list = list(files)
    listed = [{"path": file_path(i, f.name, f.variant), "name": f.name, "media_type": f.media_type, "variant": f.variant}
              for i, f in enumerate(file_list, start=1)]
    writer.add("report.json", json_document(document), type="report")
    writer.add("report.txt", report_text(document, message_list, listed).encode("utf-8"), type="report-text")
    writer.add("messages.json", json_document(message_list), type="messages", count=len(message_list))
    writer.add("notes.json", json_document([note.to_json() for note in notes]), type="notes", count=len(notes))
    writer.add("audit.json", json_document([dict(entry) for entry in audit_excerpt]), type="audit", count=len(audit_excerpt))
    for item, entry in zip(file_list, listed, strict=True):
        writer.add(entry["path"], item.content, type="file", name=item.name, media_type=item.media_type, variant=item.variant)
    return writer.finish({"reference": reference, "body": body.slug, "created_on": (created_on or today()).isoformat(), "referred_by": referred_by})


def build_referral_bundle(
    body: BodyKey,
    *,
    reference: str,
    received_on: dt.date,
    answers: ReportAnswers,
    messages: Sequence[BundleMessage] = (),
    notes: Sequence[BundleNote] = (),
    files: Iterable[BundleFile] = (),
    audit_excerpt: Sequence[Mapping[str, Any]] = (),
    case: Mapping[str, Any] | None = None,
    referred_by: str = "",
    created_on: dt.date | None = None,
) -> Bundle:
    """A lead's referral of one report to `body` (its registered key: portal.referrals.bodies.body_key).

    body           the body's BodyKey; the bundle is sealed to it and names its slug.
    reference      the report's reference; received_on the day it was received.
    answers        the reporter's answers, decrypted (portal.reports.answers.ReportAnswers).
    messages       the conversation to include, oldest first (BundleMessage: from_reporter, sent_on, text).
    notes          the internal notes the lead chose (BundleNote: author, written_on, text).
    files          the files the lead chose (BundleFile: name, media_type, content, variant
                   "original" or "safe-copy"); content is streamed through in chunks.
    audit_excerpt  the report's audit entries to include, as JSON-ready mappings.
    case           workflow details the lead includes (category, risk flags, route ...), JSON values.
    referred_by    the lead's login; created_on defaults to today (a date: no time of day, like
                   every date the portal keeps).

    The bundle is built in memory (`data`); `write_referral_bundle` writes to a file instead.
    """
    sink = io.BytesIO()
    digest = write_referral_bundle(sink, body, reference=reference, received_on=received_on, answers=answers,
                                   messages=messages, notes=notes, files=files, audit_excerpt=audit_excerpt,
                                   case=case, referred_by=referred_by, created_on=created_on)
    return Bundle(sink.getvalue(), digest)


def write_routed_bundle(sink: BinaryIO, db: Session, report_id: int, body: BodyKey, created_on: dt.date | None = None) -> str:
    """`build_routed_bundle` writing to `sink` as it goes; returns the SHA-256."""
    report = db.get(Report, report_id)
    if report is None:
        raise LookupError("no such report")
    wrap = db.scalar(select(KeyWrap.wrap).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == body.fingerprint))
    if wrap is None:
        raise LookupError("this report is not wrapped to the body's key")
    writer = BundleWriter.to_recipient(sink, body.recipient(), KIND_ROUTED)
    writer.add(WRAP_PATH, bytes(wrap), type="key-wrap", recipient=body.fingerprint)
    writer.add(REPORT_PATH, bytes(report.sealed_report), type="sealed-report")
    for index, message in enumerate(report.messages, start=1):
        writer.add(f"sealed/messages/{index:04d}.bin", bytes(message.sealed_body), type="sealed-message",
                   record_id=message.public_id.hex(), from_reporter=message.from_reporter, sent_on=message.sent_on.isoformat())
    for index, attachment in enumerate(report.attachments, start=1):
        record_id = attachment.public_id.hex()
        writer.add(f"sealed/attachments/{index:04d}.meta", bytes(attachment.sealed_meta), type="sealed-attachment-meta",
                   record_id=record_id)
        reader = BlobReader(db, attachment.public_id)
        try:
            writer.add(f"sealed/attachments/{index:04d}.stream", reader, type="sealed-attachment", record_id=record_id)
        finally:
            reader.close()
    return writer.finish({"reference": report.reference, "received_on": report.received_on.isoformat(),
                          "report_id": report.public_id.hex(), "body": body.slug, "created_on": (created_on or today()).isoformat()})


def build_routed_bundle(db: Session, report_id: int, body: BodyKey) -> Bundle:
    """A report routed to `body` (its `reports.id`), as it is stored: the sealed report, messages
    and attachments and the body's key_wraps entry. Needs no plaintext: any lead can export it for
    delivery although none can read it. Raises LookupError when the report has no wrap for the body."""
    sink = io.BytesIO()
    digest = write_routed_bundle(sink, db, report_id, body)
    return Bundle(sink.getvalue(), digest)
