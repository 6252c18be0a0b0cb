"""What goes into a lead's referral bundle: the lead's choices checked against the report, and the
content opened in the lead's session. The bundle itself (format, manifest, sealing to the body's
key) is portal.referrals.bundles: this module holds no cryptography of its own.

Always included: the report as the reporter wrote it, the whole conversation, and the report's
audit history (an excerpt of the chain, with each entry's hash). Included when the lead ticks
them: internal notes, original files, safe copies.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.crypto import CryptoError
from portal.crypto.envelope import open_record
from portal.referrals.bodies import BodyKey
# BUNDLE-IMPORT
from portal.reports.answers import MessageBody
from portal.reports.models import Attachment, InternalNote, Report
from portal.reports.service import decrypt_attachment, decrypt_blob, open_attachment_meta
from portal.triage import audit, internal
from portal.triage.context import ActionError, Actor, Context
from portal.triage.safe_copies import stream_id

MAX_CHOSEN = 500


@dataclass(frozen=True)
class Chosen:
    notes: list[InternalNote]
    originals: list[Attachment]
    safe_copies: list[Attachment]


def _unique_hex(values: list[str], what: str) -> list[bytes]:
    if len(values) > MAX_CHOSEN:
        raise ActionError(f"Choose at most {MAX_CHOSEN} {what}.")
    found = []
    for value in values:
        try:
            raw = bytes.fromhex(value) if len(value) == 32 else b""
        except ValueError:
            raw = b""
        if len(raw) != 16:
            raise ActionError(f"Choose {what} from the list.")
        if raw not in found:
            found.append(raw)
    return found


def choose(report: Report, note_ids: list[str], originals: list[str], safe_copies: list[str]) -> Chosen:
    """The notes and files the lead ticked, each one of this report's (ActionError otherwise)."""
    notes = {n.public_id: n for n in report.notes}
    files = {a.public_id: a for a in report.attachments}
    chosen_notes = [notes.get(i) for i in _unique_hex(note_ids, "notes")]
    chosen_originals = [files.get(i) for i in _unique_hex(originals, "files")]
    chosen_copies = [files.get(i) for i in _unique_hex(safe_copies, "safe copies")]
    if None in chosen_notes:
        raise ActionError("Choose notes from the list: one of them is not a note on this report.")
    if None in chosen_originals or None in chosen_copies:
        raise ActionError("Choose files from the list: one of them is not a file of this report.")
    if any(a.safe_copy is None for a in chosen_copies):
        raise ActionError("One of the files chosen has no safe copy. Make it on the report page first, or send the original.")
    return Chosen(chosen_notes, chosen_originals, chosen_copies)


def _note_text(key: bytes, report: Report, note: InternalNote) -> str:
    try:
        return MessageBody.from_json(internal.open_internal(key, report, "note", note.sealed_body, note.public_id)).text
    except (CryptoError, ValueError) as exc:
        raise ActionError("One of the notes chosen could not be decrypted (it was damaged or altered): leave it out.") from exc


def assemble(ctx: Context, actor: Actor, report: Report, dek: bytes, internal_key: bytes, key: BodyKey,
             note_ids: list[str], originals: list[str], safe_copies: list[str]):
    """The sealed bundle for `key`'s body, from the lead's choices."""
    chosen = choose(report, note_ids, originals, safe_copies)
    raise NotImplementedError(chosen)  # replaced by the call to build_referral_bundle below
