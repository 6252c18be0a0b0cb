"""Closing a report, and the independent lead's approval it needs when it was ever high-risk.

The rule rests on history, not on labels a handler can change: a report that anyone ever flagged
high-risk (portal.triage.risk: the reporter's answers, any reviewer's category or risk flag, at
any time) needs the approval of an independent lead to close, whatever the outcome. Independent
means: a lead, not the proposer, not an account the proposer created or whose sign-in the proposer
reset within `approver_independence_days`, and not excluded from the report by a conflict of
interest. When a closure is proposed, the report key is wrapped (in the proposer's session) to
every such lead, so that they can read it and see it waiting in their queue.

Every closure takes an outcome, a structured basis (CLOSURE_BASES) and a written reason of at
least MIN_REASON_CHARS characters (kept as an encrypted note). Closing a report that was never
acknowledged sends the reporter the standard acknowledgement first.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

from portal.clock import today
from portal.crypto.envelope import open_record
from portal.crypto.keys import RecipientPublicKey, wrap_dek
from portal.reports.answers import ReportAnswers
from portal.reports.models import KeyWrap, Report
from portal.triage import audit, conflicts, internal, mandatory
from portal.triage.context import ActionError, Actor, Context, Forbidden, require_role
from portal.triage.models import Reviewer, Role
from portal.triage.risk import note_high_risk
from portal.triage.service import (
    check_reason,
    get_report,
    log_action,
    report_dek,
    report_internal_key,
    seal_note,
    send_acknowledgement,
)
from portal.triage.vocabulary import OUTCOMES, Stage

MIN_REASON_CHARS = 40
MIN_REASON_WORDS = 6

# Why a report is closed, as a choice a reviewer must make (the written reason explains it).
CLOSURE_BASES = {
    "action-completed": _l("The action decided on has been completed"),
    "referred-body-leads": _l("Another body has taken it on and now leads"),
    "not-substantiated": _l("Enquiries found no evidence to support it"),
    "insufficient-information": _l("Not enough information to act on, and the reporter cannot add more"),
    "not-conduct-matter": _l("Not a conduct matter for professional standards"),
    "duplicate": _l("The same matter is handled under a linked report"),
}


def substantial_reason(reason: str, ask: str) -> str:  # ask: a translated message with %(chars)s and %(words)s
    """`reason` if it reads as an explanation: MIN_REASON_CHARS visible characters and at least
    MIN_REASON_WORDS different words of three letters or more ("aaaa…", "ab ab ab…", padding with
    spaces, dots or invisible characters are refused)."""
    visible = "".join(ch for ch in reason if unicodedata.category(ch) not in ("Cf", "Cc", "Zl", "Zp"))
    words = {w.casefold() for w in re.findall(r"[^\W\d_]{3,}", visible)}
    if len(" ".join(visible.split())) < MIN_REASON_CHARS or len(words) < MIN_REASON_WORDS:
        raise ActionError(ask % {"chars": MIN_REASON_CHARS, "words": MIN_REASON_WORDS})
    return reason


def _answers(report: Report, dek: bytes) -> ReportAnswers:
    return ReportAnswers.from_json(open_record(dek, report.public_id, "report", report.sealed_report))


def needs_approval(ctx: Context, report: Report, answers: ReportAnswers | None) -> bool:
    """True when anyone ever flagged the report high-risk: now, before (the sticky flag), or in the
    audit log (categorisations recorded before the flag existed)."""
    if note_high_risk(ctx.settings.taxonomy, report, answers):
        return True
    taxonomy = ctx.settings.taxonomy
    earlier = ctx.db.scalars(select(audit.AuditEntry.detail).where(
        audit.AuditEntry.report_ref == report.reference, audit.AuditEntry.action == "report.categorised"))
    for detail in earlier:
        data = json.loads(detail or "{}")
        if data.get("category") in taxonomy.high_risk_categories or taxonomy.high_risk_flags & set(data.get("flags") or []):
            report.ever_high_risk = True
            return True
    return False


def _lineage(ctx: Context) -> dict[int, set[int]]:
    """Who made whom within the period: reviewer id -> ids of the accounts they created or whose
    sign-in they reset (from the audit log: `reviewer.created`, `reviewer.sign-in-reset`)."""
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=ctx.settings.approver_independence_days)
    rows = ctx.db.execute(select(audit.AuditEntry.actor, audit.AuditEntry.detail).where(
        audit.AuditEntry.action.in_(("reviewer.created", "reviewer.sign-in-reset")), audit.AuditEntry.occurred_at >= since))
    ids = dict(ctx.db.execute(select(Reviewer.login, Reviewer.id)).all())
    made: dict[int, set[int]] = {}
    for actor, detail in rows:
        target = json.loads(detail or "{}").get("reviewer")
        if actor in ids and target in ids:
            made.setdefault(ids[actor], set()).add(ids[target])
    return made


def _reach(edges: dict[int, set[int]], start: int) -> set[int]:
    seen: set[int] = set()
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    seen.discard(start)
    return seen


def makers_of(ctx: Context, target: Reviewer) -> set[int]:
    """Ids of every account that made `target` within the period: whoever created it or reset its
    sign-in, whoever made them, and so on (a lead cannot launder an account through another one)."""
    backwards: dict[int, set[int]] = {}
    for maker, targets in _lineage(ctx).items():
        for made in targets:
            backwards.setdefault(made, set()).add(maker)
    return _reach(backwards, target.id)


def made_by(ctx: Context, maker: Reviewer) -> set[int]:
    """Ids of every account `maker` made within the period, directly or through accounts it made."""
    return _reach(_lineage(ctx), maker.id)


def not_approvable_by(ctx: Context, approver: Reviewer) -> set[int]:
    """Proposers whose closures `approver` may not approve: themselves, every account in the
    approver's line of makers, and every account the approver made (either way round, a lead and
    an account they control are one person)."""
    return makers_of(ctx, approver) | made_by(ctx, approver) | {approver.id}


def independence_problem(ctx: Context, report: Report, proposer: Reviewer | None, approver: Reviewer) -> str | None:
    """Why `approver` may not approve this closure, or None."""
    if approver.role not in (Role.LEAD, Role.ADMINISTRATOR):
        return _("Only a lead can approve this closure.")
    if proposer is not None and approver.id == proposer.id:
        return _("An independent lead must approve: you proposed this closure.")
    if proposer is not None and proposer.id in makers_of(ctx, approver):
        return _("An independent lead must approve: %(name)s (%(login)s) created or reset your account, or an account that "
                 "made yours, within the last %(days)s days.", name=proposer.display_name, login=proposer.login,
                 days=ctx.settings.approver_independence_days)
    if proposer is not None and proposer.id in made_by(ctx, approver):
        return _("An independent lead must approve: you created or reset the account of %(name)s (%(login)s), or of an "
                 "account that made theirs, within the last %(days)s days.", name=proposer.display_name, login=proposer.login,
                 days=ctx.settings.approver_independence_days)
    if ctx.db.scalar(select(exists(conflicts.excluded_reviewers(ctx.db, report).where(Reviewer.id == approver.id)))):
        return _("You cannot approve this closure: a conflict of interest applies.")
    return None


def eligible_approvers(ctx: Context, report: Report, proposer: Reviewer) -> list[Reviewer]:
    """Every active lead, and every administrator who can already read the report (administrators
    never receive reports: they are not given one to approve), minus those not independent."""
    readers = select(KeyWrap.recipient_fingerprint).where(KeyWrap.report_id == report.id)
    candidates = ctx.db.scalars(select(Reviewer).where(
        Reviewer.active.is_(True),
        (Reviewer.role == Role.LEAD) | ((Reviewer.role == Role.ADMINISTRATOR) & Reviewer.key_fingerprint.in_(readers)),
    ).order_by(Reviewer.display_name))
    return [person for person in candidates if independence_problem(ctx, report, proposer, person) is None]


def _wrap_to(ctx: Context, actor: Actor, report: Report, dek: bytes, people: list[Reviewer]) -> list[str]:
    """Wrap the report key, and its internal key (notes), to each of `people` who cannot read it
    yet, from the proposer's session; returns their logins."""
    have = set(ctx.db.scalars(select(KeyWrap.recipient_fingerprint).where(KeyWrap.report_id == report.id)))
    granted = []
    internal_key = None
    for person in people:
        if person.key_fingerprint not in have:
            internal_key = internal_key or report_internal_key(ctx, actor, report, dek)
            public = RecipientPublicKey.from_bytes(person.public_key)
            ctx.db.add(KeyWrap(report_id=report.id, recipient_fingerprint=person.key_fingerprint,
                               wrap=wrap_dek(dek, public, report.public_id),
                               internal_wrap=internal.wrap_internal_key(internal_key, public, report)))
            granted.append(person.login)
    return granted


