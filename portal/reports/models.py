"""Report tables. Content columns hold only sealed bytes (portal.crypto formats).

What is stored in clear, and why, is listed in docs/threat-model.md: the
reference, the day received, the coarse status, whether the reporter said
someone is at risk now, and workflow metadata set by reviewers. Never a time of
day, never anything about the reporter's connection.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base


class ReportStatus(str, enum.Enum):
    """What the reporter sees: deliberately coarse."""

    RECEIVED = "received"
    ASSESSING = "assessing"
    REFERRED = "referred"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {
            "received": "Received",
            "assessing": "Being assessed",
            "referred": "Referred for investigation",
            "closed": "Closed",
        }[self.value]


def today() -> dt.date:
    """Day granularity only: no stored timestamp can be matched to network logs."""
    return dt.datetime.now(dt.UTC).date()


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)  # bound into every ciphertext
    reference: Mapped[str] = mapped_column(String(16), unique=True)  # shown to reviewers
    lookup_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)  # HMAC(pepper, receipt secret)
    received_on: Mapped[dt.date] = mapped_column(Date, default=today, index=True)
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.RECEIVED.value, index=True)
    reporter_urgent: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    encrypted_in_browser: Mapped[bool] = mapped_column(Boolean, default=False)
    sealed_report: Mapped[bytes] = mapped_column(LargeBinary)
    reporter_wrap: Mapped[bytes] = mapped_column(LargeBinary)

    wraps: Mapped[list["KeyWrap"]] = relationship(back_populates="report", cascade="all, delete-orphan")
    messages: Mapped[list["Message"]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="Message.id"
    )
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="Attachment.id"
    )

    @property
    def coarse_status(self) -> ReportStatus:
        return ReportStatus(self.status)


class KeyWrap(Base):
    """The report's DEK wrapped to one recipient key (reviewer or recovery)."""

    __tablename__ = "key_wraps"
    __table_args__ = (UniqueConstraint("report_id", "recipient_fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    recipient_fingerprint: Mapped[str] = mapped_column(String(32), index=True)
    wrap: Mapped[bytes] = mapped_column(LargeBinary)

    report: Mapped[Report] = relationship(back_populates="wraps")


class Message(Base):
    """One message in the anonymous conversation (reporter <-> reviewers)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    from_reporter: Mapped[bool] = mapped_column(Boolean)
    reviewer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sent_on: Mapped[dt.date] = mapped_column(Date, default=today)
    sealed_body: Mapped[bytes] = mapped_column(LargeBinary)

    report: Mapped[Report] = relationship(back_populates="messages")


class Attachment(Base):
    """An evidence file: the blob store holds its STREAM ciphertext, this row its sealed name and type."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    from_reporter: Mapped[bool] = mapped_column(Boolean, default=True)
    sealed_meta: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext_bytes: Mapped[int] = mapped_column(Integer)

    report: Mapped[Report] = relationship(back_populates="attachments")
