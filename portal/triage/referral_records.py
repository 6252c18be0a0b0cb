"""A referral of one report to a receiving body: the stored bundle and its status.

The bundle (portal.referrals.bundles) is ciphertext sealed to the body's registered key: nobody
at the portal can open it, and it is kept in the blob store so that a lead can download it again
(a lost e-mail, a second copy for the body). Its SHA-256 is here and in the audit log. The
outcome the body reports is case content, so it is sealed under the report's internal key.
"""

from __future__ import annotations

import datetime as dt
import enum

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import today
from portal.db import Base


class ReferralStatus(enum.StrEnum):
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    OUTCOME = "outcome"


# What the report page says of one referral, and what the queue says of a report's newest one.
STATUS_LABELS = {
    ReferralStatus.SENT: _l("Sent"),
    ReferralStatus.ACKNOWLEDGED: _l("Acknowledged by the body"),
    ReferralStatus.OUTCOME: _l("Outcome received"),
}
QUEUE_LABELS = {
    ReferralStatus.SENT: _l("Referred"),
    ReferralStatus.ACKNOWLEDGED: _l("Referred: acknowledged"),
    ReferralStatus.OUTCOME: _l("Referred: outcome received"),
}


class Referral(Base):
    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    body_slug: Mapped[str] = mapped_column(String(64))
    body_fingerprint: Mapped[str] = mapped_column(String(32))  # the body key the bundle is sealed to
    referred_by: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"), nullable=True)
    sent_on: Mapped[dt.date] = mapped_column(Date, default=today)
    bundle_blob_id: Mapped[bytes] = mapped_column(LargeBinary(16))
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    bundle_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ReferralStatus.SENT)
    acknowledged_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    outcome_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    public_id: Mapped[bytes] = mapped_column(LargeBinary(16))  # binds the sealed outcome to this referral
    # The internal key's "note" sealing (portal.triage.internal), record id `public_id`.
    sealed_outcome: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
