"""The queue (and the Junk view): filters, keyset pages, and marking several reports as junk."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from portal.forms import first_error
from portal.triage import auth, junk, listing, service
from portal.triage.context import ActionError, require_role, small_int
from portal.triage.decorators import in_transaction, login_required, on_refusal
from portal.triage.forms import BulkJunkForm, ConfirmForm
from portal.triage.models import Role
from portal.triage.vocabulary import PRIORITIES, STAGES

bp = Blueprint("queue", __name__)


def _filters() -> listing.QueueFilters:
    args = request.args
    return listing.QueueFilters(
        status=args.get("status", "")[:20],
        category=args.get("category", "")[:64],
        risk=args.get("priority", "")[:10],
        assignee=args.get("assignee", "")[:10],
        overdue=args.get("overdue") == "1",
        attention=args.get("attention", "") if args.get("attention") in ("unread", "new-information", "approval", "referral-due") else "",
        junk=args.get("view") == "junk",
        sort=args.get("sort", "received") if args.get("sort") in ("received", "deadline", "priority") else "received",
        descending=args.get("order", "desc") != "asc",
        after=args.get("after", "")[:41],
        before=args.get("before", "")[:41],
        last=args.get("last") == "1",
        start=small_int(args.get("start")) or 1,
    )


def _page_links(page: listing.QueuePage) -> dict[str, str]:
    """First / previous / next / last links that keep the filters and order."""
    base = {k: v for k, v in request.args.items() if k not in ("after", "before", "last", "start", "page")}
    links = {}
    if page.has_previous:
        links["first"] = url_for("queue.queue", **base)
        previous = dict(base, before=page.first_key)
        if page.start is not None:
            previous["start"] = str(max(1, page.start - listing.PAGE_SIZE))
        links["previous"] = url_for("queue.queue", **previous)
    if page.has_next:
        following = dict(base, after=page.last_key)
        if page.start is not None:
            following["start"] = str(page.start + len(page.rows))
        links["next"] = url_for("queue.queue", **following)
        links["last"] = url_for("queue.queue", **dict(base, last="1"))
    return links


def _render_queue(bulk_form: BulkJunkForm | None = None, error: str | None = None, status: int = 200):
    ctx = auth.request_context()
    page = listing.queue(ctx, auth.current_actor(), _filters())
    return render_template("triage/queue.html", page=page, links=_page_links(page), stages=STAGES,
                           priorities=PRIORITIES, reviewers=service.active_reviewers(ctx), args=request.args,
                           bulk=bulk_form or BulkJunkForm(formdata=None), junk_reasons=junk.JUNK_REASONS,
                           max_bulk=junk.MAX_BULK, confirm=ConfirmForm(formdata=None), error=error), status


@bp.get("/")
@in_transaction
@login_required
def queue():
    return _render_queue()


@bp.post("/junk")
@in_transaction
@login_required
def mark_junk_bulk():
    """Mark the reports ticked on the queue as junk (leads only; the service checks again)."""
    form = BulkJunkForm()
    on_refusal(lambda message, status: _render_queue(form, message or _("Those reports could not be marked."), status))
    actor = auth.current_actor()
    # Before the form is looked at, so that a reviewer learns why rather than what was wrong with it.
    require_role(actor, Role.LEAD, _("Only a lead can mark several reports as junk at once."))
    if not form.validate_on_submit():
        raise ActionError(first_error(form))
    marked = junk.mark_many(auth.request_context(), actor, request.form.getlist("report"), form.reason.data)
    flash(ngettext("Marked %(num)d report as junk. It is listed under Junk reports, where it can be restored.",
                   "Marked %(num)d reports as junk. They are listed under Junk reports, where they can be restored.", marked))
    return redirect(url_for("queue.queue"))
