"""Screening: every new report is checked before any reviewer can see it or hold its key.

A report arrives with its subject list sealed to the triage host's screening key and its
reviewers' DEK wraps held (sealed to the same key): portal.reports.service. Screening, with
nobody signed in:

1. opens the subject list (names and collar/staff numbers only; the key opens no content),
2. blind-indexes every person with portal.triage.subjects.subject_values (whatever kinds it returns),
3. applies the rules, including "names a reviewer of the portal" (refresh_flags),
4. routes the report to the independent body alone when the reporter chose that or it names a
   lead, an administrator or a senior rank (portal.triage.routing: only the body's held wrap is
   released; without a registered body key the report is quarantined, never given to the leads),
5. otherwise asks portal.triage.conflicts which reviewers must not hold the key, and
6. releases the held wraps of the others as KeyWrap rows; the rest (the body's) are deleted unopened.

So a conflicted reviewer never holds a wrap they can open, and a report is in nobody's queue or
counts until step 5. A report whose subject list is missing, does not open or is not a subject list
is quarantined (with a problem code a lead sees, SCREENING_PROBLEMS) and never retried by itself;
reports are taken in order of arrival and each in its own transaction, so one bad report delays
no other.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from portal.crypto import CryptoError
from portal.crypto.keys import RecipientPrivateKey
from portal.crypto.screening import open_subjects, release_wrap, screening_private_key
from portal.reports.answers import SubjectList, parse_subject_document
from portal.reports.models import HeldWrap, KeyWrap, Report, SubjectIndex
from portal.reports.recipients import independent
from portal.triage import audit, routing
from portal.triage.conflicts import excluded_reviewers
from portal.triage.context import Actor, Context, NotFound, require_role
from portal.triage.models import RecoveryKey, Reviewer, Role, ScreeningKey
from portal.triage.rules import refresh_flags
from portal.triage.subjects import linked_report_ids, subject_values

PENDING, SCREENED, QUARANTINED = "pending", "screened", "quarantined"
SCREENING_PROBLEMS = {
    "missing": _l("No list of the people it names came with it: it was not sent by the portal’s own report form "
                  "(most often an automated or junk submission)."),
    "unreadable": _l("The list of the people it names does not open with this portal’s screening key: it was damaged, "
                     "forged, or sealed to a screening key this triage host no longer holds."),
    "malformed": _l("The list of the people it names opened, but it is not in the portal’s format or is over its limits."),
    "error": _l("Screening stopped on this report with an unexpected error (the triage host’s log has the details)."),
    **routing.ROUTING_PROBLEMS,
}


@dataclass(frozen=True)
class ScreeningSecrets:
    """What screening needs from the triage host's instance secrets."""

    private_key: RecipientPrivateKey
    blind_index_key: bytes
    audit_key: bytes

    @classmethod
    def from_secrets(cls, screening_secret: bytes, blind_index_key: bytes, audit_key: bytes) -> ScreeningSecrets:
        return cls(screening_private_key(screening_secret), blind_index_key, audit_key)


def publish_key(db: Session, private: RecipientPrivateKey) -> str:
    """Publish this host's screening public key (the one new reports are sealed to); any other is retired."""
    public = private.public_key()
    row = db.scalar(select(ScreeningKey).where(ScreeningKey.fingerprint == public.fingerprint))
    if row is not None and row.active and not db.scalar(select(func.count()).select_from(ScreeningKey).where(
            ScreeningKey.active.is_(True), ScreeningKey.id != row.id)):
        return public.fingerprint
    db.execute(update(ScreeningKey).where(ScreeningKey.fingerprint != public.fingerprint).values(active=False))
    if row is None:
        db.add(ScreeningKey(fingerprint=public.fingerprint, public_key=public.to_bytes(), active=True))
    else:
        row.active = True
    db.flush()
    return public.fingerprint


def pending_ids(db: Session, limit: int) -> list[int]:
    """The oldest reports waiting for screening (ix_reports_screening: an index range, oldest first)."""
    return list(db.scalars(select(Report.id).where(Report.screening == PENDING).order_by(Report.id).limit(limit)))


