"""Who a new report is sealed to: the intake reviewers, the recovery key(s), and the screening key.

Reviewers' wraps are held (sealed to the screening key) until screening releases them; the
recovery key's wrap is stored as it is, so break-glass recovery never depends on screening.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keys import RecipientPublicKey
from portal.triage.models import RecoveryKey, Reviewer, ScreeningKey


@dataclass
class Recipient:
    fingerprint: str
    public_key: RecipientPublicKey
    held: bool = True  # a reviewer: the wrap waits for screening (False: the recovery key)


def intake_recipients(db: Session) -> list[Recipient]:
    """Who every new report is wrapped to: the intake reviewers and the recovery key(s)."""
    reviewers = db.execute(select(Reviewer.key_fingerprint, Reviewer.public_key).where(
        Reviewer.active.is_(True), Reviewer.receives_new_reports.is_(True))).all()
    recovery = db.execute(select(RecoveryKey.fingerprint, RecoveryKey.public_key).where(RecoveryKey.active.is_(True))).all()
    return ([Recipient(fp, RecipientPublicKey.from_bytes(pk)) for fp, pk in reviewers]
            + [Recipient(fp, RecipientPublicKey.from_bytes(pk), held=False) for fp, pk in recovery])


def screening_key(db: Session) -> Recipient | None:
    """The screening key the triage host published (portal.triage.screening.publish_key), if any."""
    row = db.execute(select(ScreeningKey.fingerprint, ScreeningKey.public_key).where(ScreeningKey.active.is_(True))
                     .order_by(ScreeningKey.id.desc()).limit(1)).first()
    return None if row is None else Recipient(row[0], RecipientPublicKey.from_bytes(row[1]), held=False)
