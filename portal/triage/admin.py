"""Administration (leads and administrators): reviewer accounts, their settings, reset sign-ins, deactivation."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from portal import state
from portal.forms import first_error
from portal.triage import accounts, auth
from portal.triage.context import ActionError
from portal.triage.decorators import flash_and_redirect, in_transaction, login_required, on_refusal, role_required
from portal.triage.forms import ConfirmForm, NewReviewerForm, ReviewerSettingsForm
from portal.triage.models import Reviewer, Role

bp = Blueprint("admin", __name__, url_prefix="/admin/reviewers")


def _reviewers_page(form: NewReviewerForm, error=None, created=None, reset=None, status: int = 400):
    """The reviewers list and the add form; `reset` is (reviewer, temporary passphrase, wraps removed)."""
    form.passphrase.data = ""  # never sent back
    people = list(state.db_session().scalars(select(Reviewer).order_by(Reviewer.active.desc(), Reviewer.display_name)))
    return render_template("triage/reviewers.html", form=form, error=error, created=created, reset=reset, people=people,
                           confirm=ConfirmForm(formdata=None)), (status if error else 200)


@bp.route("", methods=["GET", "POST"])
@in_transaction
@login_required
@role_required(Role.LEAD)
def reviewers():
    form = NewReviewerForm()
    on_refusal(lambda message, status: _reviewers_page(form, error=message, status=status))
    if request.method == "GET":
        return _reviewers_page(form)
    actor = auth.current_actor()
    accounts.check_role_grant(actor, form.role.data)  # before the rest of the form, as it always was
    if not form.validate_on_submit():
        raise ActionError(first_error(form))
    created = accounts.add_reviewer(auth.request_context(), actor, state.triage_secrets().totp_key, login=form.login.data,
                                    display_name=form.display_name.data, role=form.role.data, passphrase=form.passphrase.data)
    return _reviewers_page(NewReviewerForm(formdata=None), created=created)


@bp.route("/<int(max=999999999):reviewer_id>", methods=["GET", "POST"])
@in_transaction
@login_required
@role_required(Role.LEAD)
def reviewer_settings(reviewer_id: int):
    """E-mail address for the digest, and membership of the intake pool."""
    ctx, actor = auth.request_context(), auth.current_actor()
    target = accounts.reviewer_to_manage(ctx, actor, reviewer_id)
    form = ReviewerSettingsForm(obj=None if request.method == "POST" else target)
    on_refusal(lambda message, status: (render_template("triage/reviewer.html", form=form, person=target, error=message), status))
    if form.validate_on_submit():
        changed = accounts.change_settings(ctx, actor, target, form.email.data or "", bool(form.receives_new_reports.data))
        flash(_("Saved %(name)s's settings.", name=target.display_name) if changed else _("Nothing changed."))
        return redirect(url_for("admin.reviewers"))
    if request.method == "POST":
        raise ActionError(first_error(form))
    return render_template("triage/reviewer.html", form=form, person=target, error=None)


@bp.post("/<int(max=999999999):reviewer_id>/reset")
@in_transaction
@login_required
@role_required(Role.LEAD)
def reset_sign_in(reviewer_id: int):
    """For a reviewer who lost their passphrase or authenticator app."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    on_refusal(flash_and_redirect(url_for("admin.reviewers")))
    reset = accounts.reset_reviewer_sign_in(auth.request_context(), auth.current_actor(), state.triage_secrets().totp_key,
                                            reviewer_id)
    return _reviewers_page(NewReviewerForm(formdata=None), reset=reset)


@bp.post("/<int(max=999999999):reviewer_id>/sessions/end")
@in_transaction
@login_required
@role_required(Role.LEAD)
def end_sessions(reviewer_id: int):
    """Sign a reviewer out on every computer (a lost laptop, a cookie that may have been copied)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    on_refusal(flash_and_redirect(url_for("admin.reviewers")))
    target, ended = accounts.end_sessions_of(auth.request_context(), auth.current_actor(), reviewer_id)
    flash(ngettext("%(name)s (%(login)s) is signed out everywhere: %(num)d session ended. They can sign in again with "
                   "their passphrase and code.", "%(name)s (%(login)s) is signed out everywhere: %(num)d sessions ended. They "
                   "can sign in again with their passphrase and code.", ended, name=target.display_name, login=target.login))
    return redirect(url_for("admin.reviewers"))


@bp.post("/<int(max=999999999):reviewer_id>/deactivate")
@in_transaction
@login_required
@role_required(Role.LEAD)
def deactivate(reviewer_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    on_refusal(flash_and_redirect(url_for("admin.reviewers")))
    accounts.deactivate_reviewer(auth.request_context(), auth.current_actor(), reviewer_id)
    flash(_("Reviewer deactivated. Their access to every report has been removed."))
    return redirect(url_for("admin.reviewers"))
