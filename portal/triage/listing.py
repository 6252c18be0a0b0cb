"""The queue: one page of the reports a reviewer may read, from indexed metadata only, and the
header's counts. Nothing here is decrypted except reports no session has indexed yet."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Date, exists, false, func, select, tuple_

from portal import deadlines
from portal.clock import today
from portal.deadlines import Deadlines
from portal.reports.models import Message, Report
from portal.triage import linking, mandatory
from portal.triage.closure import not_approvable_by
from portal.triage.context import Actor, Context, small_int
from portal.triage.models import Reviewer
from portal.triage.referral_records import QUEUE_LABELS
from portal.triage.service import readable
from portal.triage.vocabulary import PRIORITIES, STAGES, Stage

PAGE_SIZE = 50
# The queue's counts are exact up to here ("More than 1,000 reports", "1,000+ overdue"). Each counted
# report costs an index probe (is it wrapped to me?): 10,000 of them were most of a page's time at a
# million reports, and past a thousand a reviewer filters rather than reads a number.
COUNT_CAP = 1_000


@dataclass
class QueueFilters:
    status: str = ""  # a stage key
    category: str = ""
    risk: str = ""  # a priority key
    assignee: str = ""  # "me", "none" or a reviewer id
    overdue: bool = False
    attention: str = ""  # "unread" (the reporter wrote), "new-information" (after closure), "approval" (awaiting mine),
    # "referral-due" (a mandatory referral not yet sent)
    junk: bool = False  # the Junk view instead of the queue (each reads its own index range)
    sort: str = "received"  # received | deadline | priority
    descending: bool = True
    # Where the page starts (keyset pagination): after or before a row's sort key, or the last page.
    after: str = ""
    before: str = ""
    last: bool = False
    start: int = 1  # position of the page's first row, carried in the links for display only


@dataclass
class QueueRow:
    reference: str
    received_on: dt.date
    age_days: int
    stage: str
    status_label: str
    category: str
    priority: str
    reporter_urgent: bool
    risk_flags: list[str]
    assignee: str
    deadline: str
    due_on: dt.date | None
    linked: int  # same person or confirmed, among reports this reviewer may read
    deadline_label: str = ""  # "Acknowledge by" until acknowledged, then "Feedback by"
    reporter_unread: bool = False
    new_information: bool = False
    awaiting_my_approval: bool = False
    junk_on: dt.date | None = None
    junk_reason: str = ""  # a key of portal.triage.junk.JUNK_REASONS
    linked_more: bool = False  # more linked reports than were checked: `linked` is "at least"
    referral: str = ""  # portal.triage.mandatory.state: "", "due", "overdue" or "referred"
    referral_due_on: dt.date | None = None
    referral_label: str = ""  # the newest referral's status, once one was sent


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int  # exact up to COUNT_CAP
    total_capped: bool  # True: more than COUNT_CAP reports match
    start: int | None  # position of the first row, None when not known (last page of a capped list)
    has_previous: bool
    has_next: bool
    first_key: str  # cursors for the previous and next links
    last_key: str
    filters: QueueFilters = field(default_factory=QueueFilters)


def _sort_columns(sort: str) -> list:
    """The queue's orders; each is one index of `reports` (see Report.__table_args__)."""
    if sort == "deadline":
        return [Report.due_on, Report.id]
    if sort == "priority":
        return [Report.priority_rank, Report.received_on, Report.id]
    return [Report.received_on, Report.id]


def _cursor(report: Report, sort: str) -> str:
    return ".".join(str(getattr(report, col.key)) for col in _sort_columns(sort))


def _parse_cursor(text: str, sort: str) -> list | None:
    """The sort key encoded by _cursor, or None for anything else (client input)."""
    columns = _sort_columns(sort)
    parts = text.split(".") if 0 < len(text) <= 40 and text.isascii() else []
    if len(parts) != len(columns):
        return None
    values = []
    for col, part in zip(columns, parts, strict=True):
        if isinstance(col.type, Date):
            try:
                values.append(dt.date.fromisoformat(part))
            except ValueError:
                return None
        elif (number := small_int(part)) is not None:
            values.append(number)
        else:
            return None
    return values


