"""One report: its page, every action on it, and its files.

Each action: the report must be readable (404 otherwise, before the form is looked at), the form
valid, then one service call. A refused action re-renders the report with the message and what
was typed (400, or 403 for a role that may not do it); see decorators.on_refusal.
"""

from __future__ import annotations

import contextlib
import re

from flask import Blueprint, after_this_request, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select

from portal import state
from portal.crypto import CryptoError
from portal.evidence import SUPPORTED, Refused
from portal.evidence.slots import conversion_slot
from portal.forms import first_error
from portal.triage import auth, closure, junk, mandatory, referrals, rules, service
from portal.triage.context import ActionError, Actor, Context, NotFound, small_int
from portal.triage.decorators import in_transaction, login_required, on_refusal
from portal.triage.forms import (
    AccessForm,
    ApprovalForm,
    AssignForm,
    CategoriseForm,
    CloseForm,
    ConfirmForm,
    EscalateForm,
    JunkForm,
    MessageForm,
    NewInformationForm,
    NoteForm,
    ReopenForm,
    SubjectForm,
)
from portal.triage.models import Reviewer
from portal.triage.referral_forms import AcknowledgedForm, OutcomeForm
from portal.triage.vocabulary import OUTCOMES, PRIORITIES, ROLES, ROUTES, STAGES
from portal.web import download_response

bp = Blueprint("reports", __name__)


def _report_forms(ctx: Context, report) -> dict:
    taxonomy = ctx.settings.taxonomy
    categorise = CategoriseForm(taxonomy=taxonomy, formdata=None, category=report.category or "",
                                flags=[f for f in report.risk_flags.split(",") if f], priority=report.priority)
    actor = auth.current_actor()
    readers = service.readers(ctx, report)
    if not actor.is_lead:
        # Who else holds the key is a lead's business: shown to others, it let a reviewer test names
        # against a colleague's private conflict declarations (a matching name removes their wrap).
        readers = [r for r in readers if r.id == actor.reviewer.id or r.id == report.assignee_id]
    assign = AssignForm(formdata=None, assignee=str(report.assignee_id or ""))
    assign.assignee.choices = [("", "Nobody")] + [(str(r.id), r.display_name) for r in readers]
    access = AccessForm(formdata=None)
    others = [r for r in service.active_reviewers(ctx) if r not in readers]
    access.reviewer.choices = [("", _("Choose a reviewer"))] + [(str(r.id), f"{r.display_name} ({ROLES[r.role]})") for r in others]
    return {"categorise": categorise, "assign": assign, "message": MessageForm(formdata=None), "note": NoteForm(formdata=None),
            "escalate": EscalateForm(formdata=None), "close": CloseForm(formdata=None), "approval": ApprovalForm(formdata=None),
            "reopen": ReopenForm(formdata=None), "junk": JunkForm(formdata=None), "access": access,
            "new_information": NewInformationForm(formdata=None), "can_approve": closure.can_approve(ctx, auth.current_actor(), report),
            "closure_proposer": ctx.db.get(Reviewer, report.closure_proposer_id) if report.closure_proposer_id else None,
            "subject": SubjectForm(formdata=None), "confirm": ConfirmForm(formdata=None), "readers": readers}


def _reporter_category(case, taxonomy) -> str | None:
    """The category the reporter chose, if it is one of the taxonomy's (a suggestion for triage)."""
    answers = getattr(case, "answers", None)
    category = getattr(answers, "category", "") if answers is not None else ""
    return category if category in taxonomy.keys() else None


