"""Seeing patterns without exposing people: subject linking, conflicts of interest, rules.

* Subjects: the people a report names are stored only as keyed blind-index values
  (portal.triage.subjects). They are computed in a reviewer's session, the first
  time the server can decrypt the report (the queue indexes new reports), because
  the server alone cannot read a report.
* Conflicts: a reviewer declares people they must not handle (and their own
  identity); a report matching a declaration is removed from everything that
  reviewer can see: queue, counts, links and URLs. A report that names any
  reviewer of the portal is shown to leads only.
* Rules (config/rules.toml) raise a report's priority and say why.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Select, and_, delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from portal.config import CONFIG_DIR
from portal.crypto import CryptoError
from portal.crypto.envelope import open_record, open_with_key, seal_record, seal_with_key
from portal.crypto.keys import personal_key, unwrap_dek
from portal.reports.answers import ReportAnswers
from portal.reports.models import PRIORITY_RANK, KeyWrap, Report, SubjectIndex
from portal.triage import audit
from portal.triage.context import ActionError, Actor, Context
from portal.triage.models import Conflict, Reviewer
from portal.triage.subjects import subject_values

INDEX_BATCH = 25


@lru_cache(maxsize=1)
def rules() -> dict:
    return tomllib.loads((CONFIG_DIR / "rules.toml").read_text("utf-8"))


def rule_explanations(report: Report) -> list[tuple[str, str, str]]:
    """(rule key, explanation, suggested route) for each rule that fired on this report."""
    out = []
    for key in filter(None, report.rule_reasons.split(",")):
        rule = rules().get(key, {})
        out.append((key, rule.get("explain", key), rule.get("suggest", "")))
    return out


# -- visibility -----------------------------------------------------------------------


def visible(query: Select, actor: Actor) -> Select:
    """Remove reports that match one of the actor's conflicts, and (for non-leads) reports naming a reviewer."""
    conflicted = (
        select(SubjectIndex.report_id)
        .join(Conflict, and_(Conflict.kind == SubjectIndex.kind, Conflict.value == SubjectIndex.value))
        .where(Conflict.reviewer_id == actor.reviewer.id, SubjectIndex.removed.is_(False))
    )
    query = query.where(Report.id.not_in(conflicted))  # computed once, not per row
    if not actor.is_lead:
        query = query.where(Report.names_reviewer.is_(False))
    return query


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
    for other in ctx.db.scalars(select(Report).where(Report.id.in_(_linked_ids(report.id)))):
        refresh_flags(ctx, other, None)


def excluded_reviewers(db: Session, report: Report) -> Select:
    """Ids of reviewers who must not hold this report's key: a declared conflict matches one of
    its subjects, or (when it names a reviewer of the portal) every reviewer who is not a lead."""
    conflicted = (
        select(Conflict.reviewer_id)
        .join(SubjectIndex, and_(SubjectIndex.kind == Conflict.kind, SubjectIndex.value == Conflict.value))
        .where(SubjectIndex.report_id == report.id, SubjectIndex.removed.is_(False))
    )
    if report.names_reviewer:
        return select(Reviewer.id).where((Reviewer.id.in_(conflicted)) | (Reviewer.role == "reviewer"))
    return select(Reviewer.id).where(Reviewer.id.in_(conflicted))


def enforce_exclusions(ctx: Context, report: Report) -> int:
    """Delete the DEK wraps of excluded reviewers: hiding is then cryptographic, not just a filter.

    Access is not restored automatically if a declaration is withdrawn: a lead grants it again.
    """
    excluded = excluded_reviewers(ctx.db, report)
    fingerprints = select(Reviewer.key_fingerprint).where(Reviewer.id.in_(excluded))
    removed = ctx.db.execute(
        delete(KeyWrap).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint.in_(fingerprints))
    ).rowcount
    if report.assignee_id is not None and ctx.db.scalar(select(exists(excluded.where(Reviewer.id == report.assignee_id)))):
        report.assignee_id = None
    if removed:
        audit.record(ctx.db, ctx.audit_key, "system", "access.removed-for-conflict", report.reference, wraps=removed)
    return removed


def index_pending(ctx: Context, actor: Actor) -> int:
    """Index reports that no session has decrypted yet (a few per request), so that
    conflicts hide them and links count them before anyone opens them.

    Junk reports are skipped, through the (junk, subjects_indexed) index: however many of them a
    flood leaves unindexed, the batch is filled from the others and never waits behind them.
    A junk report is indexed when it is restored to the queue.
    """
    pending = list(
        ctx.db.scalars(
            select(Report)
            .join(KeyWrap, and_(KeyWrap.report_id == Report.id, KeyWrap.recipient_fingerprint == actor.reviewer.key_fingerprint))
            .where(Report.junk.is_(False), Report.subjects_indexed.is_(False))
            .limit(INDEX_BATCH)
        )
    )
    for report in pending:
        wrap = next(w.wrap for w in report.wraps if w.recipient_fingerprint == actor.reviewer.key_fingerprint)
        try:
            dek = unwrap_dek(wrap, actor.private_key, report.public_id)
            answers = ReportAnswers.from_json(open_record(dek, report.public_id, "report", report.sealed_report))
        except (CryptoError, ValueError):
            continue  # damaged for this key: left for a reviewer whose wrap opens
        index_report(ctx, report, answers)
    return len(pending)


