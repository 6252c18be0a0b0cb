"""Linking reports about one person, without exposing who: the subject blind index.

The people a report names are stored only as keyed blind-index values (portal.triage.subjects).
New reports are indexed by screening (portal.triage.screening) before any reviewer holds their
key; index_report covers reports from before screening existed, the first time a reviewer opens
one. Every change to a report's subjects re-applies the rules and the conflict exclusions, on it
and on the reports it links to.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, select, update
from sqlalchemy.orm import Session, aliased

from portal.crypto import CryptoError
from portal.reports.answers import ReportAnswers
from portal.reports.models import Report, SubjectIndex
from portal.triage import audit
from portal.triage.conflicts import enforce_exclusions
from portal.triage.context import ActionError, Actor, Context
from portal.triage.internal import open_internal, seal_internal
from portal.triage.rules import refresh_flags
from portal.triage.subjects import linked_report_ids, subject_values

# -- indexing ---------------------------------------------------------------------------


def index_report(ctx: Context, report: Report, answers: ReportAnswers) -> None:
    """Blind-index the people the reporter named, then flag and apply rules (idempotent)."""
    existing = set(ctx.db.execute(select(SubjectIndex.kind, SubjectIndex.value).where(SubjectIndex.report_id == report.id)).all())
    wanted: set[tuple[str, bytes]] = set()
    for person in answers.people:
        wanted |= subject_values(ctx.blind_index_key, person.name, person.identifier)
    for kind, value in wanted - existing:
        ctx.db.add(SubjectIndex(report_id=report.id, kind=kind, value=value))
    report.subjects_indexed = True
    ctx.db.flush()
    refresh_flags(ctx, report, answers)
    enforce_exclusions(ctx, report)
    for other in ctx.db.scalars(select(Report).where(Report.id.in_(linked_report_ids(report.id)))):
        refresh_flags(ctx, other, None)


# -- links ------------------------------------------------------------------------------


def linked_counts(db: Session, readable: Select, report_ids: list[int]) -> dict[int, int]:
    """For each report, how many OTHER reports the reviewer may read name the same person.

    Two small queries rather than one join: the planners turned "is the linked report
    readable" into a scan of every report the reviewer can read (PostgreSQL, 30 ms a page at
    100,000 reports); checking only the few linked candidates by id stays at index lookups.
    """
    if not report_ids:
        return {}
    mine = aliased(SubjectIndex)
    other = aliased(SubjectIndex)
    pairs = db.execute(
        select(mine.report_id, other.report_id).distinct()
        .join(other, and_(other.kind == mine.kind, other.value == mine.value, other.report_id != mine.report_id))
        .where(mine.report_id.in_(report_ids), mine.removed.is_(False), other.removed.is_(False))
    ).all()
    candidates = sorted({linked for _, linked in pairs})
    readable_ids: set[int] = set()
    for start in range(0, len(candidates), 500):
        chunk = candidates[start:start + 500]
        readable_ids.update(db.scalars(readable.with_only_columns(Report.id).where(Report.id.in_(chunk))))
    counts: dict[int, int] = {}
    for report_id, linked in set(pairs):
        if linked in readable_ids:
            counts[report_id] = counts.get(report_id, 0) + 1
    return counts


def linked_reports(db: Session, readable: Select, report: Report) -> list[Report]:
    return list(db.scalars(readable.where(Report.id.in_(linked_report_ids(report.id))).order_by(Report.received_on)))


# -- subjects on one report -------------------------------------------------------------


@dataclass
class SubjectLabel:
    id: int
    kind: str
    label: str
    added_by_reviewer: bool


def subject_labels(ctx: Context, report: Report, internal_key: bytes, answers: ReportAnswers) -> list[SubjectLabel]:
    """The identifiers used for linking, with the text they came from (in this session only); a
    reviewer's additions are sealed under the report's internal key (portal.triage.internal)."""
    from_answers: dict[bytes, str] = {}
    for person in answers.people:
        for kind, value in subject_values(ctx.blind_index_key, person.name, person.identifier):
            from_answers[value] = person.name if kind == "name" else person.identifier
    labels = []
    for row in ctx.db.scalars(select(SubjectIndex).where(SubjectIndex.report_id == report.id, SubjectIndex.removed.is_(False))
                              .order_by(SubjectIndex.id)):
        if row.sealed_label is not None:
            try:
                text = open_internal(internal_key, report, "subject", row.sealed_label, row.value[:16]).decode("utf-8")
            except (CryptoError, UnicodeDecodeError):
                text = "(a label that could not be decrypted)"
        else:
            text = from_answers.get(row.value, "(from the report)")
        labels.append(SubjectLabel(row.id, row.kind, text, row.sealed_label is not None))
    return labels


def add_subject(ctx: Context, actor: Actor, report: Report, internal_key: bytes, name: str, identifier: str) -> int:
    name, identifier = (name or "").strip()[:200], (identifier or "").strip()[:200]
    values = subject_values(ctx.blind_index_key, name, identifier)
    if not values:
        raise ActionError("Give a full name (first name and surname) or a collar or staff number of at least 3 characters.")
    added = 0
    for kind, value in values:
        row = ctx.db.scalar(select(SubjectIndex).where(SubjectIndex.report_id == report.id, SubjectIndex.kind == kind,
                                                       SubjectIndex.value == value))
        label = seal_internal(internal_key, report, "subject", (name if kind == "name" else identifier).encode("utf-8"), value[:16])
        if row is None:
            ctx.db.add(SubjectIndex(report_id=report.id, kind=kind, value=value, sealed_label=label))
            added += 1
        elif row.removed:
            row.removed, row.sealed_label = False, label
            added += 1
    ctx.db.flush()
    refresh_flags(ctx, report, None)
    enforce_exclusions(ctx, report)
    for other in ctx.db.scalars(select(Report).where(Report.id.in_(linked_report_ids(report.id)))):
        refresh_flags(ctx, other, None)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "subject.added", report.reference, count=added)
    return added


def remove_subject(ctx: Context, actor: Actor, report: Report, subject_id: int) -> None:
    linked_before = list(ctx.db.scalars(select(Report).where(Report.id.in_(linked_report_ids(report.id)))))
    result = ctx.db.execute(update(SubjectIndex).where(SubjectIndex.id == subject_id, SubjectIndex.report_id == report.id)
                            .values(removed=True))
    if not result.rowcount:
        raise ActionError("That identifier is not on this report.")
    ctx.db.flush()
    for other in [report, *linked_before]:
        refresh_flags(ctx, other, None)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "subject.removed", report.reference)
