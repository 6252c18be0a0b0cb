"""Report deadlines: acknowledge within N days of receipt, then give feedback within M days.

Each open report's current deadline is stored in the indexed column `reports.due_on` (NULL
once closed, and while marked as junk), so that the queue can filter overdue reports and sort by deadline without
computing anything per row. It is set when a report is stored and after every reviewer
action (`apply`); `refresh_all` recomputes every report in one statement, for when the
configured number of days changes (the triage application runs it at start-up).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Date, and_, case, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from portal.clock import today
from portal.config import Settings
from portal.reports.models import Report
from portal.triage.vocabulary import Stage

DUE_SOON_DAYS = 2


class _PlusDays(FunctionElement):
    """`date + n days` in SQL: the dialects spell it differently."""

    type = Date()
    inherit_cache = True


@compiles(_PlusDays)
def _plus_days_postgresql(element, compiler, **kw):  # PostgreSQL: date + integer is a date
    column, days = list(element.clauses)
    return f"({compiler.process(column, **kw)} + {compiler.process(days, **kw)})"


@compiles(_PlusDays, "sqlite")
def _plus_days_sqlite(element, compiler, **kw):  # SQLite keeps dates as ISO text
    column, days = list(element.clauses)
    return f"date({compiler.process(column, **kw)}, '+' || {compiler.process(days, **kw)} || ' days')"


@dataclass(frozen=True)
class Deadlines:
    acknowledge_days: int
    feedback_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Deadlines:
        return cls(settings.acknowledge_days, settings.feedback_days)

    def due_on(self, report: Report) -> dt.date | None:
        """The report's current deadline, or None once it is closed or while it is junk."""
        if report.stage == Stage.CLOSED or report.junk:
            return None
        days = self.acknowledge_days if report.acknowledged_on is None else self.feedback_days
        return report.received_on + dt.timedelta(days=days)

    def apply(self, report: Report) -> None:
        """Store the current deadline on the report (after any change of stage or acknowledgement)."""
        due = self.due_on(report)
        if report.due_on != due:
            report.due_on = due

    def state(self, report: Report, on: dt.date | None = None) -> str:
        """'overdue', 'due-soon' (within 2 days), 'on-track' or 'done'."""
        due = self.due_on(report)
        if due is None:
            return "done"
        on = on or today()
        if due < on:
            return "overdue"
        if due <= on + dt.timedelta(days=DUE_SOON_DAYS):
            return "due-soon"
        return "on-track"

    def refresh_all(self, db: Session) -> int:
        """Recompute every stored deadline in one statement; returns how many changed."""
        wanted = case(
            (Report.stage == Stage.CLOSED, None),
            (Report.junk.is_(True), None),
            (Report.acknowledged_on.is_(None), _PlusDays(Report.received_on, self.acknowledge_days)),
            else_=_PlusDays(Report.received_on, self.feedback_days),
        )
        result = db.execute(
            update(Report).where(Report.due_on.is_distinct_from(wanted)).values(due_on=wanted)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0


def overdue_clause(on: dt.date) -> ColumnElement[bool]:
    """Open reports whose deadline has passed (closed and junk ones have no deadline): one index
    range of (junk, due_on, id)."""
    return and_(Report.junk.is_(False), Report.due_on < on)
