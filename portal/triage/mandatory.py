"""Mandatory referral: reports the oversight body must receive, and by when.

A category or risk flag configured with `referral = "<criterion>"` in taxonomy.toml meets one of
the oversight body's mandatory-referral criteria (for England and Wales, the IOPC's statutory
guidance). The first time a reviewer gives a report one, it becomes `referral_required` (sticky,
like `ever_high_risk`: recategorising it does not take it out) and gets a `referral_due_on`
`taxonomy.referral_days` days later. The queue shows "Referral due" until a referral is sent;
closing such a report without one needs a recorded reason and a second lead's approval
(portal.triage.closure).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement

from portal.clock import today
from portal.config import Taxonomy
from portal.reports.models import Report
from portal.triage.vocabulary import Stage


def criteria_met(taxonomy: Taxonomy, category: str | None, flags: list[str]) -> list[str]:
    """Labels of the mandatory-referral criteria this category and these risk flags meet."""
    keys = {taxonomy.referral_categories[category]} if category in taxonomy.referral_categories else set()
    keys |= {taxonomy.referral_flags[flag] for flag in flags if flag in taxonomy.referral_flags}
    return [c.label for c in taxonomy.referral_criteria if c.key in keys]


def note_categorisation(taxonomy: Taxonomy, report: Report) -> list[str]:
    """After a reviewer's categorisation: start the referral clock the first time a criterion is met.
    Returns the criteria met now (for the audit entry)."""
    met = criteria_met(taxonomy, report.category, [f for f in report.risk_flags.split(",") if f])
    if met and not report.referral_required:
        report.referral_required = True
        report.referral_due_on = today() + dt.timedelta(days=taxonomy.referral_days)
    return met


def unreferred(report: Report) -> bool:
    """A mandatory referral that was never sent."""
    return report.referral_required and not report.referral_status


def state(report: Report, on: dt.date | None = None) -> str:
    """'' (no mandatory referral, or closed), 'referred', 'overdue' or 'due'."""
    if not report.referral_required or report.stage == Stage.CLOSED:
        return ""
    if report.referral_status:
        return "referred"
    if report.referral_due_on is not None and report.referral_due_on < (on or today()):
        return "overdue"
    return "due"


def due_clause() -> ColumnElement[bool]:
    """Open reports with a mandatory referral not yet sent (the queue's "Referral due" filter)."""
    return (Report.referral_due_on.is_not(None) & Report.referral_status.is_(None)
            & (Report.stage != Stage.CLOSED) & Report.junk.is_(False))
