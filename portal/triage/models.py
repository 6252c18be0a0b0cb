"""Reviewer accounts and the organisation's recovery key (public half only)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import today
from portal.db import Base


class Role(enum.StrEnum):
    REVIEWER = "reviewer"
    LEAD = "lead"
    ADMINISTRATOR = "administrator"


class Reviewer(Base):
    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    # UTS #39 skeletons (portal.triage.identities.comparable): no two accounts may share one, so
    # that a look-alike login or a copied display name cannot pass for another person.
    login_skeleton: Mapped[str] = mapped_column(String(255), index=True, default="")
    name_skeleton: Mapped[str] = mapped_column(String(255), index=True, default="")
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)  # for the content-free digest only
    role: Mapped[str] = mapped_column(String(16), default=Role.REVIEWER.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Wrapped to on every new report (the intake pool); others only when a lead grants access.
    receives_new_reports: Mapped[bool] = mapped_column(Boolean, default=True)
    passphrase_hash: Mapped[str] = mapped_column(String(256))  # argon2id encoded hash
    locked_private_key: Mapped[bytes] = mapped_column(LargeBinary)  # portal.crypto.keys.lock_private_key
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_fingerprint: Mapped[str] = mapped_column(String(32), unique=True)
    sealed_totp_secret: Mapped[bytes] = mapped_column(LargeBinary)
    totp_enrolled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_totp_step: Mapped[int] = mapped_column(Integer, default=0)  # refuses a code already used
    # Set when someone else chose the passphrase (a new account, a reset sign-in): the reviewer must
    # choose their own before anything else, and their key pair is replaced when they do.
    must_change_passphrase: Mapped[bool] = mapped_column(Boolean, default=False)
    # The reviewer's declared conflicts as they typed them, sealed under their personal key.
    sealed_conflict_labels: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_on: Mapped[dt.date] = mapped_column(Date, default=today)


class RecoveryKey(Base):
    """Public half of the organisation's offline recovery key (private half never on a server)."""

    __tablename__ = "recovery_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_on: Mapped[dt.date] = mapped_column(Date, default=today)


class ScreeningKey(Base):
    """Public half of the triage host's screening key (portal.crypto.screening), published here by
    the triage host for the reporter host and browsers; the private half is an instance secret."""

    __tablename__ = "screening_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_on: Mapped[dt.date] = mapped_column(Date, default=today)


class Conflict(Base):
    """A person a reviewer must not handle reports about (blind-index value), or the
    reviewer's own identity (kind prefixed "self-"): reports matching either are hidden."""

    __tablename__ = "reviewer_conflicts"
    __table_args__ = (UniqueConstraint("reviewer_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # a kind of portal.triage.subjects.KIND_STRENGTH
    value: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    own_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    declared_on: Mapped[dt.date] = mapped_column(Date, default=today)


class LinkDecision(Base):
    """A reviewer's decision on a "possible" link between two reports (portal.triage.links).

    Keyed by the pair of reports (first_report_id < second_report_id), not by blind-index
    values, so re-indexing either report never brings a rejected link back.
    """

    __tablename__ = "link_decisions"
    __table_args__ = (UniqueConstraint("first_report_id", "second_report_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    second_report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # confirmed | rejected
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"), nullable=True)
    decided_on: Mapped[dt.date] = mapped_column(Date, default=today)
