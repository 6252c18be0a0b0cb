"""Report tables. Content columns hold only sealed bytes (portal.crypto formats).

What is stored in clear, and why, is listed in docs/threat-model.md: the
reference, the day received, the coarse status, whether the reporter said
someone is at risk now, and workflow metadata set by reviewers. Never a time of
day, never anything about the reporter's connection.
"""

from __future__ import annotations

import datetime as dt
import enum

from flask_babel import gettext as _
from sqlalchemy import (
    Boolean,
    Computed,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, defaultload, load_only, mapped_column, relationship, validates

from portal.clock import today
from portal.db import Base
from portal.triage.vocabulary import INVESTIGATION_ROUTES, PRIORITY_RANK, Outcome, Priority, Stage


class ReportStatus(enum.StrEnum):
    """What the reporter sees: deliberately coarse."""

    RECEIVED = "received"
    ASSESSING = "assessing"
    REFERRED = "referred"
    REFERRED_TO_BODY = "referred-to-body"
    ROUTED = "routed"  # sent at screening only to the independent body (portal.triage.routing)
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {
            "received": _("Received"),
            "assessing": _("Being assessed"),
            "referred": _("Referred for investigation"),
            "referred-to-body": _("Referred to an independent body"),
            "routed": _("Sent to the independent body"),
            "closed": _("Closed"),
        }[self.value]


def _reporter_status_sql() -> str:
    """Report.reporter_status_value, computed by the database: the one column of the workflow the reporter
    host reads. "closed:<outcome>" once closed, so the reporter is told how it ended without the role
    reading `outcome`."""
    routes = ", ".join(f"'{route.value}'" for route in sorted(INVESTIGATION_ROUTES))
    outcomes = ", ".join(f"'{outcome.value}'" for outcome in Outcome)
    return (f"CASE WHEN stage = '{Stage.CLOSED.value}' THEN CASE WHEN outcome IN ({outcomes}) "
            f"THEN '{ReportStatus.CLOSED.value}:' || outcome ELSE '{ReportStatus.CLOSED.value}' END "
            f"WHEN routed_to IS NOT NULL THEN '{ReportStatus.ROUTED.value}' "
            f"WHEN referral_status IS NOT NULL THEN CASE WHEN referred_to_independent "
            f"THEN '{ReportStatus.REFERRED_TO_BODY.value}' ELSE '{ReportStatus.REFERRED.value}' END "
            f"WHEN stage = '{Stage.ESCALATED.value}' AND escalation_route IN ({routes}) THEN '{ReportStatus.REFERRED.value}' "
            f"WHEN stage = '{Stage.NEW.value}' THEN '{ReportStatus.RECEIVED.value}' ELSE '{ReportStatus.ASSESSING.value}' END")


class Report(Base):
    __tablename__ = "reports"
    # The queue's three orders, each served by one index so that a page reads 50 index entries
    # (keyset pagination), never sorts every readable report. `junk` leads every one of them: the
    # queue (junk = false) and the Junk view (junk = true) each read their own index range, so a
    # flood of junk reports is never scanned by anything else (portal.triage.junk).
    __table_args__ = (
        Index("ix_reports_queue_received", "junk", "received_on", "id"),
        Index("ix_reports_queue_due", "junk", "due_on", "id"),
        Index("ix_reports_queue_priority", "junk", "priority_rank", "received_on", "id"),
        # The filters most used with the default order (newest first): filter and order from one index.
        Index("ix_reports_queue_stage", "junk", "stage", "received_on", "id"),
        Index("ix_reports_queue_category", "junk", "category", "received_on", "id"),
        Index("ix_reports_queue_assignee", "junk", "assignee_id", "received_on", "id"),
        # "Mine + overdue, by deadline": one range of the reviewer's open reports in deadline order.
        Index("ix_reports_queue_assignee_due", "junk", "assignee_id", "due_on", "id"),
        # Reports once waiting for a reviewer's session to index them (before screening; kept for old rows).
        Index("ix_reports_index_pending", "junk", "subjects_indexed"),
        # The screening worker's backlog, in order of arrival (portal.triage.screening).
        Index("ix_reports_screening", "screening", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)  # bound into every ciphertext
    reference: Mapped[str] = mapped_column(String(16), unique=True)  # shown to reviewers
    lookup_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)  # HMAC(pepper, lookup token), v1: of the secret
    # 1: lookup id and reporter wrap keyed on the receipt secret; 2: on the lookup token and reporter
    # root (docs/crypto.md, "Receipt format v2"). A format 1 report is upgraded at its next sign-in.
    receipt_format: Mapped[int] = mapped_column(SmallInteger, default=2, server_default="1", index=True)
    received_on: Mapped[dt.date] = mapped_column(Date, default=today)  # indexed with id, below
    reporter_urgent: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    encrypted_in_browser: Mapped[bool] = mapped_column(Boolean, default=False)
    sealed_report: Mapped[bytes] = mapped_column(LargeBinary)
    reporter_wrap: Mapped[bytes] = mapped_column(LargeBinary)
    # What the reporter is told (a ReportStatus), derived by the database from stage and route: the
    # reporter host's role may read this column and never the triage columns below (docs/operations.md).
    reporter_status: Mapped[str] = mapped_column(String(40), Computed(_reporter_status_sql(), persisted=True))
    # Integrity (portal.reports.integrity, docs/crypto.md "Integrity"): the commitment to the data key
    # and the reporter host's Ed25519 signature of what it accepted. NULL: received before signatures.
    key_commitment: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    # Workflow metadata set by reviewers, in indexed columns so the queue never decrypts.
    stage: Mapped[str] = mapped_column(String(16), default=Stage.NEW)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    risk_flags: Mapped[str] = mapped_column(String(255), default="")  # comma-separated taxonomy keys
    priority: Mapped[str] = mapped_column(String(8), default=Priority.NORMAL, index=True)  # a Priority
    priority_rank: Mapped[int] = mapped_column(SmallInteger, default=0)  # PRIORITY_RANK[priority], kept in step below
    due_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # current deadline; NULL once closed (portal.deadlines)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id"), nullable=True)
    acknowledged_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    escalation_route: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    closed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    # Screening (portal.triage.screening): "pending" until the worker has read the subject list with
    # the screening key, indexed it and released the key to the reviewers without a conflict;
    # "screened" after; "quarantined" when the subject list could not be read (problem: a key of
    # SCREENING_PROBLEMS). No reviewer holds a wrap before "screened".
    screening: Mapped[str] = mapped_column(String(12), default="pending")
    screening_problem: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sealed_subjects: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # alg 0x13, to the screening key
    # Set once the subject list (or, for reports from before screening, a reviewer's session) was indexed.
    subjects_indexed: Mapped[bool] = mapped_column(Boolean, default=False)  # indexed with junk, above
    names_reviewer: Mapped[bool] = mapped_column(Boolean, default=False, index=True)  # leads only
    # Set by screening when the report went only to the independent body (portal.triage.routing): the
    # body's slug (config/bodies.toml). Its key is then wrapped to that body and the recovery key only.
    routed_to: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    rule_reasons: Mapped[str] = mapped_column(String(255), default="")  # keys of the rules that fired
    # Marked as junk by a reviewer (portal.triage.junk): out of the queue, counts, deadlines and themes.
    # The reporter's coarse status does not change. The reason is a key of JUNK_REASONS, never free text.
    junk: Mapped[bool] = mapped_column(Boolean, default=False)
    junk_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    junk_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Sticky: set the first time anyone (the reporter's answers, a reviewer's category or risk flag)
    # makes the report high-risk, and never cleared, so that recategorising it first cannot take it
    # out of the second-approval rule (portal.triage.closure).
    ever_high_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    # The proposed closure awaiting approval: who proposed it, and the structured reason (a key of
    # portal.triage.closure.CLOSURE_BASES; the free-text reason is an encrypted note).
    # (No foreign key, like messages.reviewer_id: adding one would make SQLite rebuild `reports`,
    # and dropping the old table would cascade to every message and key wrap. Reviewers are never
    # deleted, only deactivated.)
    closure_proposer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    closure_basis: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Mandatory referral (portal.triage.mandatory): sticky once a reviewer's category or risk flag met
    # one of the oversight body's criteria; the day it must be referred by; and the newest referral's
    # status (portal.triage.referrals: sent | acknowledged | outcome), NULL while never referred.
    referral_required: Mapped[bool] = mapped_column(Boolean, default=False)
    referral_due_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    referral_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # A referral went to a body independent of the force (the oversight body): the reporter is told
    # "Referred to an independent body"; a referral to one of the force's own units reads "Referred
    # for investigation".
    referred_to_independent: Mapped[bool] = mapped_column(Boolean, default=False)
    wraps: Mapped[list[KeyWrap]] = relationship(back_populates="report", cascade="all, delete-orphan")
    held_wraps: Mapped[list[HeldWrap]] = relationship(back_populates="report", cascade="all, delete-orphan")
    messages: Mapped[list[Message]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="[Message.seq, Message.id]"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="Attachment.id"
    )
    notes: Mapped[list[InternalNote]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="InternalNote.id"
    )

    @validates("priority")
    def _rank_priority(self, _key: str, priority: str) -> str:
        self.priority_rank = PRIORITY_RANK.get(priority, 0)
        return priority

    @property
    def reporter_unread(self) -> bool:
        """The reporter wrote and the reviewer handling it has not opened the report since."""
        return any(m.unread for m in self.messages)

    @property
    def new_information(self) -> bool:
        """The reporter wrote after the report was closed, and nobody has decided on it yet."""
        return self.stage == Stage.CLOSED and any(m.after_closure for m in self.messages)

    @property
    def status_for_reporter(self) -> ReportStatus:
        """coarse_status as the database computed it (the reporter host cannot read stage or route)."""
        return ReportStatus(self.reporter_status.partition(":")[0])

    @property
    def outcome_for_reporter(self) -> str | None:
        """How a closed report ended, as the database computed it (an Outcome value), else None."""
        return self.reporter_status.partition(":")[2] or None

    @property
    def reporter_status_value(self) -> str:
        """What reports.reporter_status holds for this row (tests/unit/test_reporter_status.py)."""
        status = self.coarse_status
        if status == ReportStatus.CLOSED and self.outcome in {o.value for o in Outcome}:
            return f"{status.value}:{self.outcome}"
        return status.value

    @property
    def coarse_status(self) -> ReportStatus:
        """What the reporter sees, derived from the reviewers' workflow stage."""
        if self.stage == Stage.CLOSED:
            return ReportStatus.CLOSED
        if self.routed_to is not None:
            return ReportStatus.ROUTED
        if self.referral_status:
            return ReportStatus.REFERRED_TO_BODY if self.referred_to_independent else ReportStatus.REFERRED
        if self.stage == Stage.ESCALATED and self.escalation_route in INVESTIGATION_ROUTES:
            return ReportStatus.REFERRED
        if self.stage == Stage.NEW:
            return ReportStatus.RECEIVED
        return ReportStatus.ASSESSING


class KeyWrap(Base):
    """The report's DEK wrapped to one recipient key (reviewer or recovery)."""

    __tablename__ = "key_wraps"
    # The unique (report_id, recipient_fingerprint) index also serves lookups by report: "is this report
    # wrapped to me" is answered from the index alone, never from the 1.2 kB rows (no second index).
    __table_args__ = (UniqueConstraint("report_id", "recipient_fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    recipient_fingerprint: Mapped[str] = mapped_column(String(32), index=True)
    wrap: Mapped[bytes] = mapped_column(LargeBinary)
    # The report's internal key (notes, reviewer-added labels) for the same recipient; never the
    # reporter's. NULL until a reviewer's session first needs it (portal.triage.internal).
    internal_wrap: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    report: Mapped[Report] = relationship(back_populates="wraps")


class HeldWrap(Base):
    """A reviewer's DEK wrap sealed to the screening key (alg 0x14) until screening releases it as
    a KeyWrap, or drops it for a reviewer with a conflict. The reviewer cannot open it meanwhile."""

    __tablename__ = "held_wraps"
    __table_args__ = (UniqueConstraint("report_id", "recipient_fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    recipient_fingerprint: Mapped[str] = mapped_column(String(32))
    held: Mapped[bytes] = mapped_column(LargeBinary)

    report: Mapped[Report] = relationship(back_populates="held_wraps")


class Message(Base):
    """One message in the anonymous conversation (reporter <-> reviewers).

    `unread` and `after_closure` are the queue's signals, set when a reporter's message is
    inserted (the reporter host may only insert, so it cannot clear them) and cleared by the
    triage host: `unread` when the reviewer handling the report opens it, `after_closure` when
    someone reopens the report or records that the message changes nothing. Partial indexes
    keep the few flagged rows apart, so the header's counts never scan the conversation.
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_report_seq", "report_id", "seq", unique=True),
        Index("ix_messages_unread", "report_id", postgresql_where=text("unread"), sqlite_where=text("unread")),
        Index("ix_messages_after_closure", "report_id", postgresql_where=text("after_closure"),
              sqlite_where=text("after_closure")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    from_reporter: Mapped[bool] = mapped_column(Boolean)
    reviewer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sent_on: Mapped[dt.date] = mapped_column(Date, default=today)
    sealed_body: Mapped[bytes] = mapped_column(LargeBinary)
    # Its position in the report's conversation (1, 2, ...), and the signature of its statement: the
    # reporter host's Ed25519 signature (a reporter's message) or the triage host's HMAC (a reviewer's).
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    unread: Mapped[bool] = mapped_column(Boolean, default=False)
    after_closure: Mapped[bool] = mapped_column(Boolean, default=False)

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
    safe_copy: Mapped[SafeCopy | None] = relationship(back_populates="attachment", cascade="all, delete-orphan")


class SafeCopy(Base):
    """A safe copy a reviewer had made of one attachment (portal.evidence): its STREAM ciphertext
    is in the blob store under `public_id`, its sealed metadata (type, pages, what was removed) here.
    Made once, on the triage host only; the original attachment is never changed."""

    __tablename__ = "safe_copies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), unique=True)
    public_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    sealed_meta: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext_bytes: Mapped[int] = mapped_column(Integer)
    made_on: Mapped[dt.date] = mapped_column(Date, default=today)

    attachment: Mapped[Attachment] = relationship(back_populates="safe_copy")


class InternalNote(Base):
    """A reviewer's note on a report: sealed under the report's internal key, which is never wrapped
    to the reporter (portal.triage.internal); never shown to the reporter."""

    __tablename__ = "internal_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    written_on: Mapped[dt.date] = mapped_column(Date, default=today)
    sealed_body: Mapped[bytes] = mapped_column(LargeBinary)
    binding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # the triage host's HMAC of its statement

    report: Mapped[Report] = relationship(back_populates="notes")


class SubjectIndex(Base):
    """Keyed blind index of a subject identifier (HMAC; never the name itself).

    Rows from the reporter's answers have no label; a reviewer's additions carry
    the identifier as they typed it, sealed under the report's internal key (never
    the DEK, which the reporter's code opens: portal.triage.internal). A removed
    identifier stays as a row with `removed` set, so re-indexing does not bring it back.
    """

    __tablename__ = "subject_index"
    __table_args__ = (UniqueConstraint("report_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # a kind of portal.triage.subjects.KIND_STRENGTH
    value: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    sealed_label: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)


# The columns of `reports` the reporter host reads: its queries load only these (load_only), and its
# database role is granted SELECT on exactly these (docs/operations.md, "grants"; tests/security/
# test_reporter_grants.py checks the two agree).
REPORTER_READABLE = ("id", "public_id", "reference", "lookup_id", "receipt_format", "received_on", "encrypted_in_browser",
                     "sealed_report", "reporter_wrap", "reporter_status", "key_commitment")


# The columns of `messages` it reads (follow-up shows the conversation): never which reviewer wrote a
# message or whether reviewers have read the reporter's (reviewer_id, unread). Of key_wraps and
# held_wraps it reads only `id` (an INSERT ... RETURNING needs it): never whose wraps a report has,
# which would tell it whom screening withheld a report from (docs/operations.md, "grants").
MESSAGE_READABLE = ("id", "report_id", "public_id", "from_reporter", "sent_on", "sealed_body", "seq", "signature", "after_closure")


def reporter_columns():
    """The loader options for a Report read on the reporter host: `.options(*reporter_columns())`."""
    return (load_only(*(getattr(Report, name) for name in REPORTER_READABLE), raiseload=True),
            defaultload(Report.messages).load_only(*(getattr(Message, name) for name in MESSAGE_READABLE), raiseload=True))