def queue(ctx: Context, actor: Actor, filters: QueueFilters) -> QueuePage:
    """One page of the queue, from indexed metadata only.

    Pages are found by keyset (the rows after or before a sort key), not OFFSET: each order is
    an index, so a page reads about 50 index entries however deep it is. The total is counted
    up to COUNT_CAP. Nothing is decrypted: new reports were screened (portal.triage.screening)
    before any reviewer could read them.
    """
    on = today()
    query = readable(actor).where(Report.junk.is_(filters.junk))  # leads every queue index: see Report
    if filters.status in STAGES:
        query = query.where(Report.stage == filters.status)
    if filters.category:
        query = query.where(Report.category == filters.category)
    if filters.risk in PRIORITIES:
        query = query.where(Report.priority == filters.risk)
    if filters.assignee == "me":
        query = query.where(Report.assignee_id == actor.reviewer.id)
    elif filters.assignee == "none":
        query = query.where(Report.assignee_id.is_(None))
    elif (assignee_id := small_int(filters.assignee)) is not None:
        query = query.where(Report.assignee_id == assignee_id)
    rules = Deadlines.from_settings(ctx.settings)
    if filters.overdue:
        # Implied by the stored deadline (received_on + one of the two periods), and what lets the
        # newest-first order start at the first report that can be overdue: without it, at a million
        # reports, the page skipped ~80,000 recent, not yet overdue rows (~300 ms).
        earliest_gap = dt.timedelta(days=min(rules.acknowledge_days, rules.feedback_days))
        query = query.where(deadlines.overdue_clause(on), Report.received_on < on - earliest_gap)
    if filters.attention == "unread":
        query = query.where(unread_clause())
    elif filters.attention == "new-information":
        query = query.where(new_information_clause())
    elif filters.attention == "approval":
        query = query.where(_awaiting_approval(not_approvable_by(ctx, actor.reviewer) if actor.is_lead else None))
    elif filters.attention == "referral-due":
        query = query.where(mandatory.due_clause())
    if filters.sort == "deadline":  # closed reports have no deadline: this order lists open reports
        query = query.where(Report.due_on.is_not(None))
    ids = query.with_only_columns(Report.id)
    counted = ctx.db.scalar(select(func.count()).select_from(ids.limit(COUNT_CAP + 1).subquery())) or 0

    columns = _sort_columns(filters.sort)
    key = tuple_(*columns)
    after, before = _parse_cursor(filters.after, filters.sort), _parse_cursor(filters.before, filters.sort)
    backwards = before is not None or (filters.last and after is None)  # walk from the far end, then flip
    if after is not None:
        ids = ids.where(key < tuple_(*after) if filters.descending else key > tuple_(*after))
    elif before is not None:
        ids = ids.where(key > tuple_(*before) if filters.descending else key < tuple_(*before))
    descending = filters.descending != backwards
    page_ids = list(ctx.db.scalars(ids.order_by(*[c.desc() if descending else c.asc() for c in columns]).limit(PAGE_SIZE + 1)))
    more = len(page_ids) > PAGE_SIZE
    page_ids = page_ids[:PAGE_SIZE]
    if backwards:
        page_ids.reverse()
    by_id = {r.id: r for r in ctx.db.scalars(select(Report).where(Report.id.in_(page_ids)))}
    reports = [by_id[i] for i in page_ids]

    if backwards:
        has_previous, has_next = more, before is not None
    else:
        has_previous, has_next = after is not None, more
    if not has_previous:
        start = 1
    elif backwards and before is None:  # the last page
        start = counted - len(reports) + 1 if counted <= COUNT_CAP else None
    else:
        start = max(1, filters.start) if filters.start else None

    linked = linking.linked_counts(ctx.db, readable(actor).where(Report.junk.is_(False)), [r.id for r in reports])
    names = dict(ctx.db.execute(select(Reviewer.id, Reviewer.display_name)).all())
    taxonomy = ctx.settings.taxonomy
    unread = set(ctx.db.scalars(select(Message.report_id).where(Message.report_id.in_(page_ids), Message.unread)))
    after_closure = set(ctx.db.scalars(select(Message.report_id).where(Message.report_id.in_(page_ids),
                                                                      Message.after_closure)))
    excluded = not_approvable_by(ctx, actor.reviewer) if actor.is_lead and any(
        r.stage == Stage.CLOSURE_PENDING for r in reports) else None
    approvable = {r.id for r in reports if excluded is not None and r.stage == Stage.CLOSURE_PENDING
                  and r.closure_proposer_id not in excluded}
    rows = [
        QueueRow(
            reference=r.reference,
            received_on=r.received_on,
            age_days=(on - r.received_on).days,
            stage=r.stage,
            status_label=STAGES.get(r.stage, r.stage),
            category=taxonomy.label(r.category) if r.category else "",
            priority=r.priority,
            reporter_urgent=r.reporter_urgent,
            risk_flags=[f for f in r.risk_flags.split(",") if f],
            assignee=names.get(r.assignee_id, "") if r.assignee_id else "",
            deadline=rules.state(r, on),
            due_on=rules.due_on(r),
            linked=linked.get(r.id, (0, False))[0],
            linked_more=linked.get(r.id, (0, False))[1],
            deadline_label=_("Acknowledge by") if r.acknowledged_on is None else _("Feedback by"),
            reporter_unread=r.id in unread,
            new_information=r.stage == Stage.CLOSED and r.id in after_closure,
            awaiting_my_approval=r.stage == Stage.CLOSURE_PENDING and r.id in approvable,
            junk_on=r.junk_on,
            junk_reason=r.junk_reason or "",
            referral=mandatory.state(r, on),
            referral_due_on=r.referral_due_on,
            referral_label=str(QUEUE_LABELS.get(r.referral_status, "")) if r.referral_status else "",
        )
        for r in reports
    ]
    return QueuePage(
        rows=rows,
        total=min(counted, COUNT_CAP),
        total_capped=counted > COUNT_CAP,
        start=start,
        has_previous=has_previous,
        has_next=has_next,
        first_key=_cursor(reports[0], filters.sort) if reports else "",
        last_key=_cursor(reports[-1], filters.sort) if reports else "",
        filters=filters,
    )