def close(ctx: Context, actor: Actor, reference: str, outcome: str, basis: str, reason: str,
          no_referral_reason: str = "") -> list[Reviewer] | None:
    """Close the report, or propose its closure to independent leads.

    Returns None when it is closed now, or the leads who may approve it (each can now read it).
    A report ever flagged high-risk needs their approval; so does one that met a mandatory-referral
    criterion and was never referred (portal.triage.mandatory), which also needs
    `no_referral_reason`.
    """
    report = get_report(ctx, actor, reference)
    if outcome not in OUTCOMES:
        raise ActionError(_("Choose an outcome."))
    if basis not in CLOSURE_BASES:
        raise ActionError(_("Choose the basis for closing from the list."))
    if report.stage in (Stage.CLOSED, Stage.CLOSURE_PENDING):
        raise ActionError(_("This report is already closed or awaiting approval to close."))
    if not report.category:
        raise ActionError(_("Categorise the report before closing it."))
    reason = substantial_reason(check_reason(reason), _(
        "Explain the closure in at least %(chars)s characters and %(words)s different words: what was done, and why nothing "
        "more will be."))
    unreferred = mandatory.unreferred(report)
    if unreferred:
        if not (no_referral_reason or "").strip():
            raise ActionError(_("This report meets the oversight body's mandatory-referral criteria and was never referred: "
                                "say why it is closed without a referral."))
        no_referral_reason = substantial_reason(check_reason(no_referral_reason), _(
            "Say why it is closed without a referral in at least %(chars)s characters and %(words)s different words: what "
            "was done, and why nothing more will be."))
    dek = report_dek(ctx, actor, report)
    high_risk = needs_approval(ctx, report, _answers(report, dek))
    second = high_risk or unreferred
    approvers = eligible_approvers(ctx, report, actor.reviewer) if second else []
    if second and not approvers:
        if high_risk:
            raise ActionError(_("This report was flagged high-risk, so an independent lead must approve closing it, and no "
                                "lead is eligible (not you, not an account you created or reset, not conflicted). "
                                "Ask an administrator to add one."))
        raise ActionError(_("This report must be referred to the oversight body and was not, so an independent lead must "
                            "approve closing it, and no lead is eligible (not you, not an account you created or reset, not "
                            "conflicted). Ask an administrator to add one."))
    if report.acknowledged_on is None:
        send_acknowledgement(ctx, actor, report, dek)
    note = f"Closure proposed: {OUTCOMES[outcome]}.\nBasis: {CLOSURE_BASES[basis]}.\nReason: {reason}"
    if unreferred:
        note += f"\nNot referred to the oversight body, although the mandatory-referral criteria are met. Why: {no_referral_reason}"
    seal_note(ctx, actor, report, dek, note)
    report.outcome = outcome
    report.closure_basis = basis
    if second:
        report.stage = Stage.CLOSURE_PENDING
        report.closure_proposer_id = actor.reviewer.id
        granted = _wrap_to(ctx, actor, report, dek, approvers)
        log_action(ctx, actor, "report.closure-requested", report, outcome=outcome, basis=basis,
                   approvers=[a.login for a in approvers], access_granted=granted,
                   **({"without_mandatory_referral": True} if unreferred else {}))
        return approvers
    report.stage = Stage.CLOSED
    report.closed_on = today()
    log_action(ctx, actor, "report.closed", report, outcome=outcome, basis=basis)
    return None


