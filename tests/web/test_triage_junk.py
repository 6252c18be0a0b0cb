"""Junk reports: marking and restoring (one, and in bulk by a lead), audited, hidden from the queue,
counts, deadlines, links and themes, with the reporter's status unchanged; refused cleanly for the
wrong person or the wrong input; and never in the way of the queue however many there are."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import delete, select, update
from support import csrf_from
from triage_support import (
    clear_header_counts,
    error_text,
    linked_count,
    page_text,
    queue_references,
    queue_total,
    read,
    report_by_reference,
    reporter_status,
    resign_as_received,
    seed_report,
    sign_in_reviewer,
    token_for,
)

from portal import state
from portal.clock import today
from portal.reports.models import KeyWrap, Report
from portal.triage import junk
from portal.triage.audit import AuditEntry, verify_chain
from portal.triage.oversight import themes

JUNK_VIEW = "/?view=junk"


def _entries(database, action: str) -> list[tuple[str, str, dict]]:
    rows = read(database, lambda s: s.execute(select(AuditEntry.actor, AuditEntry.report_ref, AuditEntry.detail)
                                              .where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())
    return [(actor, ref, json.loads(detail)) for actor, ref, detail in rows]


def _set(database, reference: str, **values) -> None:
    with database.transaction() as session:
        session.execute(update(Report).where(Report.reference == reference).values(**values))


def _mark(client, reference: str, reason: str = "flood", details: str = "", token: str | None = None):
    return client.post(f"/reports/{reference}/junk",
                       data={"csrf_token": token or token_for(client), "reason": reason, "details": details})


def _bulk(client, references: list[str], reason: str = "flood", token: str | None = None):
    return client.post("/junk", data={"csrf_token": token or token_for(client), "reason": reason, "report": references})


def _restore(client, reference: str):
    return client.post(f"/reports/{reference}/junk/restore", data={"csrf_token": token_for(client)})


@pytest.fixture
def world(triage_app, database, instance_dir, lead, make_reviewer, recovery_key):
    """Four reports every reviewer in the pool can read; a lead and a reviewer signed in, and a
    reviewer outside the pool who can read none of them."""
    reviewer = make_reviewer("rev", "reviewer")
    outsider = make_reviewer("outsider", "reviewer", receives_new_reports=False)
    made = [seed_report(database, instance_dir, f"report {n}") for n in range(4)]
    return {
        "refs": [reference for reference, _ in made],
        "codes": [code for _, code in made],
        "lead": sign_in_reviewer(triage_app.test_client(), lead),
        "reviewer": sign_in_reviewer(triage_app.test_client(), reviewer),
        "outsider": sign_in_reviewer(triage_app.test_client(), outsider),
    }


# -- one report -------------------------------------------------------------------------


def test_a_reviewer_marks_a_report_as_junk_and_it_leaves_the_queue(world, database, triage_app):
    client, ref = world["reviewer"], world["refs"][0]
    assert b'id="mark-junk"' in client.get(f"/reports/{ref}").data
    response = _mark(client, ref, "flood", details="Same 40 words as the other flood reports")
    assert response.status_code == 302, error_text(response.data)

    assert ref not in queue_references(client.get("/").data)
    assert queue_total(client.get("/").data) == 3
    assert queue_references(client.get(JUNK_VIEW).data) == [ref]
    assert "Automated or part of a flood" in page_text(client.get(JUNK_VIEW))
    report = report_by_reference(database, ref)
    assert (report.junk, report.junk_on, report.junk_reason, report.due_on) == (True, today(), "flood", None)
    assert report.stage == "new"  # the workflow stage (and so the reporter's status) is untouched

    # Audited with the reason code only; the details are an encrypted note, never audit detail.
    assert _entries(database, junk.MARKED) == [("rev", ref, {"note": True, "reason": "flood"})]
    assert len(report.notes) == 1 and b"Same 40 words" not in report.notes[0].sealed_body
    audit_text = read(database, lambda s: " ".join(d for d in s.scalars(select(AuditEntry.detail))))
    assert "Same 40 words" not in audit_text
    page = page_text(client.get(f"/reports/{ref}"))
    assert "Marked as junk" in page and "Same 40 words as the other flood reports" in page  # the note, decrypted
    assert 'id="mark-junk"' not in page
    with database.transaction() as session:
        assert verify_chain(session, state.TRIAGE_SECRETS.get(triage_app).audit_key).ok


def test_restoring_puts_it_back_with_its_deadline(world, database):
    client, ref = world["reviewer"], world["refs"][1]
    received = report_by_reference(database, ref).received_on
    assert _mark(world["lead"], ref, "test").status_code == 302
    response = _restore(client, ref)  # any reviewer who can read it, not only the one who marked it
    assert response.status_code == 302, error_text(response.data)
    report = report_by_reference(database, ref)
    assert (report.junk, report.junk_on, report.junk_reason) == (False, None, None)
    assert report.due_on == received + dt.timedelta(days=7)  # not acknowledged: the acknowledgement deadline
    assert ref in queue_references(client.get("/").data)
    assert queue_references(client.get(JUNK_VIEW).data) == []
    assert _entries(database, junk.RESTORED) == [("rev", ref, {"reason": "test"})]
    assert _restore(client, ref).status_code == 400  # not junk any more: a clear error


def test_the_reporter_still_sees_the_same_status(world, reporter_client):
    ref, code = world["refs"][2], world["codes"][2]
    before = reporter_status(reporter_client, code)
    assert _mark(world["reviewer"], ref, "empty").status_code == 302
    after = reporter_status(reporter_client, code)
    assert before == after == "Received"
    assert "junk" not in reporter_status(reporter_client, code).lower()


def test_junk_is_not_overdue_and_has_no_deadline(world, database):
    client, ref = world["lead"], world["refs"][0]
    _set(database, ref, received_on=today() - dt.timedelta(days=30), due_on=today() - dt.timedelta(days=23))
    clear_header_counts()
    assert queue_total(client.get("/?overdue=1").data) == 1
    assert "1 overdue" in page_text(client.get("/"))
    assert _mark(client, ref, "flood").status_code == 302
    clear_header_counts()
    assert queue_total(client.get("/?overdue=1").data) == 0
    assert "overdue</span>" not in page_text(client.get("/"))
    assert ref not in queue_references(client.get("/?sort=deadline&order=asc").data)


def test_junk_is_left_out_of_themes(world, database, triage_app, instance_dir):
    settings = state.SETTINGS.get(triage_app)
    refs = world["refs"] + [seed_report(database, instance_dir, "one more")[0]]
    for reference in refs:
        _set(database, reference, category="other")
    with database.transaction() as session:
        assert themes(session, settings).category_totals["other"] == 5
    assert _mark(world["lead"], refs[0], "flood").status_code == 302
    with database.transaction() as session:
        assert themes(session, settings).category_totals["other"] is None  # 4: below the threshold


def test_junk_does_not_link_to_genuine_reports(triage_app, database, instance_dir, lead, recovery_key):
    person = [{"name": "Daniel Okafor", "identifier": "PC 4471"}]
    genuine = seed_report(database, instance_dir, "genuine", people=person)[0]
    flood = seed_report(database, instance_dir, "flood", people=person)[0]
    client = sign_in_reviewer(triage_app.test_client(), lead)
    assert linked_count(client.get("/").data, genuine) == 1
    assert _mark(client, flood, "flood").status_code == 302
    assert linked_count(client.get("/").data, genuine) == 0
    assert "repeat_subject" not in report_by_reference(database, genuine).rule_reasons
    assert _restore(client, flood).status_code == 302
    assert linked_count(client.get("/").data, genuine) == 1


@pytest.mark.no_auto_screen
def test_loading_the_queue_indexes_nothing_screening_does(triage_app, database, instance_dir, lead, recovery_key):
    """Indexing no longer waits for a reviewer's queue (issue 12): screening indexes every report on
    arrival, and the queue decrypts and indexes nothing, however many reports wait."""
    from triage_support import screen_now

    waiting = seed_report(database, instance_dir, "waiting", people=[{"name": "Pat Example"}], screen=False)[0]
    client = sign_in_reviewer(triage_app.test_client(), lead)
    client.get("/")
    assert report_by_reference(database, waiting).subjects_indexed is False
    screen_now(database, instance_dir)
    assert report_by_reference(database, waiting).subjects_indexed is True


# -- who may, and what is refused -------------------------------------------------------------


def test_a_reviewer_without_access_cannot_mark_or_restore(world, database):
    ref = world["refs"][0]
    assert _mark(world["outsider"], ref).status_code == 404
    assert _mark(world["lead"], world["refs"][1]).status_code == 302
    assert world["outsider"].post(f"/reports/{world['refs'][1]}/junk/restore",
                                  data={"csrf_token": token_for(world["outsider"])}).status_code == 404
    assert report_by_reference(database, ref).junk is False
    assert report_by_reference(database, world["refs"][1]).junk is True


def _urgent(database, instance_dir, reference: str) -> None:
    """As if the reporter had said someone is at risk now (the flag is signed: set it and sign again)."""
    _set(database, reference, reporter_urgent=True)
    resign_as_received(database, instance_dir, reference)


def test_urgent_reports_need_a_lead_and_escalated_ones_cannot_be_junk(world, database, instance_dir):
    urgent, escalated = world["refs"][0], world["refs"][1]
    _urgent(database, instance_dir, urgent)
    _set(database, escalated, stage="escalated", escalation_route="professional-standards")
    page = page_text(world["reviewer"].get(f"/reports/{urgent}"))
    assert "only a lead can mark it as junk" in page and 'action="/reports/' + urgent + '/junk"' not in page
    response = _mark(world["reviewer"], urgent)
    assert response.status_code == 403 and "only a lead" in error_text(response.data)
    response = _mark(world["lead"], escalated)
    assert response.status_code == 400 and "cannot be marked as junk" in error_text(response.data)
    # Opened with the reporter's "someone at risk now", it is a high-risk report: closure only.
    response = _mark(world["lead"], urgent)
    assert response.status_code == 400 and "flagged high-risk" in error_text(response.data)
    unopened = world["refs"][2]  # a flood is junked from the queue by a lead, unopened
    _urgent(database, instance_dir, unopened)
    assert _mark(world["lead"], unopened).status_code == 302
    assert _entries(database, junk.MARKED) == [("lead", unopened, {"note": False, "reason": "flood"})]


@pytest.mark.parametrize("reason", ["", "spam", "flood' OR '1'='1", "x" * 5000, "ﬂood"])
def test_an_unknown_reason_is_a_clear_error(world, database, reason):
    response = _mark(world["reviewer"], world["refs"][0], reason)
    assert response.status_code == 400
    assert "Choose why" in error_text(response.data)
    response = _bulk(world["lead"], world["refs"][:2], reason)
    assert response.status_code == 400 and "Choose why" in page_text(response)
    assert _entries(database, junk.MARKED) == []


def test_details_are_limited(world):
    response = _mark(world["reviewer"], world["refs"][0], "flood", details="x" * 1001)
    assert response.status_code == 400 and error_text(response.data)


def test_csrf_missing_or_from_another_session_is_refused(world, database):
    client, ref = world["lead"], world["refs"][0]
    assert client.post(f"/reports/{ref}/junk", data={"reason": "flood"}).status_code == 400
    assert client.post("/junk", data={"reason": "flood", "report": [ref]}).status_code == 400
    assert client.post(f"/reports/{ref}/junk/restore").status_code == 400
    someone_elses = token_for(world["reviewer"])  # a token replayed from another reviewer's session
    assert _mark(client, ref, token=someone_elses).status_code == 400
    assert _bulk(client, [ref], token=someone_elses).status_code == 400
    cross_site = client.post("/junk", data={"csrf_token": token_for(client), "reason": "flood", "report": [ref]},
                             headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    assert report_by_reference(database, ref).junk is False
    assert _entries(database, junk.MARKED) == []


# -- in bulk ------------------------------------------------------------------------------


def test_a_lead_marks_several_at_once(world, database):
    client, refs = world["lead"], world["refs"]
    page = client.get("/").data
    assert b'id="bulk-junk"' in page and f'value="{refs[0]}" form="bulk-junk"'.encode() in page
    response = _bulk(client, [refs[0], refs[2], refs[0]], "duplicate")  # a repeated tick counts once
    assert response.status_code == 302, page_text(response)[-2000:]
    assert "Marked 2 reports as junk" in page_text(client.get("/"))
    assert set(queue_references(client.get("/").data)) == {refs[1], refs[3]}
    assert set(queue_references(client.get(JUNK_VIEW).data)) == {refs[0], refs[2]}
    entries = _entries(database, junk.MARKED)
    assert sorted(ref for _, ref, _ in entries) == sorted([refs[0], refs[2]])
    assert all(actor == "lead" and detail == {"bulk": True, "reason": "duplicate"} for actor, _, detail in entries)


def test_bulk_is_refused_to_a_reviewer(world, database):
    client = world["reviewer"]
    page = client.get("/").data
    assert b'id="bulk-junk"' not in page and b'name="report"' not in page  # no bulk controls at all
    response = _bulk(client, world["refs"][:2])
    assert response.status_code == 403
    assert "Only a lead" in page_text(response)
    assert _entries(database, junk.MARKED) == []


def test_bulk_is_all_or_nothing(world, database, instance_dir):
    refs = world["refs"]
    _set(database, refs[1], stage="closed", closed_on=today(), due_on=None)
    response = _bulk(world["lead"], [refs[0], refs[1]])
    assert response.status_code == 400 and "cannot be marked as junk" in page_text(response)
    assert report_by_reference(database, refs[0]).junk is False
    unreadable = seed_report(database, instance_dir, "not wrapped to the lead")[0]
    with database.transaction() as session:  # nobody holds its key any more: the lead cannot read it
        session.execute(delete(KeyWrap).where(KeyWrap.report_id == select(Report.id).where(Report.reference == unreadable)
                                              .scalar_subquery()))
    response = _bulk(world["lead"], [refs[0], unreadable])
    assert response.status_code == 400 and "could not be found" in page_text(response)
    assert _entries(database, junk.MARKED) == []


@pytest.mark.parametrize("selection, message", [
    ([], "Select at least one report"),
    ([f"R-{n:04d}" for n in range(junk.MAX_BULK + 1)], f"at most {junk.MAX_BULK}"),
    (["1", "2", "３"], "Select reports from the list"),
    (["R-" + "9" * 40], "Select reports from the list"),
    (["R-AAAA\u202eBBBB"], "Select reports from the list"),
    (["R-NOPE-NOPE"], "could not be found"),
])
def test_bulk_garbage_is_a_clear_error(world, database, selection, message):
    response = _bulk(world["lead"], selection)
    assert response.status_code == 400, response.status_code
    assert message in page_text(response)
    assert _entries(database, junk.MARKED) == []


def test_bulk_with_very_many_fields_is_refused_without_a_server_error(world):
    response = _bulk(world["lead"], [f"R-{n:05d}" for n in range(5000)])
    assert response.status_code in (400, 413)


def test_bulk_keeps_the_queue_page_working_on_error(world):
    response = _bulk(world["lead"], [], "flood")
    assert response.status_code == 400
    assert len(queue_references(response.data)) == 4  # the queue is shown again, with the error
    assert csrf_from(response.data)
