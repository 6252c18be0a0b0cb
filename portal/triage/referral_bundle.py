"""What goes into a lead's referral bundle: the lead's choices checked against the report, and the
content opened in the lead's session. The bundle itself (format, manifest, sealing to the body's
key) is portal.referrals.bundles: this module holds no cryptography of its own.

Always included: the report as the reporter wrote it, the whole conversation, and the report's
audit history (an excerpt of the chain, with each entry's hash). Included when the lead ticks
them: internal notes, original files, safe copies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import BinaryIO

from flask_babel import gettext as _
from sqlalchemy import select

from portal.crypto import CryptoError
from portal.referrals.bodies import BodyKey
from portal.referrals.bundles import BundleFile, write_referral_bundle
from portal.referrals.contents import BundleMessage, BundleNote
from portal.reports.answers import MessageBody
from portal.reports.models import Attachment, InternalNote, Report
from portal.reports.service import decrypt_attachment, decrypt_blob, open_attachment_meta, open_report
from portal.triage import audit, internal, safe_copies
from portal.triage.context import ActionError, Actor, Context
from portal.triage.models import Reviewer

MAX_CHOSEN = 500


@dataclass(frozen=True)
class Chosen:
    notes: list[InternalNote]
    originals: list[Attachment]
    safe_copies: list[Attachment]


def _unique_hex(values: list[str]) -> list[bytes]:
    if len(values) > MAX_CHOSEN:
        raise ActionError(_("Choose at most %(n)s items.", n=MAX_CHOSEN))
    found = []
    for value in values:
        try:
            raw = bytes.fromhex(value) if len(value) == 32 else b""
        except ValueError:
            raw = b""
        if len(raw) != 16:
            raise ActionError(_("Choose notes and files from the lists."))
        if raw not in found:
            found.append(raw)
    return found


def choose(report: Report, note_ids: list[str], originals: list[str], safe_copies: list[str]) -> Chosen:
    """The notes and files the lead ticked, each one of this report's (ActionError otherwise)."""
    notes = {n.public_id: n for n in report.notes}
    files = {a.public_id: a for a in report.attachments}
    chosen_notes = [notes.get(i) for i in _unique_hex(note_ids)]
    chosen_originals = [files.get(i) for i in _unique_hex(originals)]
    chosen_copies = [files.get(i) for i in _unique_hex(safe_copies)]
    if None in chosen_notes:
        raise ActionError(_("Choose notes from the list: one of them is not a note on this report."))
    if None in chosen_originals or None in chosen_copies:
        raise ActionError(_("Choose files from the list: one of them is not a file of this report."))
    if any(a.safe_copy is None for a in chosen_copies):
        raise ActionError(_("One of the files chosen has no safe copy. Make it on the report page first, or send the original."))
    return Chosen(chosen_notes, chosen_originals, chosen_copies)


def _note_text(key: bytes, report: Report, note: InternalNote) -> str:
    try:
        return MessageBody.from_json(internal.open_internal(key, report, "note", note.sealed_body, note.public_id)).text
    except (CryptoError, ValueError) as exc:
        raise ActionError(_("One of the notes chosen could not be decrypted (it was damaged or altered): leave it out.")) from exc


def _message_text(text: str | None) -> str:
    return text if text is not None else _("[This message could not be decrypted: it was damaged or altered after it was sent.]")


def _files(ctx: Context, report: Report, dek: bytes, chosen: Chosen) -> list[BundleFile]:
    files = []
    for attachment in chosen.originals:
        meta = open_attachment_meta(dek, report, attachment)
        if not meta.readable:
            raise ActionError(_("One of the files chosen could not be decrypted (it was damaged or altered): leave it out."))
        files.append(BundleFile(str(meta.safe_name), meta.type or "application/octet-stream",
                                decrypt_attachment(ctx.db, report, dek, attachment), "original"))
    copies = safe_copies.infos(report, dek) if chosen.safe_copies else {}
    for attachment in chosen.safe_copies:
        info, meta = copies.get(attachment.public_id.hex()), open_attachment_meta(dek, report, attachment)
        if info is None or not info.readable or not meta.readable:
            raise ActionError(_("One of the safe copies chosen could not be decrypted: make it again, or leave it out."))
        copy_id = attachment.safe_copy.public_id
        files.append(BundleFile(f"safe-copy-{meta.safe_name.stem}.{info.extension}", info.content_type,
                                decrypt_blob(ctx.db, report, dek, copy_id, safe_copies.stream_id(copy_id)), "safe-copy"))
    return files


def _audit_excerpt(ctx: Context, report: Report) -> list[dict]:
    """The report's entries of the hash-chained log, each with its hash (who did what, when: no content)."""
    return [{"seq": e.seq, "occurred_at": e.occurred_at.isoformat(timespec="seconds"), "actor": e.actor, "action": e.action,
             "detail": json.loads(e.detail or "{}"), "entry_hash": e.entry_hash.hex()}
            for e in audit.history(ctx.db, report.reference)]


def _case(report: Report) -> dict:
    return {"stage": report.stage, "category": report.category, "risk_flags": [f for f in report.risk_flags.split(",") if f],
            "priority": report.priority, "escalation_route": report.escalation_route,
            "mandatory_referral": report.referral_required,
            "referral_due_on": report.referral_due_on.isoformat() if report.referral_due_on else None}


def write(ctx: Context, actor: Actor, report: Report, dek: bytes, internal_key: bytes, key: BodyKey, chosen: Chosen,
          sink: BinaryIO) -> str:
    """Write the bundle sealed to `key` into `sink` as it is made; returns its SHA-256 (hex).

    Decryption failures are raised before the first byte is written (ActionError): nothing half-made."""
    names = dict(ctx.db.execute(select(Reviewer.id, Reviewer.display_name)).all())
    opened = open_report(report, dek, names)
    messages = [BundleMessage(m.from_reporter, m.sent_on, _message_text(m.text)) for m in opened.conversation]
    notes = [BundleNote(names.get(n.author_id, "Reviewer"), n.written_on, _note_text(internal_key, report, n)) for n in chosen.notes]
    files = _files(ctx, report, dek, chosen)
    try:
        return write_referral_bundle(sink, key, reference=report.reference, received_on=report.received_on,
                                     answers=opened.answers, messages=messages, notes=notes, files=files,
                                     audit_excerpt=_audit_excerpt(ctx, report), case=_case(report),
                                     referred_by=actor.reviewer.login)
    except CryptoError as exc:  # a file that fails verification as it is streamed in
        raise ActionError(_("One of the files chosen failed verification (it was damaged or altered): leave it out.")) from exc