def _linked_ids(report_id: int) -> Select:
    """Other reports naming the same person; junk ones do not count (a flood naming a real
    officer must not raise the priority of, or add links to, the genuine reports about them)."""
    mine = aliased(SubjectIndex)
    other = aliased(SubjectIndex)
    linked = aliased(Report)  # an alias: callers nest this in queries over `reports`, which must not correlate
    return (
        select(other.report_id)
        .join(mine, and_(mine.kind == other.kind, mine.value == other.value))
        .join(linked, and_(linked.id == other.report_id, linked.junk.is_(False)))
        .where(mine.report_id == report_id, other.report_id != report_id, mine.removed.is_(False), other.removed.is_(False))
    )


def refresh_flags(ctx: Context, report: Report, answers: ReportAnswers | None) -> None:
    """Recompute which rules fire; raise the priority when a rule newly fires.

    `answers` is None when the report's content is not at hand: rules that need
    it keep their previous state.
    """
    config = rules()
    own = select(Conflict.id).where(
        Conflict.own_identity.is_(True),
        exists(select(SubjectIndex.id).where(SubjectIndex.report_id == report.id, SubjectIndex.removed.is_(False),
                                             SubjectIndex.kind == Conflict.kind, SubjectIndex.value == Conflict.value)),
    )
    report.names_reviewer = ctx.db.scalar(select(exists(own))) or False
    fired = set(filter(None, report.rule_reasons.split(",")))
    previous = set(fired)

    linked = ctx.db.scalar(select(func.count(func.distinct(_linked_ids(report.id).subquery().c.report_id)))) or 0
    _set(fired, "repeat_subject", linked + 1 >= int(config.get("repeat_subject", {}).get("min_reports", 2)))
    flags = set(filter(None, report.risk_flags.split(",")))
    _set(fired, "risk_now", report.reporter_urgent or "ongoing-risk" in flags)
    _set(fired, "names_reviewer", report.names_reviewer)
    rule = config.get("sexual_misconduct_vulnerable", {})
    if answers is not None or "vulnerable-victim" in flags:
        vulnerable = "vulnerable-victim" in flags or (answers is not None and answers.vulnerable_person == "yes")
        _set(fired, "sexual_misconduct_vulnerable", report.category in rule.get("categories", []) and vulnerable)
    elif report.category not in rule.get("categories", []):
        fired.discard("sexual_misconduct_vulnerable")

    for key in fired - previous:
        wanted = config.get(key, {}).get("priority", "normal")
        if PRIORITY_RANK.get(wanted, 0) > PRIORITY_RANK.get(report.priority, 0):
            report.priority = wanted
    report.rule_reasons = ",".join(sorted(fired))


def _set(fired: set[str], key: str, condition: bool) -> None:
    if condition:
        fired.add(key)
    else:
        fired.discard(key)


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
    return list(db.scalars(readable.where(Report.id.in_(_linked_ids(report.id))).order_by(Report.received_on)))


@dataclass
class SubjectLabel:
    id: int
    kind: str
    label: str
    added_by_reviewer: bool


def subject_labels(ctx: Context, report: Report, dek: bytes, answers: ReportAnswers) -> list[SubjectLabel]:
    """The identifiers used for linking, with the text they came from (in this session only)."""
    from_answers: dict[bytes, str] = {}
    for person in answers.people:
        for kind, value in subject_values(ctx.blind_index_key, person.name, person.identifier):
            from_answers[value] = person.name if kind == "name" else person.identifier
    labels = []
    for row in ctx.db.scalars(select(SubjectIndex).where(SubjectIndex.report_id == report.id, SubjectIndex.removed.is_(False))
                              .order_by(SubjectIndex.id)):
        if row.sealed_label is not None:
            text = open_record(dek, report.public_id, "subject", row.sealed_label, row.value[:16]).decode("utf-8")
        else:
            text = from_answers.get(row.value, "(from the report)")
        labels.append(SubjectLabel(row.id, row.kind, text, row.sealed_label is not None))
    return labels


def add_subject(ctx: Context, actor: Actor, report: Report, dek: bytes, name: str, identifier: str) -> int:
    name, identifier = (name or "").strip()[:200], (identifier or "").strip()[:200]
    values = subject_values(ctx.blind_index_key, name, identifier)
    if not values:
        raise ActionError("Give a full name (first name and surname) or a collar or staff number of at least 3 characters.")
    added = 0
    for kind, value in values:
        row = ctx.db.scalar(select(SubjectIndex).where(SubjectIndex.report_id == report.id, SubjectIndex.kind == kind,
                                                       SubjectIndex.value == value))
        label = seal_record(dek, report.public_id, "subject", (name if kind == "name" else identifier).encode("utf-8"), value[:16])
        if row is None:
            ctx.db.add(SubjectIndex(report_id=report.id, kind=kind, value=value, sealed_label=label))
            added += 1
        elif row.removed:
            row.removed, row.sealed_label = False, label
            added += 1
    ctx.db.flush()
    refresh_flags(ctx, report, None)
    enforce_exclusions(ctx, report)
    for other in ctx.db.scalars(select(Report).where(Report.id.in_(_linked_ids(report.id)))):
        refresh_flags(ctx, other, None)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "subject.added", report.reference, count=added)
    return added