class _Quarantine(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def screen_report(ctx: Context, keys: ScreeningSecrets, report_id: int) -> str | None:
    """Screen one report; returns SCREENED or QUARANTINED, or None if another worker got to it first."""
    # Claim the row. PostgreSQL: a row another worker is screening is skipped (SKIP LOCKED), so
    # several workers share a backlog. SQLite has one writer at a time: the UPDATE waits for the
    # other worker's commit and then matches nothing.
    if ctx.db.get_bind().dialect.name == "postgresql" and ctx.db.scalar(
            select(Report.id).where(Report.id == report_id, Report.screening == PENDING)
            .with_for_update(skip_locked=True)) is None:
        return None
    claimed = ctx.db.execute(update(Report).where(Report.id == report_id, Report.screening == PENDING)
                             .values(screening=PENDING)).rowcount
    report = ctx.db.get(Report, report_id) if claimed else None
    if report is None:
        return None
    try:
        subjects = _subject_list(report, keys.private_key)
    except _Quarantine as exc:
        return _quarantine(ctx, keys, report, exc.problem)
    people = subjects.people
    existing = set(ctx.db.execute(select(SubjectIndex.kind, SubjectIndex.value).where(SubjectIndex.report_id == report.id)).all())
    wanted: set[tuple[str, bytes]] = set()
    for person in people:
        wanted |= subject_values(keys.blind_index_key, person.name, person.identifier, contained=True)
    for kind, value in wanted - existing:
        ctx.db.add(SubjectIndex(report_id=report.id, kind=kind, value=value))
    report.subjects_indexed = True
    ctx.db.flush()
    refresh_flags(ctx, report, None)  # sets names_reviewer, which excluded_reviewers reads
    if (reason := routing.routing_reason(ctx.db, report, subjects)) is not None:
        body = independent(ctx.db, ctx.settings)
        try:
            withheld = routing.route(ctx.db, keys.private_key, report, body)
        except routing.MustQuarantine as exc:
            return _quarantine(ctx, keys, report, exc.problem)
        report.screening, report.screening_problem = SCREENED, None
        # The reason stays out of the log: "it names a lead" would say something about its content.
        audit.record(ctx.db, keys.audit_key, "system", "report.routed", report.reference, body=body.slug, withheld=withheld,
                     chosen_by_reporter=reason == routing.CHOSEN)
        return SCREENED
    released, withheld = _release_wraps(ctx.db, keys.private_key, report)
    report.screening, report.screening_problem = SCREENED, None
    # Again, now that its readers are known: the repeat-subject rule counts only links every reader may read.
    refresh_flags(ctx, report, None)
    # A new link can only make the repeat-subject rule fire on the others: those where it already
    # fired need nothing (without this, a flood naming one person cost each screening a pass over
    # every earlier report about them, and screening slowed quadratically).
    for other in ctx.db.scalars(select(Report).where(Report.id.in_(linked_report_ids(report.id)),
                                                     Report.rule_reasons.not_like("%repeat_subject%"))):
        refresh_flags(ctx, other, None)
    audit.record(ctx.db, keys.audit_key, "system", "report.screened", report.reference, released=released, withheld=withheld)
    return SCREENED


def _quarantine(ctx: Context, keys: ScreeningSecrets, report: Report, problem: str) -> str:
    report.screening, report.screening_problem = QUARANTINED, problem
    audit.record(ctx.db, keys.audit_key, "system", "report.quarantined", report.reference, problem=problem)
    return QUARANTINED


def _subject_list(report: Report, private: RecipientPrivateKey) -> SubjectList:
    if report.sealed_subjects is None:
        raise _Quarantine("missing")
    try:
        raw = open_subjects(report.sealed_subjects, private, report.public_id)
    except CryptoError:
        raise _Quarantine("unreadable") from None
    try:
        return parse_subject_document(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _Quarantine("malformed") from None


def _release_wraps(db: Session, private: RecipientPrivateKey, report: Report) -> tuple[int, int]:
    """Turn held wraps into key wraps for active reviewers without a conflict; delete every held wrap.

    Before screening a report has one legitimate key wrap, the recovery key's, and no internal key
    (the triage host makes that in a reviewer's session, after screening). Anything else in
    key_wraps was written around screening (the reporter host's role may insert there): a wrap to a
    reviewer is deleted, and every internal wrap cleared, so neither reaches a reviewer."""
    recovery = select(RecoveryKey.fingerprint)
    db.execute(delete(KeyWrap).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint.not_in(recovery)))
    db.execute(update(KeyWrap).where(KeyWrap.report_id == report.id).values(internal_wrap=None))
    excluded = set(db.scalars(select(Reviewer.key_fingerprint).where(Reviewer.id.in_(excluded_reviewers(db, report)))))
    active = set(db.scalars(select(Reviewer.key_fingerprint).where(Reviewer.active.is_(True))))
    released = withheld = 0
    for held in db.scalars(select(HeldWrap).where(HeldWrap.report_id == report.id).order_by(HeldWrap.id)):
        fingerprint = held.recipient_fingerprint
        if fingerprint not in active or fingerprint in excluded:
            withheld += 1
            continue
        try:
            wrap = release_wrap(held.held, private, report.public_id, fingerprint)
        except CryptoError:
            withheld += 1
            continue
        if db.scalar(select(KeyWrap.id).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == fingerprint)) is None:
            db.add(KeyWrap(report_id=report.id, recipient_fingerprint=fingerprint, wrap=wrap))
            released += 1
    db.execute(delete(HeldWrap).where(HeldWrap.report_id == report.id))
    db.expire(report, ["held_wraps", "wraps"])
    db.flush()
    return released, withheld


