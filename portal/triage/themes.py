"""Themes over time (leads and administrators): counts only, small cells suppressed; as a page, CSV and chart."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from portal import state
from portal.admission.storage import IntakeToday
from portal.triage import oversight
from portal.triage.decorators import in_transaction, login_required, role_required
from portal.triage.models import Role
from portal.triage.vocabulary import ROUTES

bp = Blueprint("themes", __name__)


def _themes() -> oversight.Themes:
    return oversight.themes(state.db_session(), state.settings())


@bp.get("/themes")
@in_transaction
@login_required
@role_required(Role.LEAD)
def themes():
    intake = IntakeToday.read(state.db_session(), state.settings().daily_file_bytes_cap)
    return render_template("triage/themes.html", data=_themes(), routes=ROUTES, intake=intake)


@bp.get("/themes.csv")
@in_transaction
@login_required
@role_required(Role.LEAD)
def themes_csv():
    response = Response(oversight.themes_csv(_themes()), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="themes.csv"'
    return response


@bp.get("/themes/chart.svg")
@in_transaction
@login_required
@role_required(Role.LEAD)
def themes_chart():
    return Response(oversight.themes_svg(_themes()), mimetype="image/svg+xml")
