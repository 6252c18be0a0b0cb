"""Screening: every new report is screened by the triage host, with nobody signed in, before any
reviewer holds its key or sees it in a queue or a count; junk cannot starve it (issue 12).

These tests run the screening worker themselves (a real thread, as `portal screen` runs it), so
their triage apps do not screen before each request (no_auto_screen).
"""

from __future__ import annotations

import base64
import os
import time

import pytest
from sqlalchemy import select
from support import browser_report, csrf_from, post_browser_report, submit_report, work_fields
from triage_support import clear_header_counts, integrity_checker, queue_total, read, references, signed_in_client, token_for

from portal.config import load_settings
from portal.reports.models import HeldWrap, KeyWrap, Report, SubjectIndex
from portal.triage import audit, screener, screening
from portal.triage.models import Reviewer

pytestmark = pytest.mark.no_auto_screen

CONFLICTED = ("John O'Neill", "PC 4471")


@pytest.fixture
def worker(database, settings_overrides):
    """Start the screening worker (what portal-screen.service runs) on demand; stopped after the test."""
    stops = []

    def start(poll: float = 0.05):
        stops.append(screener.start_thread(database, load_settings(settings_overrides), poll=poll))

    yield start
    for stop in stops:
        stop.set()
    time.sleep(0.2)


def _row(database, reference: str) -> tuple[str, str | None]:
    return read(database, lambda s: s.execute(select(Report.screening, Report.screening_problem)
                                               .where(Report.reference == reference)).one())


def _wrapped_to(database, reference: str) -> set[str]:
    """Fingerprints holding a KeyWrap of this report, read from the wraps table itself."""
    return set(read(database, lambda s: s.scalars(select(KeyWrap.recipient_fingerprint).join(Report)
                                                  .where(Report.reference == reference))))


def _held_for(database, reference: str) -> set[str]:
    return set(read(database, lambda s: s.scalars(select(HeldWrap.recipient_fingerprint).join(Report)
                                                  .where(Report.reference == reference))))