def mark_failed(db: Session, audit_key: bytes, report_id: int) -> None:
    """Quarantine a report whose screening raised (after its transaction was rolled back)."""
    reference = db.scalar(select(Report.reference).where(Report.id == report_id, Report.screening == PENDING))
    if reference is not None:
        db.execute(update(Report).where(Report.id == report_id, Report.screening == PENDING)
                   .values(screening=QUARANTINED, screening_problem="error"))
        audit.record(db, audit_key, "system", "report.quarantined", reference, problem="error")


# -- what leads see -------------------------------------------------------------------


@dataclass
class QuarantinedReport:
    reference: str
    received_on: object
    problem: str
    explanation: str
    encrypted_in_browser: bool


@dataclass
class QuarantineView:
    reports: list[QuarantinedReport]
    total: int
    waiting: int  # reports not screened yet (a backlog here means the screening worker is not running)


QUARANTINE_PAGE = 100


def quarantine(ctx: Context, actor: Actor) -> QuarantineView:
    """Reports screening could not read, newest first, for leads: reference, day, problem; nothing else."""
    require_role(actor, Role.LEAD, _("Only a lead reviewer can see reports held in quarantine."))
    rows = ctx.db.execute(select(Report.reference, Report.received_on, Report.screening_problem, Report.encrypted_in_browser)
                          .where(Report.screening == QUARANTINED).order_by(Report.id.desc()).limit(QUARANTINE_PAGE)).all()
    total = ctx.db.scalar(select(func.count()).select_from(Report).where(Report.screening == QUARANTINED)) or 0
    waiting = ctx.db.scalar(select(func.count()).select_from(Report).where(Report.screening == PENDING)) or 0
    reports = [QuarantinedReport(ref, day, problem or "error", SCREENING_PROBLEMS.get(problem or "error", ""), browser)
               for ref, day, problem, browser in rows]
    return QuarantineView(reports, total, waiting)


def quarantined_count(ctx: Context, actor: Actor) -> int:
    if not actor.is_lead:
        return 0
    return ctx.db.scalar(select(func.count()).select_from(Report).where(Report.screening == QUARANTINED)) or 0


def retry(ctx: Context, actor: Actor, reference: str) -> None:
    """A lead sends a quarantined report back to screening once (e.g. after restoring the screening key)."""
    # 404 for anything but a quarantined report and a lead, like every route naming a report: a
    # reference that is not in quarantine is none of this page's business, and says nothing.
    if not actor.is_lead or len(reference) > 16:
        raise NotFound
    report = ctx.db.scalar(select(Report).where(Report.reference == reference, Report.screening == QUARANTINED))
    if report is None:
        raise NotFound
    report.screening, report.screening_problem = PENDING, None
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "report.screening-retried", report.reference)