def _render_report(reference: str, replace: dict | None = None, error: str | None = None, status: int = 200):
    ctx = auth.request_context()
    case = service.open_case(ctx, auth.current_actor(), reference)
    if isinstance(case, service.AlteredCase):  # what failed, never content (portal.triage.integrity)
        return render_template("triage/report_altered.html", case=case, error=error, stages=STAGES), status
    forms = _report_forms(ctx, case.report)
    suggested = _reporter_category(case, ctx.settings.taxonomy)
    if suggested and not case.report.category:  # the reporter's own choice, pre-selected until a reviewer saves one
        forms["categorise"].category.data = suggested
    forms.update(replace or {})
    return render_template("triage/report.html", case=case, forms=forms, error=error, stages=STAGES, suggested_category=suggested,
                           routes=ROUTES, outcomes=OUTCOMES, priorities=PRIORITIES,
                           safe_copy_types=SUPPORTED,
                           rules_fired=rules.rule_explanations(case.report), junk_reasons=junk.JUNK_REASONS,
                           junk_blocked_stages=junk.NOT_JUNK_STAGES,
                           closure_bases=closure.CLOSURE_BASES,
                           referral_items=referrals.items(ctx, auth.current_actor(), case.report),
                           referral_state=mandatory.state(case.report),
                           referral_forms={"acknowledged": AcknowledgedForm(formdata=None), "outcome": OutcomeForm(formdata=None)},
                           reviewer_names=dict(ctx.db.execute(select(Reviewer.login, Reviewer.display_name)).all())), status


@bp.get("/reports/<reference>")
@in_transaction
@login_required
def report(reference: str):
    return _render_report(reference)


def _acting_on(reference: str, form_name: str, form: FlaskForm) -> tuple[Context, Actor]:
    """The context and actor for an action on a readable report with a valid form."""
    ctx, actor = auth.request_context(), auth.current_actor()
    service.get_report(ctx, actor, reference)
    on_refusal(lambda message, status: _render_report(reference, {form_name: form}, message, status))
    if not form.validate_on_submit():
        raise ActionError(first_error(form))
    return ctx, actor


def _done(reference: str, message: str):
    flash(message)
    return redirect(url_for("reports.report", reference=reference))


@bp.post("/reports/<reference>/acknowledge")
@in_transaction
@login_required
def acknowledge(reference: str):
    ctx, actor = _acting_on(reference, "confirm", ConfirmForm())
    service.acknowledge(ctx, actor, reference)
    return _done(reference, _("Acknowledged. The reporter has been sent the acknowledgement message."))


@bp.post("/reports/<reference>/categorise")
@in_transaction
@login_required
def categorise(reference: str):
    form = CategoriseForm(taxonomy=state.settings().taxonomy)
    ctx, actor = _acting_on(reference, "categorise", form)
    service.categorise(ctx, actor, reference, form.category.data or "", form.flags.data or [], form.priority.data)
    return _done(reference, _("Category, risk flags and priority saved."))


@bp.post("/reports/<reference>/assign")
@in_transaction
@login_required
def assign(reference: str):
    form = AssignForm()
    form.assignee.choices = [(form.assignee.data or "", "")]
    ctx, actor = _acting_on(reference, "assign", form)
    service.assign(ctx, actor, reference, small_int(form.assignee.data))
    return _done(reference, _("Assignment saved."))


@bp.post("/reports/<reference>/message")
@in_transaction
@login_required
def message(reference: str):
    form = MessageForm()
    ctx, actor = _acting_on(reference, "message", form)
    service.message_reporter(ctx, actor, reference, form.text.data)
    return _done(reference, _("Message encrypted and sent. The reporter will see it when they next sign in with their code."))


@bp.post("/reports/<reference>/note")
@in_transaction
@login_required
def note(reference: str):
    form = NoteForm()
    ctx, actor = _acting_on(reference, "note", form)
    service.add_note(ctx, actor, reference, form.text.data)
    return _done(reference, _("Internal note added."))


@bp.post("/reports/<reference>/escalate")
@in_transaction
@login_required
def escalate(reference: str):
    form = EscalateForm()
    ctx, actor = _acting_on(reference, "escalate", form)
    service.escalate(ctx, actor, reference, form.route.data, form.reason.data)
    return _done(reference, _("Escalated."))


