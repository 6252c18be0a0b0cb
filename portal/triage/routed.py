"""Routed away (leads): reports that went only to the independent body, and their export for delivery.

A lead sees the reference, the day received and to whom; never content, names or why. No lead
holds such a report's key: the export is the routed bundle (portal.referrals.bundles), sealed
material and the body's own key wrap, which only the body's key opens (`portal referral open`).
"""

from __future__ import annotations

from flask import Blueprint, render_template

from portal.forms import first_error
from portal.referrals.bodies import load_bodies
from portal.triage import auth, routing
from portal.triage.context import ActionError
from portal.triage.decorators import in_transaction, login_required, on_refusal, role_required
from portal.triage.forms import ConfirmForm
from portal.triage.models import Role
from portal.web import download_response

bp = Blueprint("routed", __name__)


@bp.get("/routed")
@in_transaction
@login_required
@role_required(Role.LEAD)
def routed():
    return _render()


def _render(error: str | None = None, status: int = 200):
    ctx = auth.request_context()
    view = routing.routed_away(ctx, auth.current_actor(), load_bodies(ctx.settings))
    return render_template("triage/routed.html", view=view, confirm=ConfirmForm(formdata=None), error=error), status


@bp.post("/routed/<reference>/bundle")
@in_transaction
@login_required
def export(reference: str):
    """Leads only; anyone else, or a report that was not routed, gets the 404 page (routing.routed_report)."""
    on_refusal(lambda message, status: _render(message, status))
    form = ConfirmForm()
    if not form.validate_on_submit():
        raise ActionError(first_error(form))
    bundle, filename = routing.routed_bundle(auth.request_context(), auth.current_actor(), reference)
    response = download_response([bundle.data], filename)
    response.headers["X-Bundle-SHA256"] = bundle.sha256
    return response
