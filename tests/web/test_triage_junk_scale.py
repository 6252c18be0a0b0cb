"""A flood of junk never slows the queue: with 100,000 junk reports (the newest ones, all readable
by the reviewer, none of them subject-indexed) and 100 genuine ones, the queue's first page, its
count, the overdue badge and the subject-indexing step do the same work as with no junk at all.

The work is measured, not timed: on SQLite as virtual-machine steps (a progress handler), on
PostgreSQL as the rows every plan node read or threw away (EXPLAIN ANALYZE of each statement the
queue ran). An implementation that filtered junk after walking an index ordered by date would read
the 100,000 junk entries first and fail both.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable

import pytest
from sqlalchemy import event, insert, select, text

from portal.clock import today
from portal.config import load_settings
from portal.reports.models import Report
from portal.triage import listing
from portal.triage.context import Actor, Context
from portal.triage.models import Reviewer

GENUINE, JUNK = 100, 100_000


def _rows(start: int, count: int, junk: bool, received: dt.date) -> list[dict]:
    return [{
        "public_id": n.to_bytes(16, "big"), "reference": f"R-{n:09d}", "lookup_id": n.to_bytes(32, "big"),
        "received_on": received, "reporter_urgent": False, "encrypted_in_browser": True, "sealed_report": b"sealed",
        "reporter_wrap": b"wrap", "stage": "new", "risk_flags": "", "priority": "normal", "priority_rank": 0,
        "due_on": None if junk else received + dt.timedelta(days=7), "subjects_indexed": not junk, "names_reviewer": False,
        "rule_reasons": "", "junk": junk, "junk_on": received if junk else None, "junk_reason": "flood" if junk else None,
    } for n in range(start, start + count)]


def _add_reports(session, rows: list[dict], fingerprint: str) -> None:
    for chunk in range(0, len(rows), 5000):
        session.execute(insert(Report), rows[chunk:chunk + 5000])
    first = rows[0]["reference"]
    session.execute(text("INSERT INTO key_wraps (report_id, recipient_fingerprint, wrap) "
                         "SELECT id, :fp, :wrap FROM reports WHERE reference >= :first"),
                    {"fp": fingerprint, "wrap": b"wrap", "first": first})


def _statements(session, call: Callable[[], object]) -> list[tuple[str, object]]:
    """Run `call`, returning every SQL statement it executed (with its parameters)."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def _rows_examined_postgresql(session, statements: list[tuple[str, object]]) -> int:
    """Rows read or discarded by every node of every SELECT, as PostgreSQL counted them."""
    cursor = session.connection().connection.driver_connection.cursor()
    total = 0
    for statement, parameters in statements:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        stack = [plan[0]["Plan"]]
        while stack:
            node = stack.pop()
            loops = node.get("Actual Loops", 1)
            total += loops * (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                              + node.get("Rows Removed by Index Recheck", 0))
            stack.extend(node.get("Plans", []))
    return total


def _sqlite_steps(session, call: Callable[[], object]) -> int:
    raw = session.connection().connection.driver_connection
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    raw.set_progress_handler(count, 100)  # one tick per 100 virtual-machine instructions
    try:
        call()
    finally:
        raw.set_progress_handler(None, 0)
    return steps[0] * 100


@pytest.fixture
def flood(settings_overrides, database, lead):
    """The queue's context and actor. No private key: nothing here may decrypt anything."""
    session = database.session
    reviewer = session.scalar(select(Reviewer).where(Reviewer.id == lead.id))
    ctx = Context(db=session, settings=load_settings(settings_overrides), audit_key=b"a" * 32, blind_index_key=b"b" * 32)
    yield ctx, Actor(reviewer=reviewer, private_key=None), lead.fingerprint
    session.rollback()


def _page(ctx, actor) -> tuple[listing.QueuePage, int]:
    page = listing.queue(ctx, actor, listing.QueueFilters())
    return page, listing.overdue_count(ctx, actor)


def test_the_queue_does_the_same_work_with_100000_junk_reports(flood):
    ctx, actor, fingerprint = flood
    session = ctx.db
    day = today()
    _add_reports(session, _rows(1, GENUINE, junk=False, received=day - dt.timedelta(days=30)), fingerprint)
    session.flush()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("ANALYZE reports")), session.execute(text("ANALYZE key_wraps"))

    def measure() -> int:
        if dialect == "sqlite":
            return _sqlite_steps(session, lambda: _page(ctx, actor))
        return _rows_examined_postgresql(session, _statements(session, lambda: _page(ctx, actor)))

    page, overdue = _page(ctx, actor)
    assert (page.total, len(page.rows), overdue) == (GENUINE, listing.PAGE_SIZE, GENUINE)  # received 30 days ago: overdue
    baseline = measure()

    _add_reports(session, _rows(GENUINE + 1, JUNK, junk=True, received=day), fingerprint)  # newer than every genuine one
    session.flush()
    if dialect == "postgresql":
        session.execute(text("ANALYZE reports")), session.execute(text("ANALYZE key_wraps"))
    started = time.perf_counter()
    page, overdue = _page(ctx, actor)
    elapsed = time.perf_counter() - started
    assert (page.total, len(page.rows), overdue) == (GENUINE, listing.PAGE_SIZE, GENUINE)
    assert all(row.reference <= f"R-{GENUINE:09d}" for row in page.rows)
    with_junk = measure()
    print(f"\n{dialect}: queue page + overdue count with {JUNK:,} junk reports: {elapsed * 1000:.1f} ms; "
          f"work {baseline:,} without junk, {with_junk:,} with")
    assert with_junk < baseline * 1.5 + 2000, (baseline, with_junk)

    junk_page = listing.queue(ctx, actor, listing.QueueFilters(junk=True))  # the Junk view reads its own range
    assert junk_page.total_capped and len(junk_page.rows) == listing.PAGE_SIZE


def test_the_default_queue_reads_the_index_from_its_junk_column(flood):
    """The page query's plan: an index search that starts with `junk`, not a walk that filters it."""
    ctx, actor, _ = flood
    session = ctx.db
    statements = _statements(session, lambda: listing.queue(ctx, actor, listing.QueueFilters()))
    page_query = next((s, p) for s, p in statements if "ORDER BY" in s and "LIMIT" in s)
    if session.get_bind().dialect.name == "sqlite":
        cursor = session.connection().connection.driver_connection.cursor()
        plan = " | ".join(row[-1] for row in cursor.execute("EXPLAIN QUERY PLAN " + page_query[0], page_query[1]))
        assert "USING INDEX ix_reports_queue_received (junk=?" in plan or "USING COVERING INDEX ix_reports_queue_received (junk=?" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # ordered by the index, never sorted
    else:
        _add_reports(session, _rows(1, 2000, junk=True, received=today()), "0" * 32)  # enough rows for a plan worth having
        session.execute(text("ANALYZE reports"))
        cursor = session.connection().connection.driver_connection.cursor()
        cursor.execute("EXPLAIN (FORMAT JSON) " + page_query[0], page_query[1])
        plan = json.dumps(cursor.fetchone()[0])
        assert "ix_reports_queue_received" in plan and "junk = false" in plan.replace("NOT junk", "junk = false"), plan
        assert '"Node Type": "Sort"' not in plan, plan
