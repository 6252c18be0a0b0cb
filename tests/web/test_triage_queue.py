"""The queue: filters, sorting, pagination, deadlines, and no decryption."""

from __future__ import annotations

import datetime as dt
import html
import re
import sys

import pytest
from sqlalchemy import select, update
from triage_support import (
    act_ok,
    clear_header_counts,
    is_login_redirect,
    page_text,
    queue_references,
    queue_row,
    queue_total,
    resign_as_received,
    seed_report,
    sign_in_reviewer,
)

from portal.clock import today
from portal.deadlines import Deadlines
from portal.reports.models import Report
from portal.triage import app as triage_app_module
from portal.triage import listing
from portal.triage.vocabulary import PRIORITY_RANK

OVERDUE_TAG = 'govuk-tag--red">Overdue<'


def _set(database, reference: str, **values) -> None:
    if "priority" in values:  # a Core update bypasses the model, which keeps the rank in step
        values["priority_rank"] = PRIORITY_RANK[values["priority"]]
    with database.transaction() as session:
        session.execute(update(Report).where(Report.reference == reference).values(**values))
        Deadlines(acknowledge_days=7, feedback_days=90).refresh_all(session)


def _refs(client, query: str = "") -> list[str]:
    response = client.get("/" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.status_code
    return queue_references(response.data)


def _total(client, query: str = "") -> int:
    return queue_total(client.get("/" + (f"?{query}" if query else "")).data)


@pytest.fixture
def seeded(triage_app, database, instance_dir, lead, make_reviewer, recovery_key):
    """Six reports in known states (set straight in the workflow columns the queue reads)."""
    other = make_reviewer("rev", "reviewer")
    refs = {name: seed_report(database, instance_dir, f"report {name}")[0]
            for name in ("fresh", "mine", "theirs", "escalated", "closed", "urgent")}
    day = today()
    _set(database, refs["fresh"], received_on=day)
    _set(database, refs["mine"], received_on=day - dt.timedelta(days=1), stage="assessing", category="other", priority="high",
         assignee_id=lead.id, acknowledged_on=day)
    _set(database, refs["theirs"], received_on=day - dt.timedelta(days=2), stage="assessing", category="sexual-harassment",
         assignee_id=other.id, acknowledged_on=day)
    _set(database, refs["escalated"], received_on=day - dt.timedelta(days=3), stage="escalated", category="sexual-harassment",
         escalation_route="professional-standards", priority="high", acknowledged_on=day)
    _set(database, refs["closed"], received_on=day - dt.timedelta(days=200), stage="closed", category="other", closed_on=day,
         acknowledged_on=day - dt.timedelta(days=199))
    _set(database, refs["urgent"], received_on=day - dt.timedelta(days=4), priority="urgent")
    client = sign_in_reviewer(triage_app.test_client(), lead)
    return {"client": client, "refs": refs, "other": other}


def test_queue_needs_sign_in(triage_client):
    assert is_login_redirect(triage_client.get("/"))
    assert is_login_redirect(triage_client.get("/?page=2"))


def test_default_order_is_newest_first(seeded):
    r = seeded["refs"]
    assert _refs(seeded["client"]) == [r["fresh"], r["mine"], r["theirs"], r["escalated"], r["urgent"], r["closed"]]
    assert _refs(seeded["client"], "order=asc") == [r["closed"], r["urgent"], r["escalated"], r["theirs"], r["mine"], r["fresh"]]


FILTER_CASES = [
    ("status=new", {"fresh", "urgent"}),
    ("status=assessing", {"mine", "theirs"}),
    ("status=escalated", {"escalated"}),
    ("status=closed", {"closed"}),
    ("status=closure-pending", set()),
    ("category=sexual-harassment", {"theirs", "escalated"}),
    ("category=other", {"mine", "closed"}),
    ("priority=high", {"mine", "escalated"}),
    ("priority=urgent", {"urgent"}),
    ("priority=normal", {"fresh", "theirs", "closed"}),
    ("assignee=me", {"mine"}),
    ("assignee=none", {"fresh", "escalated", "closed", "urgent"}),
    ("status=assessing&category=sexual-harassment", {"theirs"}),
    ("priority=high&assignee=none", {"escalated"}),
    ("status=bogus", {"fresh", "mine", "theirs", "escalated", "closed", "urgent"}),  # unknown values are ignored
    ("priority=bogus", {"fresh", "mine", "theirs", "escalated", "closed", "urgent"}),
]


def test_filters(seeded):
    names = {ref: name for name, ref in seeded["refs"].items()}
    for query, expected in FILTER_CASES:
        page = seeded["client"].get(f"/?{query}")
        assert page.status_code == 200, query
        assert {names[ref] for ref in queue_references(page.data)} == expected, query
        assert queue_total(page.data) == len(expected), query


def test_filter_by_assignee_id(seeded):
    refs = _refs(seeded["client"], f"assignee={seeded['other'].id}")
    assert refs == [seeded["refs"]["theirs"]]
    row = queue_row(seeded["client"].get("/").data, seeded["refs"]["theirs"])
    assert "Rev" in row


def test_filter_values_are_kept_in_the_form(seeded):
    page = page_text(seeded["client"].get("/?status=assessing&priority=high&assignee=me&overdue=1&sort=priority&order=asc"))
    for snippet in ('<option value="assessing" selected', '<option value="high" selected', '<option value="me" selected',
                    'name="overdue" type="checkbox" value="1" checked', '<option value="priority" selected',
                    '<option value="asc" selected'):
        assert snippet in page, snippet


def test_sort_by_priority(seeded):
    r = seeded["refs"]
    refs = _refs(seeded["client"], "sort=priority")
    assert refs[0] == r["urgent"]
    assert set(refs[1:3]) == {r["mine"], r["escalated"]}
    assert refs[1:3] == [r["mine"], r["escalated"]]  # same priority: newest first
    refs = _refs(seeded["client"], "sort=priority&order=asc")
    assert refs[-1] == r["urgent"] and set(refs[-3:-1]) == {r["mine"], r["escalated"]}


def test_unknown_sort_falls_back_to_received(seeded):
    assert _refs(seeded["client"], "sort=reference; DROP TABLE reports") == _refs(seeded["client"])


def test_overdue_shows_and_filters(seeded, database, instance_dir):
    r = seeded["refs"]
    client = seeded["client"]
    assert _total(client, "overdue=1") == 0
    assert OVERDUE_TAG not in page_text(client.get("/"))

    _set(database, r["fresh"], received_on=today() - dt.timedelta(days=10))  # not acknowledged within 7 days
    _set(database, r["mine"], received_on=today() - dt.timedelta(days=95))  # acknowledged, no feedback within 90 days
    _set(database, r["theirs"], received_on=today() - dt.timedelta(days=10))  # acknowledged: feedback not due yet
    clear_header_counts()
    page = client.get("/")
    assert OVERDUE_TAG in queue_row(page.data, r["fresh"])
    assert OVERDUE_TAG in queue_row(page.data, r["mine"])
    assert OVERDUE_TAG not in queue_row(page.data, r["theirs"])
    assert OVERDUE_TAG not in queue_row(page.data, r["closed"])  # closed 200 days after receipt: never overdue
    assert "2 overdue" in page_text(page)  # the header badge
    assert set(_refs(client, "overdue=1")) == {r["fresh"], r["mine"]}
    assert _total(client, "overdue=1") == 2
    assert _refs(client, "overdue=1&assignee=me") == [r["mine"]]
    resign_as_received(database, instance_dir, r["fresh"])  # its day moved back: signed as received then
    report_page = page_text(client.get(f"/reports/{r['fresh']}"))
    assert OVERDUE_TAG in report_page


def test_due_soon(seeded, database):
    _set(database, seeded["refs"]["fresh"], received_on=today() - dt.timedelta(days=6))
    row = queue_row(seeded["client"].get("/").data, seeded["refs"]["fresh"])
    assert "Due soon" in row and OVERDUE_TAG not in row


def test_deadline_sort_puts_the_earliest_deadline_first(seeded, database):
    r = seeded["refs"]
    # Acknowledged long ago and now 5 days past its feedback deadline, against an
    # unacknowledged report received today (acknowledgement due in 7 days).
    _set(database, r["mine"], received_on=today() - dt.timedelta(days=95))
    refs = _refs(seeded["client"], "sort=deadline&order=asc")
    assert refs.index(r["mine"]) < refs.index(r["fresh"])
    assert refs[0] == r["mine"]
    assert r["closed"] not in refs  # a closed report has no deadline: this order lists open reports
    assert "open reports only" in page_text(seeded["client"].get("/?sort=deadline"))
    # Unacknowledged, received 4 and 0 days ago: acknowledgement due in 3 and 7 days.
    assert refs.index(r["urgent"]) < refs.index(r["fresh"])
    refs = _refs(seeded["client"], "sort=deadline")
    assert refs.index(r["mine"]) > refs.index(r["fresh"])
    assert set(refs) == set(r.values()) - {r["closed"]}


def test_stored_deadline_follows_every_action(seeded, database):
    """due_on is what the queue filters and sorts on: acknowledging, closing and reopening move it."""
    r = seeded["refs"]

    def due(reference):
        with database.transaction() as session:
            return session.scalar(select(Report.due_on).where(Report.reference == reference))

    with database.transaction() as session:
        received = session.scalar(select(Report.received_on).where(Report.reference == r["fresh"]))
    assert due(r["fresh"]) == received + dt.timedelta(days=7)  # set when the report was stored
    client = seeded["client"]
    act_ok(client, r["fresh"], "acknowledge")
    assert due(r["fresh"]) == received + dt.timedelta(days=90)
    assert due(r["closed"]) is None


def _links(page) -> dict[str, str]:
    text = page.data.decode()
    found = {}
    for label in ("First page", "Previous page", "Next page", "Last page"):
        match = re.search(r'href="([^"]+)">' + label + "<", text)
        if match:
            found[label] = html.unescape(match.group(1))
    return found


def test_pagination_by_keyset(triage_app, database, instance_dir, lead, recovery_key):
    made = [seed_report(database, instance_dir, f"bulk {n}")[0] for n in range(105)]
    newest_first = list(reversed(made))  # same day: newest (highest id) first
    client = sign_in_reviewer(triage_app.test_client(), lead)
    first = client.get("/")
    assert queue_total(first.data) == 105
    assert "showing 1 to 50" in page_text(first)
    assert queue_references(first.data) == newest_first[:50]
    assert set(_links(first)) == {"Next page", "Last page"}

    # A report arriving meanwhile does not shift the next page (OFFSET paging would repeat a row).
    seed_report(database, instance_dir, "arrived while the reviewer was reading")
    second = client.get(_links(first)["Next page"])
    assert queue_references(second.data) == newest_first[50:100]
    assert "showing 51 to 100" in page_text(second)
    assert set(_links(second)) == {"First page", "Previous page", "Next page", "Last page"}
    third = client.get(_links(second)["Next page"])
    assert queue_references(third.data) == newest_first[100:]
    assert set(_links(third)) == {"First page", "Previous page"}
    back = client.get(_links(third)["Previous page"])
    assert queue_references(back.data) == newest_first[50:100]
    assert "showing 51 to 100" in page_text(back)

    last = client.get(_links(first)["Last page"])
    assert queue_references(last.data) == newest_first[55:]  # the 50 oldest (of 106 now), newest of them first
    assert "showing 57 to 106" in page_text(last) and "Next page" not in _links(last)
    assert queue_references(client.get(_links(last)["First page"]).data)[1:] == newest_first[:49]

    oldest_first = client.get("/?order=asc")
    assert queue_references(oldest_first.data) == made[:50]
    assert queue_references(client.get(_links(oldest_first)["Next page"]).data) == made[50:100]


@pytest.mark.parametrize("junk", ["after=abc", "after=2026-13-01.5", "before=2026-01-01", "after=2026-01-01.1.1",
                                  "after=" + "9" * 50, "after=2026-01-01.99999999999", "before=%E2%80%AE2026-01-01.1", "start=-1",
                                  "start=99999999999", "page=2", "last=yes", "after=2026-01-01.1' OR '1'='1"])
def test_pagination_ignores_junk_cursors(seeded, junk):
    assert seeded["client"].get(f"/?{junk}").status_code == 200
    assert _refs(seeded["client"], junk) in (_refs(seeded["client"]), [])


def test_total_is_capped(seeded, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    page = page_text(seeded["client"].get("/"))
    assert "More than 3 reports" in page
    assert len(_refs(seeded["client"])) == 6  # the cap limits the count, never the rows


def test_header_counts_are_capped_too(triage_app, seeded, database, monkeypatch):
    """The overdue and approvals badges count up to the cap, like the total: at a million reports an
    uncapped count reads every overdue row on each refresh."""
    day = today()
    for name in ("fresh", "mine", "theirs", "escalated", "urgent"):  # five open reports, all overdue
        _set(database, seeded["refs"][name], received_on=day - dt.timedelta(days=400))
    for name in ("mine", "theirs", "escalated", "urgent"):
        _set(database, seeded["refs"][name], stage="closure-pending")
    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    triage_app_module._badges.clear()
    header = re.sub(r"\s+", " ", page_text(seeded["client"].get("/")).split("</header>")[0])
    assert "3+ overdue" in header
    assert re.search(r"Awaiting your approval <span class=\"portal-badge\">3\+</span>", header)
    monkeypatch.setattr(listing, "COUNT_CAP", 1_000)
    triage_app_module._badges.clear()
    header = re.sub(r"\s+", " ", page_text(seeded["client"].get("/")).split("</header>")[0])
    assert "5 overdue" in header and re.search(r"Awaiting your approval <span class=\"portal-badge\">4</span>", header)


def test_pagination_keeps_filters(triage_app, database, instance_dir, lead, recovery_key):
    made = [seed_report(database, instance_dir, f"bulk {n}")[0] for n in range(52)]
    for reference in made[:51]:
        _set(database, reference, priority="high")
    client = sign_in_reviewer(triage_app.test_client(), lead)
    first = client.get("/?priority=high&sort=priority")
    assert "51 reports, showing 1 to 50" in page_text(first)
    following = _links(first)["Next page"]
    assert "priority=high" in following and "sort=priority" in following
    assert len(queue_references(client.get(following).data)) == 1


def _patch_decryption(monkeypatch, error: type[BaseException]) -> None:
    """Make every decryption entry point in the portal's modules raise `error`."""

    def refuse(*args, **kwargs):
        raise error("no decryption here")

    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "") or ""
        if not name.startswith("portal"):
            continue
        for attr in ("open_record", "unwrap_dek", "unwrap_inner", "open_attachment_meta", "decrypt_attachment"):
            if callable(getattr(module, attr, None)):
                monkeypatch.setattr(module, attr, refuse)


QUERIES = ("", "status=assessing", "overdue=1", "sort=priority&order=asc", "sort=deadline", "last=1", "assignee=me",
           "category=other")


def test_queue_renders_when_nothing_can_be_decrypted(seeded, monkeypatch):
    """Everything the queue shows is metadata: it renders even if no report can be opened."""
    from portal.crypto import CryptoError

    client = seeded["client"]
    _patch_decryption(monkeypatch, CryptoError)
    for query in QUERIES:
        response = client.get("/" + (f"?{query}" if query else ""))
        assert response.status_code == 200, query
    assert len(queue_references(client.get("/").data)) == 6
    assert "Sexual harassment" in page_text(client.get("/"))
    # Control: the patch is in force, so opening a report (which must decrypt) fails: a key that does
    # not open is shown as the report being altered (issue 19), never as content.
    opened = client.get(f"/reports/{seeded['refs']['fresh']}")
    assert "altered after it was received" in page_text(opened) and "What happened" not in page_text(opened)


def test_queue_never_decrypts_once_reports_are_indexed(seeded, monkeypatch):
    client = seeded["client"]
    assert client.get("/").status_code == 200  # a first visit may index new reports in the reviewer's session
    _patch_decryption(monkeypatch, AssertionError)
    for query in QUERIES:
        response = client.get("/" + (f"?{query}" if query else ""))
        assert response.status_code == 200, query
    assert len(queue_references(client.get("/").data)) == 6
    assert client.get(f"/reports/{seeded['refs']['fresh']}").status_code == 500  # control
