"""Each report's internal key: what reviewers write that the reporter must never read.

A report's DEK is wrapped to the reporter too (receipt code), so anything sealed under it is
readable by whoever holds the code and a database copy. Internal notes and the subject labels
reviewers add are sealed instead under a separate random *internal key*, wrapped only to the
report's recipients (its reviewers and the recovery key: one `key_wraps.internal_wrap` beside
each DEK wrap) and never to the reporter (docs/crypto.md, "Internal key").

The key is made on the triage host, the first time a reviewer's session needs it for a report
(`internal_key`): that session holds the DEK, so it also re-seals, there and then, every note and
label an older version sealed under the DEK. `upgrade_with_recovery_key` does the same for every
report at once with the offline recovery key (`portal keys upgrade-internal`).

    seal_internal / open_internal     one internal item (purpose "note" or "subject")
    internal_key                      a reviewer's (or the recovery key's) key to a report's items
    wrap_internal_key                 the internal key for one more recipient (access granted)
    rewrap_internal_key               the same, for a recipient's new key pair
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto import CryptoError
from portal.crypto.envelope import new_data_key, open_record, seal_record
from portal.crypto.keys import RecipientPrivateKey, RecipientPublicKey, unwrap_dek, wrap_dek
from portal.reports.models import KeyWrap, Report, SubjectIndex
from portal.triage.models import RecoveryKey, Reviewer

PURPOSES = {"note": "internal-note", "subject": "internal-subject"}
_BINDING = b"portal/v1/internal-key:"


def _bound_id(report: Report | bytes) -> bytes:
    """The 16-byte id an internal-key wrap is bound to: never the report id itself, so that a DEK
    wrap copied into `internal_wrap` (or the reverse) fails to open instead of passing for the other."""
    public_id = report if isinstance(report, bytes) else report.public_id
    return hashlib.sha256(_BINDING + public_id).digest()[:16]


def seal_internal(key: bytes, report: Report, purpose: str, plaintext: bytes, record_id: bytes) -> bytes:
    return seal_record(key, report.public_id, PURPOSES[purpose], plaintext, record_id)


def open_internal(key: bytes, report: Report, purpose: str, sealed: bytes, record_id: bytes) -> bytes:
    """The plaintext, or CryptoError (a damaged item, or one sealed under anything but this key)."""
    return open_record(key, report.public_id, PURPOSES[purpose], sealed, record_id)


def wrap_internal_key(key: bytes, recipient: RecipientPublicKey, report: Report) -> bytes:
    return wrap_dek(key, recipient, _bound_id(report))


def rewrap_internal_key(internal_wrap: bytes, old: RecipientPrivateKey, new: RecipientPublicKey, report_public_id: bytes) -> bytes:
    """The same internal key for a recipient's new key pair (portal.triage.accounts.replace_key_pair)."""
    bound = _bound_id(report_public_id)
    return wrap_dek(unwrap_dek(internal_wrap, old, bound), new, bound)


def _public_keys(db: Session, fingerprints: list[str]) -> dict[str, RecipientPublicKey]:
    rows = list(db.execute(select(Reviewer.key_fingerprint, Reviewer.public_key).where(Reviewer.key_fingerprint.in_(fingerprints))))
    rows += list(db.execute(select(RecoveryKey.fingerprint, RecoveryKey.public_key).where(RecoveryKey.fingerprint.in_(fingerprints))))
    return {fp: RecipientPublicKey.from_bytes(pk) for fp, pk in rows}


def internal_key(db: Session, report: Report, fingerprint: str, private: RecipientPrivateKey, dek: bytes) -> bytes:
    """This recipient's internal key to `report`, made (and older items moved under it) if the
    report has none yet. LookupError: the report has one, but not for this recipient."""
    mine = db.scalar(select(KeyWrap.internal_wrap).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == fingerprint))
    if mine is not None:  # the usual case: no lock taken
        return unwrap_dek(mine, private, _bound_id(report))
    # None yet for this key: lock the report's wraps, so that two sessions do not each make one.
    wraps = list(db.scalars(select(KeyWrap).where(KeyWrap.report_id == report.id).order_by(KeyWrap.id).with_for_update()))
    mine = next((w for w in wraps if w.recipient_fingerprint == fingerprint), None)
    if mine is None:
        raise LookupError("this report is not wrapped to that key")
    if mine.internal_wrap is not None:
        return unwrap_dek(mine.internal_wrap, private, _bound_id(report))
    if any(w.internal_wrap is not None for w in wraps):
        raise LookupError("the report's internal key was not wrapped to this key")
    key = new_data_key()
    publics = _public_keys(db, [w.recipient_fingerprint for w in wraps])
    for wrap in wraps:
        if wrap.recipient_fingerprint in publics:
            wrap.internal_wrap = wrap_internal_key(key, publics[wrap.recipient_fingerprint], report)
    _move_older_items(db, report, dek, key)
    db.flush()
    return key


def _move_older_items(db: Session, report: Report, dek: bytes, key: bytes) -> None:
    """Re-seal notes and reviewer-added labels that an older version sealed under the DEK."""
    for note in report.notes:
        try:
            plain = open_record(dek, report.public_id, "note", note.sealed_body, note.public_id)
        except CryptoError:
            continue  # damaged, or already internal: left as it is (a damaged note shows as unreadable)
        note.sealed_body = seal_internal(key, report, "note", plain, note.public_id)
    for row in db.scalars(select(SubjectIndex).where(SubjectIndex.report_id == report.id, SubjectIndex.sealed_label.is_not(None))):
        try:
            plain = open_record(dek, report.public_id, "subject", row.sealed_label, row.value[:16])
        except CryptoError:
            continue
        row.sealed_label = seal_internal(key, report, "subject", plain, row.value[:16])


def upgrade_with_recovery_key(db: Session, private: RecipientPrivateKey) -> int:
    """Give every report wrapped to this recovery key its internal key (moving older notes and
    labels under it); returns how many reports were upgraded. Runs where the key file is."""
    fingerprint = private.public_key().fingerprint
    pending = db.scalars(select(Report).join(KeyWrap, KeyWrap.report_id == Report.id)
                         .where(KeyWrap.recipient_fingerprint == fingerprint, KeyWrap.internal_wrap.is_(None)))
    done = 0
    for report in list(pending):
        wrap = db.scalar(select(KeyWrap.wrap).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == fingerprint))
        try:
            internal_key(db, report, fingerprint, private, unwrap_dek(wrap, private, report.public_id))
        except (CryptoError, LookupError):
            continue  # a damaged wrap, or a key made meanwhile by a reviewer without this one
        done += 1
    return done
