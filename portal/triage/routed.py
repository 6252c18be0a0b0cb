"""Routed away (leads): reports that went only to the independent body, and their export for delivery.

A lead sees the reference, the day received and to whom; never content, names or why. No lead
holds such a report's key: the export is the routed bundle (portal.referrals.bundles), sealed
material and the body's own key wrap, which only the body's key opens (`portal referral open`).
"""

from __future__ import annotations

from flask import Blueprint, render_template

from portal.referrals.bodies import load_bodies
from portal.triage import auth, routing
from portal.triage.decorators import in_transaction, login_required, role_required
from portal.triage.forms import ConfirmForm
from portal.triage.models import Role

bp = Blueprint("routed", __name__)


@bp.get("/routed")
@in_transaction
@login_required
@role_required(Role.LEAD)
def routed():
    ctx = auth.request_context()
    view = routing.routed_away(ctx, auth.current_actor(), load_bodies(ctx.settings))
    return render_template("triage/routed.html", view=view, confirm=ConfirmForm(formdata=None))