@bp.post("/reports/<reference>/close")
@in_transaction
@login_required
def close(reference: str):
    form = CloseForm()
    ctx, actor = _acting_on(reference, "close", form)
    approvers = closure.close(ctx, actor, reference, form.outcome.data, form.basis.data, form.reason.data,
                              form.no_referral_reason.data or "")
    if approvers is None:
        return _done(reference, _("Report closed."))
    names = ", ".join(f"{a.display_name} ({a.login})" for a in approvers)
    flash(_("Closure proposed, not yet closed. This report was flagged high-risk or must be referred to the oversight body, "
            "so an independent lead must approve the closure. It is waiting in the queue of: %(names)s. Each of them can now "
            "read it.", names=names), "warning")
    return redirect(url_for("reports.report", reference=reference))


@bp.post("/reports/<reference>/approval")
@in_transaction
@login_required
def approval(reference: str):
    form = ApprovalForm()
    ctx, actor = _acting_on(reference, "approval", form)
    approved = form.decision.data == "approve"
    closure.approve(ctx, actor, reference, approved, form.reason.data or "")
    return _done(reference, _("Closure approved: the report is closed.") if approved
                 else _("Closure not approved: the report is open again, and your reason is in the notes."))


@bp.post("/reports/<reference>/reopen")
@in_transaction
@login_required
def reopen(reference: str):
    form = ReopenForm()
    ctx, actor = _acting_on(reference, "reopen", form)
    closure.reopen(ctx, actor, reference, form.reason.data)
    return _done(reference, _("Report reopened."))


@bp.post("/reports/<reference>/new-information")
@in_transaction
@login_required
def new_information(reference: str):
    """The reporter wrote after closure: reopen, or record (audited) that it changes nothing."""
    form = NewInformationForm()
    ctx, actor = _acting_on(reference, "new_information", form)
    if form.decision.data == "reopen":
        closure.reopen(ctx, actor, reference, form.reason.data)
        return _done(reference, _("Report reopened because of the reporter's new information."))
    closure.keep_closed(ctx, actor, reference, form.reason.data)
    return _done(reference, _("Recorded: the new information does not change the outcome. The report stays closed."))


@bp.post("/reports/<reference>/junk")
@in_transaction
@login_required
def mark_junk(reference: str):
    form = JunkForm()
    ctx, actor = _acting_on(reference, "junk", form)
    junk.mark(ctx, actor, reference, form.reason.data or "", form.details.data or "")
    return _done(reference, _("Marked as junk. It is no longer in the queue, counts or themes; it is listed under Junk reports."))


@bp.post("/reports/<reference>/junk/restore")
@in_transaction
@login_required
def restore_junk(reference: str):
    ctx, actor = _acting_on(reference, "confirm", ConfirmForm())
    junk.restore(ctx, actor, reference)
    return _done(reference, _("Restored to the queue, with its deadline as before."))


@bp.post("/reports/<reference>/access/grant")
@in_transaction
@login_required
def grant(reference: str):
    form = AccessForm()
    form.reviewer.choices = [(form.reviewer.data or "", "")]
    ctx, actor = _acting_on(reference, "access", form)
    reviewer_id = small_int(form.reviewer.data)
    if reviewer_id is None:
        raise ActionError(_("Choose a reviewer."))
    service.grant_access(ctx, actor, reference, reviewer_id)
    return _done(reference, _("Access granted: the report's key has been wrapped to that reviewer."))


@bp.post("/reports/<reference>/access/<int(max=999999999):reviewer_id>/revoke")
@in_transaction
@login_required
def revoke(reference: str, reviewer_id: int):
    ctx, actor = _acting_on(reference, "confirm", ConfirmForm())
    service.revoke_access(ctx, actor, reference, reviewer_id)
    return _done(reference, _("Access removed."))


@bp.post("/reports/<reference>/subjects")
@in_transaction
@login_required
def add_subject(reference: str):
    form = SubjectForm()
    ctx, actor = _acting_on(reference, "subject", form)
    service.add_subject(ctx, actor, reference, form.name.data or "", form.identifier.data or "")
    return _done(reference, _("Identifier added: reports naming the same person are now linked."))