def remove_subject(ctx: Context, actor: Actor, report: Report, subject_id: int) -> None:
    linked_before = list(ctx.db.scalars(select(Report).where(Report.id.in_(_linked_ids(report.id)))))
    result = ctx.db.execute(update(SubjectIndex).where(SubjectIndex.id == subject_id, SubjectIndex.report_id == report.id)
                            .values(removed=True))
    if not result.rowcount:
        raise ActionError("That identifier is not on this report.")
    ctx.db.flush()
    for other in [report, *linked_before]:
        refresh_flags(ctx, other, None)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "subject.removed", report.reference)


# -- conflicts --------------------------------------------------------------------------


LABELS_CONTEXT = b"portal/v1/conflict-labels"


@dataclass
class DeclaredConflict:
    kind: str
    label: str
    own_identity: bool
    ids: list[int]


def declare_conflict(ctx: Context, actor: Actor, name: str, identifier: str, own_identity: bool = False) -> int:
    """Declare a person (or, with own_identity, yourself). Stored as blind-index values and a
    label only this reviewer can read (sealed under a key derived from their private key)."""
    name, identifier = (name or "").strip()[:200], (identifier or "").strip()[:200]
    values = subject_values(ctx.blind_index_key, name, identifier)
    if not values:
        raise ActionError("Give a full name (first name and surname) or a collar or staff number of at least 3 characters.")
    key = personal_key(actor.private_key)
    added = 0
    for kind, value in values:
        if ctx.db.scalar(select(Conflict.id).where(Conflict.reviewer_id == actor.reviewer.id, Conflict.kind == kind,
                                                   Conflict.value == value)):
            continue
        ctx.db.add(Conflict(reviewer_id=actor.reviewer.id, kind=kind, value=value, own_identity=own_identity))
        added += 1
    ctx.db.flush()
    label = (name or identifier).encode("utf-8")
    actor.reviewer.sealed_conflict_labels = _append_label(key, actor, label, [v for _, v in values])
    for report in ctx.db.scalars(select(Report).where(Report.id.in_(
            select(SubjectIndex.report_id).where(SubjectIndex.value.in_([v for _, v in values]))))):
        refresh_flags(ctx, report, None)
        enforce_exclusions(ctx, report)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "conflict.declared", None, own_identity=own_identity)
    return added


def _append_label(key: bytes, actor: Actor, label: bytes, values: list[bytes]) -> bytes:
    import json

    entries = _labels(key, actor)
    entries.append({"label": label.decode("utf-8"), "values": [v.hex() for v in values]})
    return seal_with_key(key, json.dumps(entries).encode("utf-8"), LABELS_CONTEXT)


def _labels(key: bytes, actor: Actor) -> list[dict]:
    import json

    sealed = actor.reviewer.sealed_conflict_labels
    if not sealed:
        return []
    try:
        return json.loads(open_with_key(key, sealed, LABELS_CONTEXT))
    except (CryptoError, ValueError):
        return []


UNLABELLED = "A person you declared before your sign-in was reset (the name was sealed under your previous key)"


def declared_conflicts(ctx: Context, actor: Actor) -> list[DeclaredConflict]:
    key = personal_key(actor.private_key)
    rows = list(ctx.db.scalars(select(Conflict).where(Conflict.reviewer_id == actor.reviewer.id)))
    by_value = {row.value.hex(): row for row in rows}
    out = []
    labelled: set[int] = set()
    for entry in _labels(key, actor):
        matched = [by_value[v] for v in entry["values"] if v in by_value]
        if matched:
            out.append(DeclaredConflict(matched[0].kind, entry["label"], matched[0].own_identity, [r.id for r in matched]))
            labelled.update(r.id for r in matched)
    # Declarations whose label could not be opened still apply: list them so they can be withdrawn.
    # (The reviewer's own name, added when the account was created, has no label and is not listed.)
    for row in rows:
        if row.id not in labelled and not row.own_identity:
            out.append(DeclaredConflict(row.kind, UNLABELLED, False, [row.id]))
    return out


def withdraw_conflict(ctx: Context, actor: Actor, conflict_ids: list[int]) -> None:
    rows = list(ctx.db.scalars(select(Conflict).where(Conflict.reviewer_id == actor.reviewer.id, Conflict.id.in_(conflict_ids))))
    if not rows:
        raise ActionError("That declaration was not found.")
    if any(r.own_identity for r in rows):
        raise ActionError("Your own identity cannot be withdrawn: reports about you must stay hidden from you.")
    for row in rows:
        ctx.db.delete(row)
    ctx.db.flush()
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "conflict.withdrawn", None)
