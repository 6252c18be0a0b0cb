"""The referral pages: the form a lead refers a report with, the bundle download, and the body's
acknowledgement and outcome. Each action: the report must be readable (404), then the role (403),
then the form (CSRF and fields), then one service call (portal.triage.referrals)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from portal.forms import first_error
from portal.triage import auth, referrals
from portal.triage.context import ActionError, Context
from portal.triage.decorators import in_transaction, login_required, on_refusal
from portal.triage.referral_forms import AcknowledgedForm, OutcomeForm, ReferralForm
from portal.web import download_response

bp = Blueprint("referrals", __name__)


def _form_page(reference: str, form: ReferralForm | None = None, error: str | None = None, status: int = 200):
    ctx, actor = auth.request_context(), auth.current_actor()
    offered = referrals.choices(ctx, actor, reference)
    form = form or ReferralForm(formdata=None)
    form.body.choices = [(c.body.slug, c.body.name) for c in offered.bodies]
    return render_template("triage/referral.html", reference=reference, offered=offered, form=form, error=error), status


@bp.get("/reports/<reference>/refer")
@in_transaction
@login_required
def form(reference: str):
    return _form_page(reference)


@bp.post("/reports/<reference>/refer")
@in_transaction
@login_required
def refer(reference: str):
    ctx, actor = auth.request_context(), auth.current_actor()
    offered = referrals.choices(ctx, actor, reference)  # readable (404), then a lead (403)
    submitted = ReferralForm()
    submitted.body.choices = [(c.body.slug, c.body.name) for c in offered.bodies]
    on_refusal(lambda message, status: _form_page(reference, submitted, message, status))
    if not submitted.validate_on_submit():
        raise ActionError(first_error(submitted))
    referral = referrals.refer(ctx, actor, reference, submitted.body.data, submitted.notes.data or [],
                               submitted.originals.data or [], submitted.safe_copies.data or [])
    flash(_("Referred. The case bundle is sealed to the body's key: only the body can open it. Download it below and "
            "send it to the body. Its SHA-256 is in the audit log."))
    return redirect(url_for("reports.report", reference=reference) + f"#referral-{referral.id}")


@bp.get("/reports/<reference>/referrals/<int(max=999999999):referral_id>/bundle")
@in_transaction
@login_required
def bundle(reference: str, referral_id: int):
    chunks, name = referrals.bundle_download(auth.request_context(), auth.current_actor(), reference, referral_id)
    return download_response(chunks, name)


def _status_action(reference: str, form: FlaskForm) -> Context:
    """Back to the report page with the message on a refusal (the report page renders its own forms)."""
    ctx = auth.request_context()
    referrals.lead_report(ctx, auth.current_actor(), reference, _("Only a lead can record a referral's status."))

    def refused(message: str, _status: int):
        flash(message, "warning")
        return redirect(url_for("reports.report", reference=reference) + "#referrals")

    on_refusal(refused)
    if not form.validate_on_submit():
        raise ActionError(first_error(form))
    return ctx


@bp.post("/reports/<reference>/referrals/<int(max=999999999):referral_id>/acknowledged")
@in_transaction
@login_required
def acknowledged(reference: str, referral_id: int):
    form = AcknowledgedForm()
    ctx = _status_action(reference, form)
    referrals.record_acknowledged(ctx, auth.current_actor(), reference, referral_id, form.day.data)
    flash(_("Recorded: the body acknowledged the referral."))
    return redirect(url_for("reports.report", reference=reference) + "#referrals")


@bp.post("/reports/<reference>/referrals/<int(max=999999999):referral_id>/outcome")
@in_transaction
@login_required
def outcome(reference: str, referral_id: int):
    form = OutcomeForm()
    ctx = _status_action(reference, form)
    referrals.record_outcome(ctx, auth.current_actor(), reference, referral_id, form.day.data, form.text.data)
    flash(_("Recorded: the body's outcome. Its text is encrypted like the notes."))
    return redirect(url_for("reports.report", reference=reference) + "#referrals")
