"""Reports that go only to the independent body: the accused is senior to the handlers, or the
reporter asked for it (issue 17).

At screening (portal.triage.screening), a report is routed when
- the reporter chose "only the independent body" (the flag in the sealed subject list, or no
  reviewer's wrap was held for it: the reporter host honoured the form's choice), or
- it names a lead or administrator of this portal (their own-identity declarations, on every kind
  of blind-index value but the weakest, initial + surname: "J. Smith" alone hides a report from
  that lead, as a conflict does, without sending it out of the force), or
- it names a person whose rank or role is in the configured senior list (config/rules.toml,
  [routing]; portal.triage.seniority).

A routed report keeps only two key wraps: the recovery key's and the independent body's, released
from the body's held wrap. Every reviewer's held wrap is deleted unopened, so no lead or reviewer
ever holds its key (nor, therefore, its internal key). Leads see only that it was routed away
(reference, day received, to whom) and can export it for delivery (portal.referrals.bundles).
Without a registered body key it is quarantined, never given to the leads instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext
from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.orm import Session

from portal.crypto import CryptoError
from portal.crypto.keys import RecipientPrivateKey
from portal.crypto.screening import release_wrap
from portal.referrals.bodies import BodyKey
from portal.referrals.bundles import Bundle, build_routed_bundle
from portal.referrals.models import ReceivingBodyKey
from portal.reports.answers import SubjectList
from portal.reports.models import HeldWrap, KeyWrap, Report, SubjectIndex
from portal.reports.recipients import IndependentBody
from portal.triage import audit
from portal.triage.context import Actor, Context, NotFound, require_role
from portal.triage.models import Conflict, RecoveryKey, Reviewer, Role
from portal.triage.rules import rules
from portal.triage.seniority import senior_ranks

CHOSEN, NAMES_LEAD, SENIOR_RANK = "chosen", "names-lead", "senior-rank"
# Kinds of value that say "this report names one of our leads" strongly enough to send it out.
LEAD_MATCH_KINDS = ("name", "name-set", "identifier", "id-number", "phonetic", "id-digits")

NO_BODY_KEY, BODY_NOT_SEALED = "no-body-key", "body-not-sealed"
ROUTING_PROBLEMS = {
    NO_BODY_KEY: lazy_gettext("It must go only to the independent body (the reporter asked for that, or it names a lead or administrator "
                 "of this portal or a senior officer), and no key for that body is registered, so nobody at this force was "
                 "given its key. Register the body’s key (operations guide, “Routing to the independent body”), then screen "
                 "it again."),
    BODY_NOT_SEALED: lazy_gettext("It must go only to the independent body, but it was not sealed to the body’s current key (it arrived "
                     "before that key was registered, or the key was replaced since). Nobody at this force was given its key. "
                     "Only the recovery key holders can open it now, to hand it to the body (operations guide, “Routing to the "
                     "independent body”)."),
}


class MustQuarantine(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def routing_reason(db: Session, report: Report, subjects: SubjectList) -> str | None:
    """Why this report must go only to the independent body, or None. (Its subjects are indexed.)"""
    if subjects.only_independent:
        return CHOSEN
    # The reporter host kept no reviewer's wrap (the form said "only the independent body", whatever
    # the subject list says): releasing nothing to the reviewers and dropping the body's wrap too
    # would leave the report to the recovery key alone.
    held = select(HeldWrap.id).where(HeldWrap.report_id == report.id)
    if db.scalar(select(exists(held))) and not db.scalar(select(exists(held.where(
            HeldWrap.recipient_fingerprint.in_(select(Reviewer.key_fingerprint)))))):
        return CHOSEN
    leads = (
        select(Conflict.id)
        .join(Reviewer, Reviewer.id == Conflict.reviewer_id)
        .where(Conflict.own_identity.is_(True), Reviewer.active.is_(True), Reviewer.role.in_([Role.LEAD.value, Role.ADMINISTRATOR.value]),
               Conflict.kind.in_(LEAD_MATCH_KINDS))
        .where(exists(select(SubjectIndex.id).where(SubjectIndex.report_id == report.id, SubjectIndex.removed.is_(False),
                                                    and_(SubjectIndex.kind == Conflict.kind, SubjectIndex.value == Conflict.value))))
    )
    if db.scalar(select(exists(leads))):
        return NAMES_LEAD
    ranks = senior_ranks(rules().get("routing", {}))
    if any(ranks.matches(person.role, person.name) for person in subjects.people):
        return SENIOR_RANK
    return None


def route(db: Session, private: RecipientPrivateKey, report: Report, body: IndependentBody | None) -> int:
    """Release the body's held wrap alone; delete every other held wrap and every reviewer's key
    wrap. Returns how many held wraps were withheld. MustQuarantine when the body cannot receive it."""
    if body is None or body.key is None:
        raise MustQuarantine(NO_BODY_KEY)
    fingerprint = body.key.fingerprint
    held = db.scalar(select(HeldWrap).where(HeldWrap.report_id == report.id, HeldWrap.recipient_fingerprint == fingerprint))
    if held is None:
        raise MustQuarantine(BODY_NOT_SEALED)
    try:
        wrap = release_wrap(held.held, private, report.public_id, fingerprint)
    except CryptoError:
        raise MustQuarantine(BODY_NOT_SEALED) from None
    # Only the recovery key's wrap may exist before screening (portal.triage.screening._release_wraps).
    db.execute(delete(KeyWrap).where(KeyWrap.report_id == report.id,
                                     KeyWrap.recipient_fingerprint.not_in(select(RecoveryKey.fingerprint))))
    db.execute(update(KeyWrap).where(KeyWrap.report_id == report.id).values(internal_wrap=None))
    db.add(KeyWrap(report_id=report.id, recipient_fingerprint=fingerprint, wrap=wrap))
    withheld = db.scalar(select(func.count()).select_from(HeldWrap).where(HeldWrap.report_id == report.id)) - 1
    db.execute(delete(HeldWrap).where(HeldWrap.report_id == report.id))
    report.routed_to = body.slug
    report.assignee_id = None
    report.due_on = None  # no deadline of this force's: the body handles it
    db.expire(report, ["held_wraps", "wraps"])
    db.flush()
    return withheld


# -- what leads see -------------------------------------------------------------------


@dataclass
class RoutedReport:
    reference: str
    received_on: object
    body_slug: str
    body_name: str


ROUTED_PAGE = 100


@dataclass
class RoutedView:
    reports: list[RoutedReport]
    total: int


def routed_away(ctx: Context, actor: Actor, bodies: dict) -> RoutedView:
    """Reports routed to the independent body, newest first, for leads: reference, day received and
    to whom; nothing about content, names or why (that would say what it is about)."""
    require_role(actor, Role.LEAD, "Only a lead reviewer can see reports routed to the independent body.")
    rows = ctx.db.execute(select(Report.reference, Report.received_on, Report.routed_to).where(Report.routed_to.is_not(None))
                          .order_by(Report.id.desc()).limit(ROUTED_PAGE)).all()
    total = ctx.db.scalar(select(func.count()).select_from(Report).where(Report.routed_to.is_not(None))) or 0
    return RoutedView([RoutedReport(ref, day, slug, bodies[slug].name if slug in bodies else slug) for ref, day, slug in rows], total)


def routed_report(ctx: Context, actor: Actor, reference: str) -> Report:
    """A routed report by reference, for a lead (NotFound for anything else, as every route naming a report)."""
    if not actor.is_lead or len(reference) > 16:
        raise NotFound
    report = ctx.db.scalar(select(Report).where(Report.reference == reference, Report.routed_to.is_not(None)))
    if report is None:
        raise NotFound
    return report


def routed_bundle(ctx: Context, actor: Actor, reference: str) -> tuple[Bundle, str]:
    """A lead exports a routed report for delivery: E's routed bundle (sealed as stored, with the
    body's key wrap; no plaintext is needed or made). Recorded in the audit log with its hash.
    Returns (bundle, file name)."""
    report = routed_report(ctx, actor, reference)
    # The body's key the report was sealed to (the body may have registered a newer one since).
    row = ctx.db.execute(select(ReceivingBodyKey.fingerprint, ReceivingBodyKey.public_key).join(
        KeyWrap, and_(KeyWrap.recipient_fingerprint == ReceivingBodyKey.fingerprint, KeyWrap.report_id == report.id))
        .where(ReceivingBodyKey.slug == report.routed_to)).first()
    if row is None:
        raise NotFound
    key = BodyKey(report.routed_to, row[0], bytes(row[1]))
    bundle = build_routed_bundle(ctx.db, report.id, key)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "report.routed-exported", report.reference,
                 body=report.routed_to, fingerprint=key.fingerprint, sha256=bundle.sha256, bytes=len(bundle.data))
    return bundle, f"{report.reference}-{report.routed_to}.bundle"
