"""Linking reports about one person, without exposing who: the subject blind index.

The people a report names are stored only as keyed blind-index values (portal.triage.subjects).
New reports are indexed by screening (portal.triage.screening) before any reviewer holds their
key; index_report covers reports from before screening existed, the first time a reviewer opens
one. Every change to a report's subjects re-applies the rules and the conflict exclusions, on it
and on the reports it links to.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from portal.crypto import CryptoError
from portal.reports.answers import ReportAnswers
from portal.reports.models import Report, SubjectIndex
from portal.triage import audit, links
from portal.triage.conflicts import enforce_exclusions
from portal.triage.context import ActionError, Actor, Context
from portal.triage.internal import open_internal, seal_internal
from portal.triage.models import LinkDecision
from portal.triage.rules import refresh_flags
from portal.triage.subjects import NAME_KINDS, linked_report_ids, subject_values

# -- indexing ---------------------------------------------------------------------------


def index_report(ctx: Context, report: Report, answers: ReportAnswers) -> None:
    """Blind-index the people the reporter named, then flag and apply rules (idempotent)."""
    existing = set(ctx.db.execute(select(SubjectIndex.kind, SubjectIndex.value).where(SubjectIndex.report_id == report.id)).all())
    wanted: set[tuple[str, bytes]] = set()
    for person in answers.people:
        wanted |= subject_values(ctx.blind_index_key, person.name, person.identifier, contained=True)
    for kind, value in wanted - existing:
        ctx.db.add(SubjectIndex(report_id=report.id, kind=kind, value=value))
    report.subjects_indexed = True
    ctx.db.flush()
    refresh_flags(ctx, report, answers)
    enforce_exclusions(ctx, report)
    for other in ctx.db.scalars(select(Report).where(Report.id.in_(linked_report_ids(report.id)))):
        refresh_flags(ctx, other, None)


# -- links ------------------------------------------------------------------------------


LINKED_SHOWN = 100  # per queue row, linked reports checked for readability ("100+" beyond)


def linked_counts(db: Session, readable: Select, report_ids: list[int]) -> dict[int, tuple[int, bool]]:
    """For each report, how many OTHER reports the reviewer may read name the same person (an exact
    number or full name, or a possible link a reviewer confirmed; `readable` excludes junk), and
    whether there may be more (True past LINKED_SHOWN candidates: the page shows "100+").

    Two small queries rather than one join: the planners turned "is the linked report
    readable" into a scan of every report the reviewer can read (PostgreSQL, 30 ms a page at
    100,000 reports); checking only the few linked candidates by id stays at index lookups.
    """
    if not report_ids:
        return {}
    found = {r: sorted(others, reverse=True) for r, others in links.strong_links_of_many(db, report_ids).items()}
    checked = {r: set(others[:LINKED_SHOWN + 1]) for r, others in found.items()}
    readable_ids = _readable_among(db, readable, set().union(*checked.values()) if checked else set())
    counts = {}
    for report_id, others in checked.items():
        if mine := others & readable_ids:
            # More candidates than were checked: the count is "at least" (one person named in
            # hundreds of reports would otherwise cost hundreds of readability checks per row).
            counts[report_id] = (min(len(mine), LINKED_SHOWN), len(found[report_id]) > LINKED_SHOWN)
    return counts


READABLE_CHUNK = 5000  # ids per query: one statement for a whole page's candidates, under SQLite's 32,766 parameters


def _readable_among(db: Session, readable: Select, candidates: set[int]) -> set[int]:
    ordered, out = sorted(candidates), set()
    for start in range(0, len(ordered), READABLE_CHUNK):
        chunk = ordered[start:start + READABLE_CHUNK]
        out.update(db.scalars(readable.with_only_columns(Report.id).where(Report.id.in_(chunk))))
    return out


def linked_reports(db: Session, readable: Select, report: Report) -> list[Report]:
    """Reports linked to this one at any strength (junk excluded) among `readable`."""
    return list(db.scalars(readable.where(Report.id.in_(linked_report_ids(report.id))).order_by(Report.received_on)))


@dataclass
class CaseLink:
    report: Report
    state: str  # links.SAME | links.CONFIRMED | links.POSSIBLE


@dataclass
class CaseLinks:
    shown: list[CaseLink]  # only reports this reviewer may read
    hidden: int  # for leads: linked reports they may not read (a count, nothing else); 0 for others

    @property
    def same(self) -> list[CaseLink]:
        return [link for link in self.shown if link.state != links.POSSIBLE]

    @property
    def possible(self) -> list[CaseLink]:
        return [link for link in self.shown if link.state == links.POSSIBLE]


def case_links(db: Session, readable: Select, actor: Actor, report: Report) -> CaseLinks:
    """The links on a report's page. A reviewer learns nothing of reports they may not read;
    a lead sees how many such reports are linked, without references or content."""
    found = links.links_of(db, report.id)
    readable_ids = _readable_among(db, readable.where(Report.junk.is_(False)), set(found))
    shown = [CaseLink(r, found[r.id]) for r in db.scalars(select(Report).where(Report.id.in_(readable_ids))
                                                          .order_by(Report.received_on, Report.id))]
    return CaseLinks(shown, len(set(found) - readable_ids) if actor.is_lead else 0)


def decide_link(ctx: Context, actor: Actor, readable: Select, report: Report, other_reference: str, decision: str) -> None:
    """Confirm or reject a possible link between two reports the reviewer may read (audited on both)."""
    if decision not in links.DECISIONS:
        raise ActionError(_("Choose whether the two reports are about the same person."))
    other = ctx.db.scalar(readable.where(Report.reference == other_reference[:16]))
    if other is None or other.id == report.id or links.links_of(ctx.db, report.id).get(other.id) != links.POSSIBLE:
        raise ActionError(_("That link is not waiting for a decision (it may have been decided already)."))
    first, second = links.pair(report.id, other.id)
    ctx.db.add(LinkDecision(first_report_id=first, second_report_id=second, decision=decision, decided_by=actor.reviewer.id))
    ctx.db.flush()
    for one, two in ((report, other), (other, report)):
        refresh_flags(ctx, one, None)
        audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, f"link.{decision}", one.reference, linked=two.reference)


# -- subjects on one report -------------------------------------------------------------


@dataclass
class SubjectLabel:
    """One person or number as a reviewer reads it, and the blind-index rows it stands for."""

    ids: list[int]
    kind: str  # "name" or "number"
    label: str
    added_by_reviewer: bool

    @property
    def id(self) -> int:
        return self.ids[0]


def _label_for(kind: str, name: str, identifier: str) -> str:
    return name if kind in NAME_KINDS or not identifier else identifier


def subject_labels(ctx: Context, report: Report, internal_key: bytes, answers: ReportAnswers) -> list[SubjectLabel]:
    """The names and numbers used for linking, with the text they came from (in this session only),
    one entry per text: each stands for several blind-index values (one per kind). A reviewer's
    additions are sealed under the report's internal key (portal.triage.internal)."""
    from_answers: dict[tuple[str, bytes], str] = {}
    for person in answers.people:
        for kind, value in subject_values(ctx.blind_index_key, person.name, person.identifier, contained=True):
            from_answers[(kind, value)] = _label_for(kind, person.name, person.identifier)
    grouped: dict[tuple[str, str, bool], SubjectLabel] = {}
    for row in ctx.db.scalars(select(SubjectIndex).where(SubjectIndex.report_id == report.id, SubjectIndex.removed.is_(False))
                              .order_by(SubjectIndex.id)):
        if row.sealed_label is not None:
            try:
                text = open_internal(internal_key, report, "subject", row.sealed_label, row.value[:16]).decode("utf-8")
            except (CryptoError, UnicodeDecodeError):
                text = "(a label that could not be decrypted)"
        else:
            text = from_answers.get((row.kind, row.value), "(from the report)")
        group = ("name" if row.kind in NAME_KINDS else "number", text, row.sealed_label is not None)
        grouped.setdefault(group, SubjectLabel([], group[0], text, group[2])).ids.append(row.id)
    return list(grouped.values())