def can_approve(ctx: Context, actor: Actor, report: Report) -> bool:
    """Whether the actor sees the approval form: a pending closure they may decide."""
    if report.stage != Stage.CLOSURE_PENDING or not actor.is_lead:
        return False
    proposer = ctx.db.get(Reviewer, report.closure_proposer_id) if report.closure_proposer_id else None
    return independence_problem(ctx, report, proposer, actor.reviewer) is None


def approve(ctx: Context, actor: Actor, reference: str, approve: bool, reason: str = "") -> None:
    report = get_report(ctx, actor, reference)
    require_role(actor, Role.LEAD, _("Only a lead can approve closing a high-risk report."))
    if report.stage != Stage.CLOSURE_PENDING:
        raise ActionError(_("This report is not awaiting approval."))
    proposer = ctx.db.get(Reviewer, report.closure_proposer_id) if report.closure_proposer_id else None
    problem = independence_problem(ctx, report, proposer, actor.reviewer)
    if problem:
        raise Forbidden(problem)
    proposed_by = proposer.login if proposer else None
    report.closure_proposer_id = None
    if approve:
        report.stage = Stage.CLOSED
        report.closed_on = today()
        log_action(ctx, actor, "report.closure-approved", report, outcome=report.outcome, proposer=proposed_by)
        return
    reason = check_reason(reason)
    seal_note(ctx, actor, report, report_dek(ctx, actor, report), f"Closure not approved.\nReason: {reason}")
    report.stage = Stage.ASSESSING
    report.outcome = None
    report.closure_basis = None
    log_action(ctx, actor, "report.closure-refused", report, proposer=proposed_by)


