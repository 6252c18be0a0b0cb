"""Append-only, hash-chained audit log of every reviewer action.

entry_hash = HMAC-SHA256(audit key, prev_hash || canonical JSON of the entry).
The key lives in the triage instance directory, so someone who can write to the
database but not read that key cannot re-forge the chain after an edit.
`verify_chain` (the `portal audit verify` command) detects an edited, deleted,
inserted or reordered entry. The application has no code path that updates or
deletes an entry; on PostgreSQL a trigger refuses it as well (migrations).

Entries never hold report content: only who, what, which report (reference),
when, and non-content details (a category key, a route, a reason code).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, Integer, LargeBinary, String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.db import Base

GENESIS = b"\x00" * 32
HEAD_INFO = "portal.audit_head"  # Session.info: the head this transaction appended, checkpointed after commit


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))  # reviewer login, or "system" / "cli"
    action: Mapped[str] = mapped_column(String(48), index=True)
    report_ref: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    @property
    def label(self) -> str:
        """What a report's history says for this entry, in the reader's language."""
        if self.action == "attachment.downloaded":
            safe = json.loads(self.detail or "{}").get("copy") == "safe"
            return str(_l("safe copy downloaded") if safe else _l("original file downloaded"))
        known = HISTORY_LABELS.get(self.action)
        if known is not None:
            return str(known)
        return self.action.removeprefix("report.").replace("-", " ").replace(".", " ")


# What a report's history shows for each action, translated (others: the action's own name, in English).
HISTORY_LABELS = {
    "access.granted": _l("access granted"),
    "access.revoked": _l("access revoked"),
    "access.removed-for-conflict": _l("access removed for conflict"),
    "attachment.safe-copy-made": _l("attachment safe copy made"),
    "attachment.safe-copy-refused": _l("attachment safe copy refused"),
    "attachment.unreadable": _l("file failed verification (altered or damaged)"),
    "link.confirmed": _l("link confirmed"),
    "link.rejected": _l("link rejected"),
    "referral.acknowledged": _l("referral acknowledged"),
    "referral.downloaded": _l("referral downloaded"),
    "referral.outcome-recorded": _l("referral outcome recorded"),
    "report.altered": _l("integrity check failed: report shown as altered"),
    "report.referred": _l("referred"),
    "report.routed": _l("routed"),
    "report.routed-exported": _l("routed exported"),
    "report.acknowledged": _l("acknowledged"),
    "report.assigned": _l("assigned"),
    "report.categorised": _l("categorised"),
    "report.closed": _l("closed"),
    "report.closure-approved": _l("closure approved"),
    "report.closure-refused": _l("closure refused"),
    "report.closure-requested": _l("closure requested"),
    "report.escalated": _l("escalated"),
    "report.marked-junk": _l("marked junk"),
    "report.messaged": _l("messaged"),
    "report.new-information-reviewed": _l("new information reviewed"),
    "report.note-added": _l("note added"),
    "report.quarantined": _l("quarantined"),
    "report.recovered": _l("recovered"),
    "report.reopened": _l("reopened"),
    "report.screened": _l("screened"),
    "report.screening-retried": _l("screening retried"),
    "report.unmarked-junk": _l("unmarked junk"),
    "report.viewed": _l("viewed"),
    "subject.added": _l("subject added"),
    "subject.removed": _l("subject removed"),
}


def _canonical(seq: int, occurred_at: dt.datetime, actor: str, action: str, report_ref: str | None, detail: str) -> bytes:
    return json.dumps(
        [seq, occurred_at.isoformat(timespec="seconds"), actor, action, report_ref, detail],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")


def _hash(key: bytes, prev: bytes, body: bytes) -> bytes:
    return hmac.new(key, prev + body, hashlib.sha256).digest()


def record(db: Session, key: bytes, actor: str, action: str, report_ref: str | None = None, **detail) -> AuditEntry:
    """Append one entry in the caller's transaction.

    The head of the chain is read only once this transaction holds the right to append, so two
    concurrent transactions cannot both chain onto the same previous entry: on PostgreSQL the
    table is locked; on SQLite, whose driver starts a transaction only at the first write (so a
    plain SELECT would read outside it, and a stale head would fail on the unique `seq`), the
    transaction is begun IMMEDIATE here, taking the write lock (waiting up to busy_timeout),
    unless an earlier write in it already holds that lock.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))
    else:
        driver = db.connection().connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN IMMEDIATE")
    last_seq, prev = head(db)
    seq = last_seq + 1
    occurred_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    detail_json = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    body = _canonical(seq, occurred_at, actor, action, report_ref, detail_json)
    entry = AuditEntry(seq=seq, occurred_at=occurred_at, actor=actor, action=action, report_ref=report_ref,
                       detail=detail_json, prev_hash=prev, entry_hash=_hash(key, prev, body))
    db.add(entry)
    db.flush()
    db.info[HEAD_INFO] = (seq, entry.entry_hash)  # portal.triage.checkpoints signs it once committed
    return entry


def head(db: Session) -> tuple[int, bytes]:
    """The chain's newest (seq, entry_hash), or (0, GENESIS) for an empty log."""
    last = db.execute(select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return (last[0], last[1]) if last else (0, GENESIS)


@dataclass
class Verification:
    ok: bool
    entries: int
    problem: str = ""
    head_seq: int = 0
    head_hash: bytes = GENESIS


def verify_chain(db: Session, key: bytes, expected: Mapping[int, bytes] | None = None) -> Verification:
    """Walk the chain from entry 1; `expected` maps sequence numbers to the hashes that a
    checkpoint (or an operator's record) says those entries had."""
    expected = expected or {}
    prev = GENESIS
    expected_seq = 1
    count = 0
    for entry in db.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
        count += 1
        if entry.seq != expected_seq:
            return Verification(False, count, f"entry {expected_seq} is missing (found {entry.seq})")
        if not hmac.compare_digest(entry.prev_hash, prev):
            return Verification(False, count, f"entry {entry.seq} does not follow entry {entry.seq - 1}")
        body = _canonical(entry.seq, entry.occurred_at, entry.actor, entry.action, entry.report_ref, entry.detail)
        if not hmac.compare_digest(entry.entry_hash, _hash(key, prev, body)):
            return Verification(False, count, f"entry {entry.seq} was altered")
        if entry.seq in expected and not hmac.compare_digest(entry.entry_hash, expected[entry.seq]):
            return Verification(False, count, f"entry {entry.seq} is not the entry {entry.seq} that was checkpointed: "
                                "the log was rewritten or the database replaced")
        prev = entry.entry_hash
        expected_seq += 1
    head_seq = expected_seq - 1
    beyond = [seq for seq in expected if seq > head_seq]
    if beyond:
        return Verification(False, count, f"the log ends at entry {head_seq}, but entry {max(beyond)} was checkpointed: "
                            "entries were deleted from the end or the database was rolled back to an older copy",
                            head_seq, prev)
    return Verification(True, count, "", head_seq, prev)


def history(db: Session, report_ref: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.report_ref == report_ref).order_by(AuditEntry.seq)))