def add_subject(ctx: Context, actor: Actor, report: Report, internal_key: bytes, name: str, identifier: str) -> int:
    name, identifier = (name or "").strip()[:200], (identifier or "").strip()[:200]
    values = subject_values(ctx.blind_index_key, name, identifier, contained=True)
    if not values:
        raise ActionError(_("Give a full name (first name and surname) or a collar or staff number of at least 3 characters."))
    added = 0
    for kind, value in values:
        row = ctx.db.scalar(select(SubjectIndex).where(SubjectIndex.report_id == report.id, SubjectIndex.kind == kind,
                                                       SubjectIndex.value == value))
        label = seal_internal(internal_key, report, "subject", _label_for(kind, name, identifier).encode("utf-8"), value[:16])
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


def remove_subject(ctx: Context, actor: Actor, report: Report, internal_key: bytes, answers: ReportAnswers,
                   subject_id: int) -> None:
    """Remove a name or number from linking: every blind-index value it stands for."""
    group = next((s for s in subject_labels(ctx, report, internal_key, answers) if subject_id in s.ids), None)
    if group is None:
        raise ActionError(_("That identifier is not on this report."))
    linked_before = list(ctx.db.scalars(select(Report).where(Report.id.in_(linked_report_ids(report.id)))))
    ctx.db.execute(update(SubjectIndex).where(SubjectIndex.id.in_(group.ids), SubjectIndex.report_id == report.id)
                   .values(removed=True))
    ctx.db.flush()
    for other in [report, *linked_before]:
        refresh_flags(ctx, other, None)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "subject.removed", report.reference)
