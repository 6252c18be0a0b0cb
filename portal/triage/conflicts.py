"""Conflicts of interest: reports a reviewer must not see.

A reviewer declares people they must not handle (and their own identity), stored as blind-index
values and a label only they can read. A report matching a declaration on ANY kind of value, the
"possible" ones included (a name that sounds alike, the same initial and surname), is removed from
everything that reviewer can see (queue, counts, links, URLs: visible()) and its key is unwrapped
from them (enforce_exclusions), so hiding is cryptographic, not just a filter. Erring towards exclusion is deliberate: a report
kept from a reviewer needlessly costs another reviewer's time; one about a conflicted reviewer's
friend, shown to them, can cost a career or a life. A
report that names any reviewer of the portal by a "same" value is shown to leads only
(rules.refresh_flags).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import Select, and_, delete, exists, select
from sqlalchemy.orm import Session

from portal.crypto import CryptoError
from portal.crypto.envelope import open_with_key, seal_with_key
from portal.crypto.keys import personal_key
from portal.reports.models import KeyWrap, Report, SubjectIndex
from portal.triage import audit
from portal.triage.context import ActionError, Actor, Context
from portal.triage.models import Conflict, Reviewer, Role
from portal.triage.rules import refresh_flags
from portal.triage.subjects import subject_values

LABELS_CONTEXT = b"portal/v1/conflict-labels"
UNLABELLED = "A person you declared before your sign-in was reset (the name was sealed under your previous key)"


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


def excluded_reviewers(db: Session, report: Report) -> Select:
    """Ids of reviewers who must not hold this report's key: a declared conflict matches one of
    its subjects, or (when it names a reviewer of the portal) every reviewer who is not a lead."""
    conflicted = (
        select(Conflict.reviewer_id)
        .join(SubjectIndex, and_(SubjectIndex.kind == Conflict.kind, SubjectIndex.value == Conflict.value))
        .where(SubjectIndex.report_id == report.id, SubjectIndex.removed.is_(False))
    )
    if report.names_reviewer:
        return select(Reviewer.id).where((Reviewer.id.in_(conflicted)) | (Reviewer.role == Role.REVIEWER))
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


def apply_to_existing_reports(ctx: Context, values: set[tuple[str, bytes]]) -> None:
    """A new declaration (or a new account's own identity) applied to the reports already stored:
    "names a reviewer" recomputed, excluded reviewers' wraps deleted, then the rules again."""
    affected = list(ctx.db.scalars(select(Report).where(Report.id.in_(
        select(SubjectIndex.report_id).where(SubjectIndex.value.in_([v for _, v in values]))))))
    for report in affected:  # names_reviewer first: it decides who is excluded
        refresh_flags(ctx, report, None)
        enforce_exclusions(ctx, report)
    for report in affected:  # then the rules again, now that who may read what is settled
        refresh_flags(ctx, report, None)


# -- declarations -----------------------------------------------------------------------


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
        raise ActionError(_("Give a full name (first name and surname) or a collar or staff number of at least 3 characters."))
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
    apply_to_existing_reports(ctx, values)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "conflict.declared", None, own_identity=own_identity)
    return added


def _append_label(key: bytes, actor: Actor, label: bytes, values: list[bytes]) -> bytes:
    entries = _labels(key, actor)
    entries.append({"label": label.decode("utf-8"), "values": [v.hex() for v in values]})
    return seal_with_key(key, json.dumps(entries).encode("utf-8"), LABELS_CONTEXT)


def _labels(key: bytes, actor: Actor) -> list[dict]:
    sealed = actor.reviewer.sealed_conflict_labels
    if not sealed:
        return []
    try:
        return json.loads(open_with_key(key, sealed, LABELS_CONTEXT))
    except (CryptoError, ValueError):
        return []


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
        raise ActionError(_("That declaration was not found."))
    if any(r.own_identity for r in rows):
        raise ActionError(_("Your own identity cannot be withdrawn: reports about you must stay hidden from you."))
    for row in rows:
        ctx.db.delete(row)
    ctx.db.flush()
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "conflict.withdrawn", None)