def overdue_count(ctx: Context, actor: Actor) -> int:
    """Overdue reports the actor may read, counted up to COUNT_CAP + 1 (the header then says "1,000+"):
    an uncapped count reads every overdue row, which at a million reports is most of a second."""
    query = readable(actor).where(deadlines.overdue_clause(today()))  # junk has no deadline: never overdue
    return ctx.db.scalar(select(func.count()).select_from(
        query.with_only_columns(Report.id).limit(COUNT_CAP + 1).subquery())) or 0


def unread_clause() -> ColumnElement[bool]:
    """A message from the reporter the handler has not opened (Report.reporter_unread, in SQL)."""
    return exists(select(Message.id).where(Message.report_id == Report.id, Message.unread))


def new_information_clause() -> ColumnElement[bool]:
    """Closed, with a message from after closure nobody has decided on (Report.new_information, in SQL)."""
    return (Report.stage == Stage.CLOSED) & exists(
        select(Message.id).where(Message.report_id == Report.id, Message.after_closure))


def _awaiting_approval(excluded: set[int] | None) -> ColumnElement[bool]:
    """Pending closures proposed by someone this lead is independent of (`excluded`: the proposers
    they are not; None: not a lead). Conflicted reports are already out of `readable`."""
    if excluded is None:
        return false()
    return (Report.stage == Stage.CLOSURE_PENDING) & (
        Report.closure_proposer_id.is_(None) | Report.closure_proposer_id.not_in(excluded))


def pending_approvals(ctx: Context, actor: Actor) -> int:
    """Closures awaiting this lead's approval (closure.can_approve, for every readable report at once)."""
    if not actor.is_lead:
        return 0
    query = readable(actor).where(Report.junk.is_(False), _awaiting_approval(not_approvable_by(ctx, actor.reviewer)))
    return ctx.db.scalar(select(func.count()).select_from(
        query.with_only_columns(Report.id).limit(COUNT_CAP + 1).subquery())) or 0


def attention_counts(ctx: Context, actor: Actor) -> tuple[int, int]:
    """(reports with an unread message from the reporter, reports with new information after closure),
    each exact up to COUNT_CAP like the queue's own counts."""
    base = readable(actor).where(Report.junk.is_(False)).with_only_columns(Report.id)
    unread = ctx.db.scalar(select(func.count()).select_from(base.where(unread_clause()).limit(COUNT_CAP + 1).subquery())) or 0
    new = ctx.db.scalar(select(func.count()).select_from(
        base.where(new_information_clause()).limit(COUNT_CAP + 1).subquery())) or 0
    return unread, new