@bp.post("/reports/<reference>/subjects/<int(max=999999999):subject_id>/remove")
@in_transaction
@login_required
def remove_subject(reference: str, subject_id: int):
    ctx, actor = _acting_on(reference, "confirm", ConfirmForm())
    service.remove_subject(ctx, actor, reference, subject_id)
    return _done(reference, _("Identifier removed from linking."))


@bp.post("/reports/<reference>/links/<other>/<any(confirmed, rejected):decision>")
@in_transaction
@login_required
def decide_link(reference: str, other: str, decision: str):
    ctx, actor = _acting_on(reference, "confirm", ConfirmForm())
    service.decide_link(ctx, actor, reference, other, decision)
    flash(_("Link confirmed: the reports are treated as being about the same person.") if decision == "confirmed"
          else _("Link rejected: it will not be suggested again."))
    return redirect(url_for("reports.report", reference=reference) + "#links")


def _to_evidence(reference: str, attachment_hex: str, message: str, warning: bool = True):
    """Back to the file on the report page; a refusal, a damaged file or a busy sandbox is a warning."""
    flash(message, "warning" if warning else "message")
    return redirect(url_for("reports.report", reference=reference) + f"#file-{attachment_hex[:32]}")


UNREADABLE_FILE = _l("This file could not be decrypted: it was damaged or altered after it was received. "
                     "Nothing was downloaded.")


@bp.get("/reports/<reference>/files/<attachment_hex>")
@in_transaction
@login_required
def download(reference: str, attachment_hex: str):
    try:
        chunks, name = service.download(auth.request_context(), auth.current_actor(), reference, attachment_hex)
    except CryptoError:
        service.record_unreadable(auth.request_context(), auth.current_actor(), reference, attachment_hex, "original")
        return _to_evidence(reference, attachment_hex, UNREADABLE_FILE)
    return download_response(chunks, name)


@bp.post("/reports/<reference>/files/<attachment_hex>/safe-copy")
@in_transaction
@login_required
def make_safe_copy(reference: str, attachment_hex: str):
    """Convert in the sandbox (once per file); the page then offers the copy and says what was removed.
    The slot is released only after the response (so after the commit): a second request for the
    same file then finds the copy instead of making another."""
    ctx, actor = _acting_on(reference, "confirm", ConfirmForm())
    if not re.fullmatch(r"[0-9a-f]{32}", attachment_hex):
        raise NotFound  # the id also names a lock file: hex only
    held = contextlib.ExitStack()
    after_this_request(lambda response: (held.close(), response)[1])
    slot = conversion_slot(ctx.settings.instance_dir / "run" / "safe-copies", ctx.settings.safe_copy_slots,
                           attachment_hex)
    if not held.enter_context(slot):
        return _to_evidence(reference, attachment_hex, BUSY)
    try:
        outcome = service.make_safe_copy(ctx, actor, reference, attachment_hex)
    except CryptoError:
        return _to_evidence(reference, attachment_hex, UNREADABLE_FILE)
    if isinstance(outcome, Refused):
        return _to_evidence(reference, attachment_hex,
                            _("No safe copy was made: %(reason)s Only the original is available: open it with care.", reason=outcome.reason))
    return _to_evidence(reference, attachment_hex, _("Safe copy ready. %(removed)s", removed=outcome.removed_sentence), warning=False)


BUSY = _l("Another safe copy is being made right now. Try again in a minute.")
UNREADABLE_COPY = _l("This safe copy could not be decrypted: it was damaged or altered after it was made. "
                     "Nothing was downloaded. Make the safe copy again.")


@bp.get("/reports/<reference>/files/<attachment_hex>/safe-copy")
@in_transaction
@login_required
def download_safe_copy(reference: str, attachment_hex: str):
    try:
        chunks, name = service.download_safe_copy(auth.request_context(), auth.current_actor(), reference, attachment_hex)
    except CryptoError:
        service.record_unreadable(auth.request_context(), auth.current_actor(), reference, attachment_hex, "safe")
        return _to_evidence(reference, attachment_hex, UNREADABLE_COPY)
    return download_response(chunks, name)
