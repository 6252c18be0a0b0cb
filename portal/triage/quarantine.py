"""Quarantine (leads): reports screening could not read, with why and what a lead can do."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from portal.forms import first_error
from portal.triage import auth, screening
from portal.triage.context import ActionError
from portal.triage.decorators import in_transaction, login_required, on_refusal, role_required
from portal.triage.forms import ConfirmForm
from portal.triage.models import Role

bp = Blueprint("quarantine", __name__)


def _render(error: str | None = None, status: int = 200):
    view = screening.quarantine(auth.request_context(), auth.current_actor())
    return render_template("triage/quarantine.html", view=view, confirm=ConfirmForm(formdata=None), error=error), status


@bp.get("/quarantine")
@in_transaction
@login_required
@role_required(Role.LEAD)
def quarantine():
    return _render()


@bp.post("/quarantine/<reference>/retry")
@in_transaction
@login_required
def retry(reference: str):
    """Leads only; anyone else, or a report not in quarantine, gets the 404 page (screening.retry)."""
    on_refusal(lambda message, status: _render(message, status))
    form = ConfirmForm()
    if not form.validate_on_submit():
        raise ActionError(first_error(form))
    screening.retry(auth.request_context(), auth.current_actor(), reference)
    flash(_("%(reference)s was sent back to screening. If its list of people still cannot be read, it returns here.",
            reference=reference))
    return redirect(url_for("quarantine.quarantine"))