def _wait_screened(database, reference: str, limit: float = 10.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if _row(database, reference)[0] != screening.PENDING:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{reference} was not screened within {limit} s")


def _submit(reporter_client, database, path: str, people=()) -> str:
    """One report about `people` ((name, identifier) pairs) by the no-JavaScript form or as the browser sends it."""
    before = set(references(database))
    if path == "nojs":
        fields = {}
        for n, (name, identifier) in enumerate(people):
            fields[f"people-{n}-name"], fields[f"people-{n}-identifier"] = name, identifier
        submit_report(reporter_client, screen=False, what_happened="Screened report", **fields)
    else:
        response = post_browser_report(reporter_client, browser_report(reporter_client, os.urandom(32), people=people),
                                       work_fields(reporter_client, "report"))
        assert response.status_code == 200, response.data[-500:]
    (reference,) = set(references(database)) - before
    return reference


def _declare(triage_app, account, name: str, identifier: str, own: bool = False) -> None:
    client = signed_in_client(triage_app, account)
    token = csrf_from(client.get("/account").data)
    data = {"csrf_token": token, "name": name, "identifier": identifier, **({"own_identity": "y"} if own else {})}
    assert client.post("/account/conflicts", data=data).status_code == 302


@pytest.mark.parametrize("path", ["nojs", "js"])
def test_screening_happens_with_no_reviewer_signed_in(path, reporter_client, database, lead, recovery_key, make_reviewer,
                                                      worker, triage_app):
    alice = make_reviewer("alice", "reviewer")
    reference = _submit(reporter_client, database, path, [("Pat Example", "AB 1234")])
    recovery = recovery_key.public_key().fingerprint
    # On arrival: only the recovery key holds a wrap; the reviewers' wraps are held for screening.
    assert _row(database, reference) == (screening.PENDING, None)
    assert _wrapped_to(database, reference) == {recovery}
    assert _held_for(database, reference) == {lead.fingerprint, alice.fingerprint}

    worker()  # nobody has signed in to the triage interface
    assert _wait_screened(database, reference) < 10
    assert _row(database, reference) == (screening.SCREENED, None)
    assert _wrapped_to(database, reference) == {recovery, lead.fingerprint, alice.fingerprint}
    assert _held_for(database, reference) == set()
    kinds = read(database, lambda s: set(s.scalars(select(SubjectIndex.kind).join(Report).where(Report.reference == reference))))
    assert {"name", "identifier"} <= kinds
    assert reference in references(database)
    page = signed_in_client(triage_app, alice).get("/").data
    assert reference.encode() in page


@pytest.mark.parametrize("path", ["nojs", "js"])
def test_junk_cannot_starve_screening_and_the_conflicted_reviewer_never_sees_the_report(
        path, reporter_client, database, lead, make_reviewer, worker, triage_app):
    alice = make_reviewer("alice", "reviewer")
    _declare(triage_app, alice, *CONFLICTED)
    alice_client = signed_in_client(triage_app, alice)
    total_before = queue_total(alice_client.get("/").data)

    # 100 junk submissions on the JavaScript path: no subject list, one that does not open, one not a list.
    junk = []
    for n in range(100):
        kind = n % 4
        if kind == 0:
            fields = browser_report(reporter_client, os.urandom(32), with_subjects=False)
        elif kind == 1:
            fields = [f for f in browser_report(reporter_client, os.urandom(32)) if f[0] != "subjects_inner"]
            fields.append(("subjects_inner", base64.b64encode(os.urandom(96)).decode()))
        elif kind == 2:
            fields = browser_report(reporter_client, os.urandom(32), subjects=b"\xff not json")
        else:
            fields = browser_report(reporter_client, os.urandom(32), subjects=b'{"v":1,"people":[' + b",".join([b"{}"] * 21) + b"]}")
        response = post_browser_report(reporter_client, fields, work_fields(reporter_client, "report"))
        assert response.status_code == 200, response.data[-300:]
    junk = references(database)
    assert len(junk) == 100

    reference = _submit(reporter_client, database, path, [("Sgt John O'Neill", "4471")])
    assert alice.fingerprint not in _wrapped_to(database, reference)  # not even before screening

    worker()  # starts with 100 junk reports ahead of the real one
    assert _wait_screened(database, reference) < 10
    assert _row(database, reference) == (screening.SCREENED, None)
    problems = read(database, lambda s: dict(s.execute(select(Report.reference, Report.screening_problem)
                                                         .where(Report.reference.in_(junk))).all()))
    assert sorted(set(problems.values())) == ["malformed", "missing", "unreadable"]
    assert all(_row(database, ref)[0] == screening.QUARANTINED for ref in junk[:3] + junk[-3:])

    # The conflicted reviewer never held a wrap; the others (the lead) did get theirs.
    wrapped = _wrapped_to(database, reference)
    assert alice.fingerprint not in wrapped and lead.fingerprint in wrapped
    assert _held_for(database, reference) == set()
    every_wrap = read(database, lambda s: set(s.scalars(select(KeyWrap.report_id).where(KeyWrap.recipient_fingerprint == alice.fingerprint))))
    assert read(database, lambda s: s.scalar(select(Report.id).where(Report.reference == reference))) not in every_wrap

    # Not in her queue, not in her counts, not at its address; in the lead's queue.
    clear_header_counts()
    page = alice_client.get("/").data
    assert reference.encode() not in page and queue_total(page) == total_before
    assert alice_client.get(f"/reports/{reference}").status_code == 404
    assert reference.encode() in signed_in_client(triage_app, lead).get("/").data


@pytest.mark.parametrize("path", ["nojs", "js"])
def test_a_report_naming_a_reviewer_is_never_wrapped_to_reviewers(path, reporter_client, database, lead, make_reviewer,
                                                                   worker, triage_app):
    olive = make_reviewer("olive", "reviewer")
    bob = make_reviewer("bob", "reviewer")
    _declare(triage_app, olive, "Olive Otherton", "", own=True)
    reference = _submit(reporter_client, database, path, [("olive otherton", "")])
    worker()
    _wait_screened(database, reference)
    wrapped = _wrapped_to(database, reference)
    assert lead.fingerprint in wrapped
    assert olive.fingerprint not in wrapped and bob.fingerprint not in wrapped  # leads only


def test_loading_the_queue_screens_nothing(reporter_client, database, lead, triage_app):
    """Screening is the worker's job: a reviewer's page view neither indexes nor releases anything."""
    reference = _submit(reporter_client, database, "nojs", [("Pat Example", "")])
    client = signed_in_client(triage_app, lead)
    page = client.get("/").data
    assert reference.encode() not in page
    assert client.get(f"/reports/{reference}").status_code == 404
    assert _row(database, reference) == (screening.PENDING, None)
    assert read(database, lambda s: s.scalars(select(SubjectIndex.id).join(Report).where(Report.reference == reference)).all()) == []
    assert lead.fingerprint not in _wrapped_to(database, reference)


def test_quarantine_is_shown_to_leads_with_what_they_can_do(reporter_client, database, lead, make_reviewer, worker, triage_app):
    reviewer = make_reviewer("rita", "reviewer")
    response = post_browser_report(reporter_client, browser_report(reporter_client, os.urandom(32), with_subjects=False),
                                   work_fields(reporter_client, "report"))
    assert response.status_code == 200
    (reference,) = references(database)
    worker()
    _wait_screened(database, reference)
    assert _row(database, reference) == (screening.QUARANTINED, "missing")
    assert not _wrapped_to(database, reference) & {lead.fingerprint, reviewer.fingerprint}  # held, never released
    assert _held_for(database, reference) == {lead.fingerprint, reviewer.fingerprint}  # kept for "Screen again"

    lead_client = signed_in_client(triage_app, lead)
    clear_header_counts()
    queue = lead_client.get("/").data
    assert reference.encode() not in queue and b"Quarantine <span" in queue  # the header shows the count
    page = lead_client.get("/quarantine")
    assert page.status_code == 200
    text = page.data.decode()
    assert reference in text and "No list of people" in text and "No reviewer holds its key" in text
    assert "recovery key" in text and "Screen again" in text
    assert signed_in_client(triage_app, reviewer).get("/quarantine").status_code == 403

    token = csrf_from(page.data)
    assert lead_client.post(f"/quarantine/{reference}/retry", data={"csrf_token": token}).status_code == 302
    _wait_screened(database, reference)  # screened again by the running worker: quarantined again, once
    assert _row(database, reference) == (screening.QUARANTINED, "missing")
    actions = read(database, lambda s: [e.action for e in audit.history(s, reference)])
    assert actions.count("report.quarantined") == 2 and "report.screening-retried" in actions
    assert lead_client.post("/quarantine/R-NONE-XXXX/retry", data={"csrf_token": token}).status_code == 404
    screened = _submit(reporter_client, database, "nojs", [("Pat Example", "")])
    _wait_screened(database, screened)
    assert lead_client.post(f"/quarantine/{screened}/retry", data={"csrf_token": token}).status_code == 404  # not quarantined
    rita = signed_in_client(triage_app, reviewer)
    assert rita.post(f"/quarantine/{reference}/retry", data={"csrf_token": token_for(rita, "/account")}).status_code == 404


def test_a_report_that_breaks_screening_is_quarantined_and_the_next_one_is_screened(
        reporter_client, database, lead, worker, monkeypatch):
    real = screening.subject_values

    def explode(key, name, identifier):
        if name == "Explosive Name":
            raise RuntimeError("a bug in screening")
        return real(key, name, identifier)

    monkeypatch.setattr(screening, "subject_values", explode)
    broken = _submit(reporter_client, database, "nojs", [("Explosive Name", "")])
    fine = _submit(reporter_client, database, "nojs", [("Pat Example", "")])
    worker()
    _wait_screened(database, fine)
    assert _row(database, broken) == (screening.QUARANTINED, "error")
    assert _row(database, fine) == (screening.SCREENED, None)
    assert lead.fingerprint in _wrapped_to(database, fine) and lead.fingerprint not in _wrapped_to(database, broken)


def test_a_reviewer_deactivated_before_screening_gets_no_wrap(reporter_client, database, lead, make_reviewer, worker):
    gone = make_reviewer("gone", "reviewer")
    reference = _submit(reporter_client, database, "nojs", [("Pat Example", "")])
    with database.transaction() as session:
        session.get(Reviewer, gone.id).active = False
    worker()
    _wait_screened(database, reference)
    assert gone.fingerprint not in _wrapped_to(database, reference) and lead.fingerprint in _wrapped_to(database, reference)


def test_several_workers_screen_each_report_once(database, instance_dir, lead, recovery_key, worker):
    """portal-screen.service and each triage gunicorn worker all screen: every report once, none lost."""
    from triage_support import seed_report

    made = [seed_report(database, instance_dir, f"Report {n}", people=[{"name": f"Person Number{n}"}], screen=False)[0]
            for n in range(24)]
    for _ in range(3):
        worker(poll=0.01)
    for reference in made:
        _wait_screened(database, reference)
    assert {_row(database, ref) for ref in made} == {(screening.SCREENED, None)}
    entries = read(database, lambda s: [e.action for ref in made for e in audit.history(s, ref)])
    assert entries.count("report.screened") == len(made) and "report.quarantined" not in entries
    for reference in made:
        assert lead.fingerprint in _wrapped_to(database, reference)


def test_a_quarantined_report_still_opens_with_the_recovery_key(reporter_client, database, recovery_key, worker, instance_dir):
    """Break-glass never depends on screening: the recovery key's wrap is stored as it arrives."""
    from portal.reports.recovery import recover_report

    response = post_browser_report(reporter_client, browser_report(reporter_client, os.urandom(32), text="QUARANTINED-BUT-READABLE",
                                                                   with_subjects=False), work_fields(reporter_client, "report"))
    assert response.status_code == 200
    (reference,) = references(database)
    worker()
    _wait_screened(database, reference)
    assert _row(database, reference)[0] == screening.QUARANTINED
    assert "QUARANTINED-BUT-READABLE" in read(database, lambda s: recover_report(s, recovery_key, reference, integrity_checker(instance_dir)))


@pytest.mark.parametrize("path", ["nojs", "js"])
def test_the_reporter_host_refuses_reports_until_a_screening_key_is_published(path, reporter_client, database):
    """Never a report without screening: with no screening key published, nothing is stored."""
    from portal.triage.models import ScreeningKey

    fields = browser_report(reporter_client, os.urandom(32)) if path == "js" else None
    with database.transaction() as session:
        session.query(ScreeningKey).delete()
    assert reporter_client.get("/keys.json").get_json()["screening"] is None
    if path == "js":
        response = post_browser_report(reporter_client, fields, work_fields(reporter_client, "report"))
        assert response.status_code == 400 and "not ready" in response.get_json()["errors"][0]["message"]
    else:
        token = csrf_from(reporter_client.get("/report").data)
        response = reporter_client.post("/report", data={"csrf_token": token, "draft": "", "what_happened": "Something"},
                                        content_type="multipart/form-data")
        assert response.status_code == 400 and b"not ready to receive reports" in response.data
    assert references(database) == []


def test_retention_purges_quarantined_reports_once_past_the_retention_period(reporter_client, database, settings_overrides,
                                                                             worker):
    """A flood of junk is not kept for ever: quarantined reports go with retention, like closed ones."""
    import datetime as dt

    from sqlalchemy import update

    from portal.clock import today
    from portal.instance import read_secret
    from portal.triage.oversight import purge_due

    for _ in range(2):
        post_browser_report(reporter_client, browser_report(reporter_client, os.urandom(32), with_subjects=False),
                            work_fields(reporter_client, "report"))
    kept = _submit(reporter_client, database, "nojs", [("Pat Example", "")])
    old, recent = [ref for ref in references(database) if ref != kept]
    worker()
    for reference in (old, recent, kept):
        _wait_screened(database, reference)
    settings = load_settings(settings_overrides)
    with database.transaction() as session:
        session.execute(update(Report).where(Report.reference.in_([old, kept]))
                        .values(received_on=today() - dt.timedelta(days=settings.retention_days + 1)))
        purged = purge_due(session, settings, read_secret(settings.instance_dir, "audit_key"))
    assert purged == [old]  # not the recent one, and not an old report that was screened (it is not closed)
    assert set(references(database)) == {recent, kept}


def test_a_browser_report_sealed_to_a_retired_screening_key_is_refused_with_reload(reporter_client, database):
    """The browser loaded /keys.json before the triage host's screening key changed: it is asked to reload,
    instead of its report being quarantined as unreadable."""
    from portal.crypto.screening import screening_private_key
    from portal.triage.screening import publish_key

    fields = browser_report(reporter_client, os.urandom(32), people=[("Pat Example", "")])
    with database.transaction() as session:
        publish_key(session, screening_private_key(os.urandom(32)))  # a new key: the old one is retired
    response = post_browser_report(reporter_client, fields, work_fields(reporter_client, "report"))
    assert response.status_code == 400 and "Reload the page" in response.get_json()["errors"][0]["message"]
    assert references(database) == []


def test_wraps_written_around_screening_never_reach_a_reviewer(reporter_client, database, lead, recovery_key, make_reviewer,
                                                                triage_app, worker):
    """Found by the attacker review: the reporter host's role may insert into key_wraps (for the
    recovery wrap). It planted a reviewer's wrap, and an internal wrap of a key it chose, while the
    report waited for screening: both survived, so a conflicted reviewer held the key and the
    reporter host could later read the reviewers' notes."""
    conflicted = make_reviewer("conflicted", "reviewer")
    _declare(triage_app, conflicted, *CONFLICTED)
    reference = _submit(reporter_client, database, "nojs", [CONFLICTED])
    with database.transaction() as session:
        report = session.scalar(select(Report).where(Report.reference == reference))
        for wrap in session.scalars(select(KeyWrap).where(KeyWrap.report_id == report.id)):
            wrap.internal_wrap = b"planted internal wrap"
        session.add(KeyWrap(report_id=report.id, recipient_fingerprint=conflicted.fingerprint, wrap=b"planted wrap"))
    worker()
    _wait_screened(database, reference)
    assert conflicted.fingerprint not in _wrapped_to(database, reference)
    assert recovery_key.public_key().fingerprint in _wrapped_to(database, reference)
    internal = read(database, lambda s: set(s.scalars(select(KeyWrap.internal_wrap).join(Report).where(Report.reference == reference))))
    assert internal == {None}


def test_a_flood_naming_the_same_people_does_not_slow_screening_down(reporter_client, database, lead, recovery_key,
                                                                       settings_overrides, monkeypatch):
    """Found by the attacker review: reports that all name the same 20 people made each screening
    re-evaluate every earlier report about them (and check each one's readers), so screening slowed
    quadratically and a genuine report waited minutes. Now the work per report stays flat."""
    from portal.triage import links, rules

    settings = load_settings(settings_overrides)
    keys = screener.load_secrets(settings)
    people = [(f"Flood Person{chr(97 + n)}", f"PC {1000 + n}") for n in range(20)]
    for _ in range(12):
        _submit(reporter_client, database, "nojs", people)
    screener.screen_pending(database, settings, keys)
    refreshed, checked = [], []
    real_refresh, real_excluded = rules.refresh_flags, links._excluded
    monkeypatch.setattr(screening, "refresh_flags", lambda ctx, report, answers: (refreshed.append(report.id),
                                                                                 real_refresh(ctx, report, answers)))
    monkeypatch.setattr(links, "_excluded", lambda db, report_id: (checked.append(report_id), real_excluded(db, report_id))[1])
    _submit(reporter_client, database, "nojs", people)
    assert screener.screen_pending(database, settings, keys).screened == 1
    assert len(refreshed) <= 3, refreshed  # the new report (before and after its wraps), not the 12 before it
    assert len(checked) <= 6, checked
