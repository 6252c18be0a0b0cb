"""Junk reports: what a flood of meaningless reports leaves behind, kept out of everyone's way.

A reviewer who may read a report can mark it as junk, with a reason from JUNK_REASONS; any
reviewer who may read it can restore it. A lead can mark up to MAX_BULK reports at once from the
queue. A junk report leaves the queue, the overdue counts, the deadlines (due_on is NULL), the
links between reports, the subject-indexing backlog and the themes; the Junk view lists it so that
it can be restored. Nothing is deleted and nothing is decrypted: the reporter keeps the coarse
status they saw, and can still sign in and write.

Guarding against burying a real report: a report that was escalated, is closed or awaits a closure
decision cannot be marked (close it instead: closing has its own controls), nor can one that anyone
ever flagged high-risk (`reports.ever_high_risk`, portal.triage.risk: it leaves only through the
closure rule, with an independent lead's approval), and one the reporter or a reviewer marked
urgent or high priority needs a lead. A flood is junked by leads from the queue without opening
each report; a report a reviewer opened with the reporter's "someone at risk now" is high-risk. Every mark and restore is audited with
the reason code only; what a reviewer writes about why is an encrypted internal note, never audit
detail (audit entries hold no free text).
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from portal.clock import today
from portal.deadlines import Deadlines
from portal.reports.models import Report
from portal.triage import audit
from portal.triage.context import ActionError, Actor, Context, Forbidden, NotFound
from portal.triage.linking import linked_reports
from portal.triage.rules import refresh_flags
from portal.triage.service import get_report, readable, report_dek, seal_note
from portal.triage.vocabulary import Priority, Stage

JUNK_REASONS = {
    "empty": _l("Empty or meaningless"),
    "flood": _l("Automated or part of a flood"),
    "duplicate": _l("Duplicate: the same report sent again"),
    "test": _l("Test report"),
}
MAX_BULK = 200  # reports one bulk request may mark
MAX_DETAILS = 1000
NOT_JUNK_STAGES = (Stage.ESCALATED, Stage.CLOSURE_PENDING, Stage.CLOSED)
MARKED, RESTORED = "report.marked-junk", "report.unmarked-junk"


def _check_reason(reason: str) -> str:
    if reason not in JUNK_REASONS:
        raise ActionError(_("Choose why this is junk from the list."))
    return reason


def _check_markable(actor: Actor, report: Report) -> None:
    if report.junk:
        raise ActionError(_("Report %(reference)s is already marked as junk.", reference=report.reference))
    if report.stage in NOT_JUNK_STAGES:
        raise ActionError(_("Report %(reference)s has been escalated or closed: it cannot be marked as junk.", reference=report.reference))
    if not actor.is_lead and (report.reporter_urgent or report.priority != Priority.NORMAL):
        raise Forbidden(_("This report is marked urgent or high priority: only a lead can mark it as junk."))
    if report.ever_high_risk:
        raise ActionError(_("Report %(reference)s was flagged high-risk: it cannot be marked as junk. Close it "
                            "instead; an independent lead must approve.", reference=report.reference))
    if report.referral_required:  # portal.triage.mandatory: junk must not bury a mandatory referral
        raise ActionError(_("Report %(reference)s met the oversight body's mandatory-referral criteria: it cannot be marked "
                            "as junk. Refer it, or close it with a reason and a second lead's approval.",
                            reference=report.reference))


def _refresh_linked(ctx: Context, report: Report) -> None:
    """Junk does not count as a link: the reports naming the same person re-evaluate their rules."""
    ctx.db.flush()
    for other in linked_reports(ctx.db, select(Report), report):
        refresh_flags(ctx, other, None)


def _mark(ctx: Context, actor: Actor, report: Report, reason: str, **detail) -> None:
    report.junk, report.junk_on, report.junk_reason = True, today(), reason
    Deadlines.from_settings(ctx.settings).apply(report)  # no deadline while junk
    _refresh_linked(ctx, report)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, MARKED, report.reference, reason=reason, **detail)


def mark(ctx: Context, actor: Actor, reference: str, reason: str, details: str = "") -> None:
    """Mark one report as junk. `details`, if given, is sealed as an internal note (needs the DEK)."""
    report = get_report(ctx, actor, reference)
    reason = _check_reason(reason)
    _check_markable(actor, report)
    details = (details or "").strip()
    if len(details) > MAX_DETAILS:
        raise ActionError(_("The details must be %(count)s characters or fewer.", count=f"{MAX_DETAILS:,}"))
    if details:
        seal_note(ctx, actor, report, report_dek(ctx, actor, report), f"Marked as junk: {JUNK_REASONS[reason]}.\n{details}")
    _mark(ctx, actor, report, reason, note=bool(details))


def restore(ctx: Context, actor: Actor, reference: str) -> None:
    """Put a junk report back in the queue, with its deadline as if it had never left."""
    report = get_report(ctx, actor, reference)
    if not report.junk:
        raise ActionError(_("This report is not marked as junk."))
    previous = report.junk_reason
    report.junk, report.junk_on, report.junk_reason = False, None, None
    Deadlines.from_settings(ctx.settings).apply(report)
    _refresh_linked(ctx, report)
    refresh_flags(ctx, report, None)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, RESTORED, report.reference, reason=previous)


def parse_references(values: list[str]) -> list[str]:
    """The report references a bulk request selected (client input): distinct, in order, checked."""
    if not values:
        raise ActionError(_("Select at least one report."))
    if len(values) > MAX_BULK:
        raise ActionError(_("Select at most %(count)s reports at a time.", count=MAX_BULK))
    wanted: list[str] = []
    for value in values:
        if not (0 < len(value) <= 16 and value.isascii() and value.isprintable()):
            raise ActionError(_("Select reports from the list."))
        if value not in wanted:
            wanted.append(value)
    return wanted


def mark_many(ctx: Context, actor: Actor, references: list[str], reason: str) -> int:
    """A lead marks several reports as junk: all of them or, if any cannot be marked, none.

    One audit entry per report (flagged `bulk`). A reference the lead cannot read fails the
    whole request with the same message as one that does not exist.
    """
    if not actor.is_lead:
        raise Forbidden(_("Only a lead can mark several reports as junk at once."))
    if not actor.reviewer.active:
        raise NotFound
    reason = _check_reason(reason)
    wanted = parse_references(references)
    reports = {r.reference: r for r in ctx.db.scalars(readable(actor).where(Report.reference.in_(wanted)))}
    missing = [ref for ref in wanted if ref not in reports]
    if missing:
        raise ActionError(ngettext("%(num)d of the selected reports could not be found. Nothing was marked.", "%(num)d of the selected reports could not be found. Nothing was marked.", len(missing)))
    for reference in wanted:
        _check_markable(actor, reports[reference])
    for reference in wanted:
        _mark(ctx, actor, reports[reference], reason, bulk=True)
    return len(wanted)