def reopen(ctx: Context, actor: Actor, reference: str, reason: str) -> None:
    report = get_report(ctx, actor, reference)
    if report.stage != Stage.CLOSED:
        raise ActionError(_("Only a closed report can be reopened."))
    reason = check_reason(reason)
    seal_note(ctx, actor, report, report_dek(ctx, actor, report), f"Reopened.\nReason: {reason}")
    report.stage = Stage.ASSESSING
    report.closed_on = None
    report.outcome = None
    report.closure_basis = None
    _decided(report)
    log_action(ctx, actor, "report.reopened", report)


def _decided(report: Report) -> None:
    """The reporter's messages after closure have been decided on."""
    for message in report.messages:
        message.after_closure = False


def keep_closed(ctx: Context, actor: Actor, reference: str, reason: str) -> None:
    """The reporter wrote after closure and it changes nothing: say why (an encrypted note), audited."""
    report = get_report(ctx, actor, reference)
    if not report.new_information:
        raise ActionError(_("There is no new information from the reporter to decide on."))
    if report.ever_high_risk:
        require_role(actor, Role.LEAD, _("Only a lead can decide that new information on a high-risk report changes nothing."))
    reason = substantial_reason(check_reason(reason), _(
        "Say why the new information changes nothing in at least %(chars)s characters and %(words)s different words: what "
        "was done, and why nothing more will be."))
    seal_note(ctx, actor, report, report_dek(ctx, actor, report),
              f"New information after closure reviewed: it does not change the outcome.\nReason: {reason}")
    _decided(report)
    log_action(ctx, actor, "report.new-information-reviewed", report, decision="stays-closed")
