"""The queue: filters, sorting, pagination, deadlines, and no decryption."""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from sqlalchemy import update
from triage_support import (
    clear_header_counts,
    is_login_redirect,
    page_text,
    queue_references,
    queue_row,
    queue_total,
    seed_report,
    sign_in_reviewer,
)

from portal.reports.models import Report, today

OVERDUE_TAG = 'govuk-tag--red">Overdue<'


def _set(database, reference: str, **values) -> None:
    with database.transaction() as session:
        session.execute(update(Report).where(Report.reference == reference).values(**values))


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


def test_overdue_shows_and_filters(seeded, database):
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
    assert refs[0] == r["mine"] and refs[-1] == r["closed"]  # closed reports have no deadline
    # Unacknowledged, received 4 and 0 days ago: acknowledgement due in 3 and 7 days.
    assert refs.index(r["urgent"]) < refs.index(r["fresh"])
    refs = _refs(seeded["client"], "sort=deadline")
    assert refs.index(r["mine"]) > refs.index(r["fresh"])
    assert refs[-1] == r["closed"]


def test_pagination(triage_app, database, instance_dir, lead, recovery_key):
    made = [seed_report(database, instance_dir, f"bulk {n}")[0] for n in range(55)]
    client = sign_in_reviewer(triage_app.test_client(), lead)
    first = client.get("/")
    assert queue_total(first.data) == 55
    assert "page 1 of 2" in page_text(first)
    page_one = queue_references(first.data)
    assert len(page_one) == 50
    assert 'href="/?page=2"' in page_text(first) and "Previous page" not in page_text(first)
    second = client.get("/?page=2")
    page_two = queue_references(second.data)
    assert len(page_two) == 5
    assert "Previous page" in page_text(second) and "Next page" not in page_text(second)
    assert set(page_one) | set(page_two) == set(made) and not set(page_one) & set(page_two)
    assert page_one + page_two == list(reversed(made))  # same day: newest (highest id) first
    assert queue_references(client.get("/?page=999").data) == page_two  # clamps to the last page
    for junk in ("0", "-1", "abc", "99999999999"):
        assert client.get(f"/?page={junk}").status_code == 200
    assert queue_references(client.get("/?page=abc").data) == page_one


def test_pagination_keeps_filters(triage_app, database, instance_dir, lead, recovery_key):
    made = [seed_report(database, instance_dir, f"bulk {n}")[0] for n in range(52)]
    for reference in made[:51]:
        _set(database, reference, priority="high")
    client = sign_in_reviewer(triage_app.test_client(), lead)
    page = page_text(client.get("/?priority=high&sort=priority"))
    assert "51 reports, page 1 of 2" in page
    assert "priority=high" in page.split("Next page")[0].rsplit("href=", 1)[1]
    assert len(queue_references(client.get("/?priority=high&sort=priority&page=2").data)) == 1


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


QUERIES = ("", "status=assessing", "overdue=1", "sort=priority&order=asc", "sort=deadline", "page=2", "assignee=me",
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
    # Control: the patch is in force, so opening a report (which must decrypt) fails.
    assert client.get(f"/reports/{seeded['refs']['fresh']}").status_code == 500


def test_queue_never_decrypts_once_reports_are_indexed(seeded, monkeypatch):
    client = seeded["client"]
    assert client.get("/").status_code == 200  # a first visit may index new reports in the reviewer's session
    _patch_decryption(monkeypatch, AssertionError)
    for query in QUERIES:
        response = client.get("/" + (f"?{query}" if query else ""))
        assert response.status_code == 200, query
    assert len(queue_references(client.get("/").data)) == 6
    assert client.get(f"/reports/{seeded['refs']['fresh']}").status_code == 500  # control
