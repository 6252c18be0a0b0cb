"""Linking reports about one person, conflicts of interest, rules (issue: patterns and oversight)."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select
from support import csrf_from, submit_report

from portal.reports.models import Report, SubjectIndex


def reviewer_client(app, account, step_offset: int = 0):
    client = app.test_client()
    token = csrf_from(client.get("/login").data)
    response = client.post("/login", data={"csrf_token": token, "login": account.login, "passphrase": account.passphrase})
    assert response.status_code == 302, response.data[-500:]
    code = pyotp.TOTP(account.totp_secret).at(time.time() + 30 * step_offset)
    response = client.post("/login/code", data={"csrf_token": token, "code": code})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    return client


def references(html: bytes) -> list[str]:
    return sorted(set(re.findall(r"R-[A-Z0-9]{4}-[A-Z0-9]{4}", html.decode())))


@pytest.fixture
def three_reports(reporter_client):
    """Three reporters, three spellings of one officer, plus one unrelated report."""
    submit_report(reporter_client, what_happened="first", **{"people-0-name": "Sgt. John O'Neill"})
    submit_report(reporter_client, what_happened="second", **{"people-0-name": "john oneill", "people-0-identifier": "AB 1234"})
    submit_report(reporter_client, what_happened="third", **{"people-0-name": "PC Jim Smith", "people-0-identifier": "ab-1234"})
    submit_report(reporter_client, what_happened="unrelated", **{"people-0-name": "Mary Jones"})


def linked_column(html: bytes) -> dict[str, str]:
    rows = re.findall(r'portal-ref" href="/reports/(R-[A-Z0-9-]+)".*?govuk-table__cell--numeric">(?:<strong class="portal-linked">)?(\d+)',
                      html.decode(), re.S)
    return dict(rows)


def test_spelling_variants_and_numbers_link_across_reporters(three_reports, triage_app, lead, database):
    client = reviewer_client(triage_app, lead)
    queue = client.get("/").data
    counts = linked_column(queue)
    # direct links: 1 and 2 share the name, 2 and 3 the collar number
    assert sorted(counts.values()) == ["0", "1", "1", "2"]
    with database.transaction() as session:
        assert all(session.scalars(select(Report.subjects_indexed)))
        # the rule fired and raised priority on the linked reports only
        rows = session.execute(select(Report.rule_reasons, Report.priority)).all()
    assert sorted(r.priority for r in rows) == ["high", "high", "high", "normal"]
    linked_ref = next(ref for ref, n in counts.items() if n == "2")  # report 2
    page = client.get(f"/reports/{linked_ref}").data
    assert b"2 other reports" in page and b"Other reports name the same person" in page


def test_no_subject_name_in_clear(three_reports, triage_app, lead, database, instance_dir):
    client = reviewer_client(triage_app, lead)
    client.get("/")
    raw = b"".join(p.read_bytes() for p in instance_dir.rglob("*") if p.is_file())
    if not database.engine.url.get_backend_name().startswith("sqlite"):
        with database.transaction() as session:
            raw += repr(session.execute(select(SubjectIndex.value)).all()).encode()
    for name in (b"O'Neill", b"oneill", b"ONEILL", b"Jones", b"jones", b"AB1234", b"AB 1234"):
        assert name not in raw


@pytest.fixture
def second(make_reviewer):
    return make_reviewer("second", "reviewer")


def test_conflict_hides_report_in_queue_counts_and_url(second, three_reports, triage_app, lead, database):
    client = reviewer_client(triage_app, second)
    before = references(client.get("/").data)
    assert len(before) == 4
    token = csrf_from(client.get("/account").data)
    response = client.post("/account/conflicts", data={"csrf_token": token, "name": "John O'Neill", "identifier": ""})
    assert response.status_code == 302
    queue = client.get("/").data
    visible = references(queue)
    assert len(visible) == 2  # the two reports naming John O'Neill are gone
    assert set(linked_column(queue).values()) <= {"0", "1"}  # counts no longer include hidden reports
    hidden = sorted(set(before) - set(visible))
    for ref in hidden:
        assert client.get(f"/reports/{ref}").status_code == 404
    # Hidden cryptographically, not only by a query: the conflicted reviewer's key wraps are gone.
    from portal.reports.models import KeyWrap

    with database.transaction() as session:
        wrapped = set(session.scalars(select(Report.reference).join(KeyWrap, KeyWrap.report_id == Report.id)
                                      .where(KeyWrap.recipient_fingerprint == second.fingerprint)))
    assert wrapped == set(visible)
    account = client.get("/account").data
    assert b"John O&#39;Neill" in account or b"John O'Neill" in account


def test_report_naming_a_reviewer_goes_to_leads_only(reporter_client, triage_app, lead, make_reviewer):
    other = make_reviewer("other", "reviewer")
    # Declare the reviewer's own identity as they would on their account page.
    client = reviewer_client(triage_app, other)
    token = csrf_from(client.get("/account").data)
    client.post("/account/conflicts", data={"csrf_token": token, "name": "Olive Otherton", "identifier": "", "own_identity": "y"})
    submit_report(reporter_client, what_happened="about a reviewer", **{"people-0-name": "Olive Otherton"})
    lead_client = reviewer_client(triage_app, lead)
    lead_queue = lead_client.get("/").data
    assert len(references(lead_queue)) == 1
    ref = references(lead_queue)[0]
    page = lead_client.get(f"/reports/{ref}").data
    assert b"names a reviewer of this portal" in page and b"external oversight" in page
    assert references(client.get("/").data) == []
    assert client.get(f"/reports/{ref}").status_code == 404


def test_reviewer_can_add_and_remove_identifiers(reporter_client, triage_app, lead):
    submit_report(reporter_client, what_happened="no names given")
    submit_report(reporter_client, what_happened="names", **{"people-0-name": "Peter Parker"})
    client = reviewer_client(triage_app, lead)
    refs = references(client.get("/").data)
    page_refs = {ref: client.get(f"/reports/{ref}").data for ref in refs}
    unnamed = next(ref for ref, page in page_refs.items() if b"no names given" in page)
    token = csrf_from(page_refs[unnamed])
    response = client.post(f"/reports/{unnamed}/subjects", data={"csrf_token": token, "name": "Pete Parker", "identifier": ""})
    assert response.status_code == 302
    page = client.get(f"/reports/{unnamed}").data
    assert b"1 other report" in page and b"Pete Parker" in page
    subject_id = re.search(rb"/subjects/(\d+)/remove", page).group(1).decode()
    client.post(f"/reports/{unnamed}/subjects/{subject_id}/remove", data={"csrf_token": csrf_from(page)})
    assert b"other report" not in client.get(f"/reports/{unnamed}").data


def test_someone_at_risk_now_is_urgent(reporter_client, triage_app, lead):
    submit_report(reporter_client, what_happened="danger", risk_now="yes")
    client = reviewer_client(triage_app, lead)
    queue = client.get("/").data
    assert b"Urgent" in queue and b"someone at risk now" in queue
