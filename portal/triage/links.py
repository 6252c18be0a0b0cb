"""Links between reports that name one person, with their strength and reviewers' decisions.

Two reports link when they share a blind-index value (portal.triage.subjects). The kinds they
share give the strength: SAME (an exact number or full name) or POSSIBLE (sounds alike, same
initial and surname, same digits under another prefix). A reviewer who may read both reports
confirms or rejects a possible link (LinkDecision, per pair of reports): a confirmed one counts
like a same-person link, a rejected one is gone for good, whatever is re-indexed later.

Nothing here filters by reader: callers pass in what the reviewer may read (service.readable),
and pattern_links() counts only links every reader of the report may also read, so that what a
stored flag says (the repeat-subject rule) cannot reveal a report hidden from one of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from portal.reports.models import KeyWrap, Report, SubjectIndex
from portal.triage.models import Conflict, LinkDecision, Reviewer
from portal.triage.subjects import POSSIBLE, SAME, SAME_KINDS, strength

CONFIRMED, REJECTED = "confirmed", "rejected"
DECISIONS = (CONFIRMED, REJECTED)


def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def shared_kinds(db: Session, report_ids: Iterable[int], kinds: tuple[str, ...] | None = None) -> dict[int, dict[int, set[str]]]:
    """For each report: the other reports sharing a value (of these kinds) with it, and the kinds
    shared. Junk is not filtered here (callers filter it with readability, or junk_among)."""
    ids = list(report_ids)
    if not ids:
        return {}
    mine, other = aliased(SubjectIndex), aliased(SubjectIndex)
    rows = db.execute(
        select(mine.report_id, other.report_id, other.kind).distinct()
        .join(other, and_(other.kind == mine.kind, other.value == mine.value, other.report_id != mine.report_id))
        .where(mine.report_id.in_(ids), mine.removed.is_(False), other.removed.is_(False),
               *([mine.kind.in_(kinds)] if kinds is not None else []))
    ).all()
    out: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for report_id, other_id, kind in rows:
        out[report_id][other_id].add(kind)
    return out


def junk_among(db: Session, report_ids: set[int]) -> set[int]:
    ordered, out = sorted(report_ids), set()
    for start in range(0, len(ordered), 5000):
        out.update(db.scalars(select(Report.id).where(Report.id.in_(ordered[start:start + 5000]), Report.junk.is_(True))))
    return out


def decisions(db: Session, report_ids: list[int]) -> dict[tuple[int, int], str]:
    """Every decision about a pair that includes one of these reports (two index ranges)."""
    columns = (LinkDecision.first_report_id, LinkDecision.second_report_id, LinkDecision.decision)
    rows = [*db.execute(select(*columns).where(LinkDecision.first_report_id.in_(report_ids))),
            *db.execute(select(*columns).where(LinkDecision.second_report_id.in_(report_ids)))]
    return {(a, b): d for a, b, d in rows}


def effective(found: str | None, decision: str | None) -> str | None:
    """What a link is now: SAME, CONFIRMED, POSSIBLE (waiting for a reviewer), or None (rejected or none)."""
    if decision == REJECTED and found is not None:
        return None  # a reviewer said these are different people: a name added later does not overrule them
    if found == SAME:
        return SAME  # an exact number or full name is not put to a reviewer (remove the identifier instead)
    if found == POSSIBLE:
        return {CONFIRMED: CONFIRMED, REJECTED: None}.get(decision or "", POSSIBLE)
    return None


def links_of_many(db: Session, report_ids: Iterable[int]) -> dict[int, dict[int, str]]:
    """report id -> {other (non-junk) report id: SAME | CONFIRMED | POSSIBLE}, rejected links left out."""
    ids = list(report_ids)
    kinds = shared_kinds(db, ids)
    decided = decisions(db, ids) if kinds else {}
    junk = junk_among(db, {o for others in kinds.values() for o in others})
    out: dict[int, dict[int, str]] = {}
    for report_id, others in kinds.items():
        out[report_id] = {}
        for other_id, shared in others.items():
            state = effective(strength(shared), decided.get(pair(report_id, other_id)))
            if state is not None and other_id not in junk:
                out[report_id][other_id] = state
    return out


def strong_links_of_many(db: Session, report_ids: list[int]) -> dict[int, set[int]]:
    """report id -> other reports linked as the same person or by a confirmed decision (junk not
    filtered). What the queue counts: "same" clusters are small, while a "possible" value such
    as a common initial and surname sound can join thousands of reports at a million, too many
    to read for every page (the report page lists them, for one report)."""
    out: dict[int, set[int]] = defaultdict(set)
    for report_id, others in shared_kinds(db, report_ids, SAME_KINDS).items():
        out[report_id].update(others)
    wanted = set(report_ids)
    for (first, second), decision in decisions(db, report_ids).items():
        for mine, other in ((first, second), (second, first)):
            if mine in wanted:
                if decision == CONFIRMED:
                    out[mine].add(other)
                elif decision == REJECTED:
                    out[mine].discard(other)
    return out


def links_of(db: Session, report_id: int) -> dict[int, str]:
    return links_of_many(db, [report_id]).get(report_id, {})


# -- who may read what, for stored flags -------------------------------------------------------


def _excluded(db: Session, report_id: int) -> set[int]:
    """Reviewers a declared conflict hides this report from (conflicts.visible, per report)."""
    return set(db.scalars(
        select(Conflict.reviewer_id).join(SubjectIndex, and_(SubjectIndex.kind == Conflict.kind,
                                                             SubjectIndex.value == Conflict.value))
        .where(SubjectIndex.report_id == report_id, SubjectIndex.removed.is_(False))))


def _wrapped_to(db: Session, report_id: int) -> set[str]:
    """Whose keys open this report; before any wrap exists (a report still being screened), the
    reviewers it will be wrapped to: every active reviewer who receives new reports."""
    wrapped = set(db.scalars(select(KeyWrap.recipient_fingerprint).where(KeyWrap.report_id == report_id)))
    return wrapped or set(db.scalars(select(Reviewer.key_fingerprint).where(
        Reviewer.active.is_(True), Reviewer.receives_new_reports.is_(True))))


def pattern_links(db: Session, report: Report, enough: int | None = None) -> int:
    """Same-person and confirmed links that every reader of `report` may also read (counting stops
    at `enough`: the rule needs a threshold, and a person named in thousands of reports would
    otherwise cost thousands of checks each time one of them is screened).

    The repeat-subject rule stores its result on the report (its priority and the reason shown),
    so it may count a linked report only when nobody who can read this one is kept from that one:
    not by a conflict, not by "names a reviewer" (leads only), not by holding no key to it.
    Otherwise adding a name by hand to a readable report would reveal, through the flag, that a
    report hidden from the reviewer names that person.
    """
    strong = [o for o, state in links_of(db, report.id).items() if state in (SAME, CONFIRMED)]
    if not strong:
        return 0
    excluded, wrapped = _excluded(db, report.id), _wrapped_to(db, report.id)
    count = 0
    for other in db.scalars(select(Report).where(Report.id.in_(strong))):
        if other.names_reviewer and not report.names_reviewer:
            continue
        if _excluded(db, other.id) <= excluded and wrapped <= _wrapped_to(db, other.id):
            count += 1
            if enough is not None and count >= enough:
                break
    return count
