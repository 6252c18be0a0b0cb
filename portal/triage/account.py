"""A reviewer's own account: their passphrase, and the conflicts of interest they declare."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.forms import first_error
from portal.triage import auth, conflicts
from portal.triage.context import ActionError, small_int
from portal.triage.decorators import flash_and_redirect, in_transaction, login_required, on_refusal
from portal.triage.forms import ConfirmForm, ConflictForm, PassphraseForm

bp = Blueprint("account", __name__)


def _render_account(form: PassphraseForm, conflict_form: ConflictForm, error: str | None, status: int = 400):
    for field in (form.current, form.new, form.confirm):
        field.data = ""  # never sent back
    declared = conflicts.declared_conflicts(auth.request_context(), auth.current_actor())
    return render_template("triage/account.html", form=form, conflict_form=conflict_form, error=error, conflicts=declared,
                           confirm=ConfirmForm(formdata=None)), (status if error else 200)


@bp.route("/account", methods=["GET", "POST"])
@in_transaction
@login_required
def account():
    form = PassphraseForm()
    on_refusal(lambda message, _status: _render_account(form, ConflictForm(formdata=None), message))
    if form.validate_on_submit():
        cookie = auth.change_passphrase(auth.current_actor(), form.current.data, form.new.data)
        if cookie is None:
            flash(_("Passphrase changed. Your reports did not need to be re-encrypted."))
            return redirect(url_for("account.account"))
        flash(_("Passphrase set, and you have a new encryption key that only your passphrase opens."))
        return auth.set_session_cookie(redirect(url_for("queue.queue")), cookie)
    if request.method == "POST":
        raise ActionError(first_error(form))
    return _render_account(form, ConflictForm(formdata=None), None)


@bp.post("/account/sign-out-everywhere")
@in_transaction
@login_required
def sign_out_everywhere():
    """Every session of this reviewer ends, on every computer, this one included."""
    ConfirmForm().validate_on_submit() or abort(400)
    return auth.sign_out_everywhere(redirect(url_for("signin.login", signed_out="everywhere")))


@bp.post("/account/conflicts")
@in_transaction
@login_required
def declare_conflict():
    form = ConflictForm()
    on_refusal(lambda message, _status: _render_account(PassphraseForm(formdata=None), form, message))
    if not form.validate_on_submit():
        raise ActionError(first_error(form))
    conflicts.declare_conflict(auth.request_context(), auth.current_actor(), form.name.data or "", form.identifier.data or "",
                               bool(form.own_identity.data))
    flash(_("Declared. Reports about this person are now hidden from you, in the queue, in counts and by address."))
    return redirect(url_for("account.account") + "#conflicts")


@bp.post("/account/conflicts/withdraw")
@in_transaction
@login_required
def withdraw_conflict():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    on_refusal(flash_and_redirect(url_for("account.account") + "#conflicts"))
    ids = [i for i in map(small_int, request.form.get("conflict", "").split(",")) if i is not None][:20]
    conflicts.withdraw_conflict(auth.request_context(), auth.current_actor(), ids)
    flash(_("Declaration withdrawn."))
    return redirect(url_for("account.account") + "#conflicts")
