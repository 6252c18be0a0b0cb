"""Issue 17, the lead's half: a referral to a receiving body is a real, encrypted handoff, tracked
after it is sent; a report that must go to the oversight body carries a deadline, and cannot be
closed quietly without going there."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re

import pytest
from PIL import Image
from sqlalchemy import select, update
from support import csrf_from
from triage_support import (
    CLOSE_REASON,
    NO_REFERRAL_REASON,
    act_ok,
    closing,
    error_text,
    page_text,
    post_action,
    queue_row,
    read,
    report_by_reference,
    reporter_page,
    seed_report,
    sign_in_reviewer,
    submit_with_reference,
    token_for,
)

from portal.blobs.models import Blob
from portal.clock import today
from portal.config import load_taxonomy
from portal.crypto.bundle import open_bundle
from portal.crypto.keys import RecipientPrivateKey
from portal.referrals.bodies import register_body_key
from portal.reports.models import Report
from portal.triage.audit import AuditEntry
from portal.triage.referral_records import Referral

REPORT_TEXT = "The sergeant kept a detainee's phone number and messaged her after her release"


@pytest.fixture
def team(triage_app, lead, make_reviewer):
    return {"lead": lead, "lead2": make_reviewer("lead2", "lead", receives_new_reports=False),
            "rev": make_reviewer("rev", "reviewer"),
            "outsider": make_reviewer("outsider", "reviewer", receives_new_reports=False)}


@pytest.fixture
def clients(triage_app, team):
    return {name: sign_in_reviewer(triage_app.test_client(), account) for name, account in team.items()}


def register_key(database, slug: str = "iopc") -> RecipientPrivateKey:
    """The body made its key pair on its own machine; the portal registers the public half."""
    private = RecipientPrivateKey.generate()
    with database.transaction() as session:
        register_body_key(session, slug, private.public_key(), "test-admin")
    return private


def _entries(database, action: str, reference: str) -> list[dict]:
    return read(database, lambda s: [json.loads(e.detail) | {"actor": e.actor} for e in s.scalars(
        select(AuditEntry).where(AuditEntry.action == action, AuditEntry.report_ref == reference).order_by(AuditEntry.seq))])


def _referrals(database, reference: str) -> list[Referral]:
    report = report_by_reference(database, reference)
    return read(database, lambda s: list(s.scalars(select(Referral).where(Referral.report_id == report.id).order_by(Referral.id))))


def refer(client, reference: str, body: str = "iopc", **choices):
    token = token_for(client, f"/reports/{reference}/refer")
    return client.post(f"/reports/{reference}/refer", data={"csrf_token": token, "body": body, **choices})


def _bundle(client, reference: str, referral_id: int) -> bytes:
    response = client.get(f"/reports/{reference}/referrals/{referral_id}/bundle")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return response.data


# -- the referral itself ------------------------------------------------------------------------


def test_a_lead_refers_and_the_audit_log_holds_who_when_to_whom_and_the_bundle_hash(clients, database, instance_dir):
    body = register_key(database)
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    response = refer(clients["lead"], reference)
    assert response.status_code == 302, error_text(response.data)
    (referral,) = _referrals(database, reference)
    (entry,) = _entries(database, "report.referred", reference)
    bundle = _bundle(clients["lead"], reference, referral.id)
    digest = hashlib.sha256(bundle).hexdigest()
    assert entry["actor"] == "lead" and entry["body"] == "iopc"
    assert entry["body_key"] == body.public_key().fingerprint == referral.body_fingerprint
    assert entry["sha256"] == referral.bundle_sha256 == digest
    assert REPORT_TEXT.encode() not in bundle  # sealed: the plaintext is nowhere in it
    assert read(database, lambda s: s.get(Blob, referral.bundle_blob_id)).attached
    # The stored bundle is downloaded again byte for byte, and each download is audited.
    assert _bundle(clients["lead"], reference, referral.id) == bundle
    assert len(_entries(database, "referral.downloaded", reference)) == 2
    report = report_by_reference(database, reference)
    assert report.referral_status == "sent" and report.stage == "escalated"
    page = page_text(clients["lead"].get(f"/reports/{reference}"))
    assert "Independent Office for Police Conduct (IOPC)" in page and digest in page


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def _opened(bundle: bytes, private: RecipientPrivateKey) -> dict[str, bytes]:
    """Every entry of the bundle, opened with the body's key as `portal referral open` does."""
    opened = open_bundle(io.BytesIO(bundle), private)
    contents: dict[str, io.BytesIO] = {}
    opened.extract(lambda entry: contents.setdefault(entry.path, io.BytesIO()))
    return {path: sink.getvalue() for path, sink in contents.items()}


def test_the_bundle_holds_what_the_lead_chose_and_opens_only_with_the_body_key(triage_app, reporter_client, clients,
                                                                               database):
    body = register_key(database)
    notes_file, photo = b"Shift log, 3 March: the phone was logged out at 02:10.", _jpeg()
    reference, _ = submit_with_reference(reporter_client, database, what_happened=REPORT_TEXT, evidence=[
        (io.BytesIO(notes_file), "shift log.txt", "text/plain"), (io.BytesIO(photo), "photo.jpg", "image/jpeg")])
    lead = clients["lead"]
    act_ok(lead, reference, "note", {"text": "Chosen note: the custody record matches."})
    act_ok(lead, reference, "note", {"text": "Left out: a private aside."})
    page = lead.get(f"/reports/{reference}").data.decode()
    ids = dict((name, file_id) for file_id, name in re.findall(r'<li class="portal-file" id="file-([0-9a-f]{32})">\s*'
                                                                  r'<span class="portal-file__name">([^<]+)</span>', page))
    made = lead.post(f"/reports/{reference}/files/{ids['photo']}/safe-copy", data={"csrf_token": csrf_from(page.encode())})
    assert made.status_code == 302
    form = lead.get(f"/reports/{reference}/refer").data.decode()
    note_ids = re.findall(r'name="notes" type="checkbox" value="([0-9a-f]{32})"', form)
    assert len(note_ids) == 2 and f'name="safe_copies" type="checkbox" value="{ids["photo"]}"' in form
    assert refer(lead, reference, notes=[note_ids[0]], originals=[ids["shift log"]], safe_copies=[ids["photo"]]).status_code == 302
    (referral,) = _referrals(database, reference)
    bundle = _bundle(lead, reference, referral.id)
    assert notes_file not in bundle and b"custody record" not in bundle
    with pytest.raises(Exception, match="another key"):
        open_bundle(io.BytesIO(bundle), RecipientPrivateKey.generate())
    contents = _opened(bundle, body)
    assert REPORT_TEXT in contents["report.txt"].decode()
    assert json.loads(contents["report.json"])["answers"]["what_happened"] == REPORT_TEXT
    assert [n["text"] for n in json.loads(contents["notes.json"])] == ["Chosen note: the custody record matches."]
    files = {path: data for path, data in contents.items() if path.startswith("files/")}
    assert notes_file in files.values()
    assert photo not in files.values() and len(files) == 2  # the safe copy, rebuilt, not the original photo
    assert any("safe-copy" in path for path in files)
    actions = [e["action"] for e in json.loads(contents["audit.json"])]
    assert "report.note-added" in actions and "attachment.safe-copy-made" in actions
    (entry,) = _entries(database, "report.referred", reference)
    assert (entry["notes"], entry["originals"], entry["safe_copies"]) == (1, 1, 1)


def test_a_body_without_a_registered_key_is_refused_clearly(clients, database, instance_dir):
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    form = page_text(clients["lead"].get(f"/reports/{reference}/refer"))
    assert "No registered key" in form
    response = refer(clients["lead"], reference)
    assert response.status_code == 400
    assert "has no registered key" in error_text(response.data)
    assert _referrals(database, reference) == [] and _entries(database, "report.referred", reference) == []
    assert report_by_reference(database, reference).referral_status is None


def test_bodies_serving_the_reports_route_are_offered_first(clients, database, instance_dir):
    register_key(database, "anti-corruption-unit")
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    act_ok(clients["lead"], reference, "escalate", {"route": "anti-corruption", "reason": "Covert enquiries needed."})
    form = page_text(clients["lead"].get(f"/reports/{reference}/refer"))
    slugs = re.findall(r'name="body" type="radio" value="([a-z-]+)"', form)
    assert slugs[0] == "anti-corruption-unit" and set(slugs) >= {"iopc", "police-and-crime-commissioner"}
    assert "Serves this report&#39;s route" in form or "Serves this report's route" in form


def test_only_leads_refer_and_a_reviewer_without_access_finds_nothing(clients, database, instance_dir):
    register_key(database)
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    rev, outsider = clients["rev"], clients["outsider"]
    assert rev.get(f"/reports/{reference}").status_code == 200  # rev can read the report...
    assert rev.get(f"/reports/{reference}/refer").status_code == 403  # ...but may not refer it
    assert refer_with(rev, reference).status_code == 403
    assert outsider.get(f"/reports/{reference}/refer").status_code == 404
    assert refer_with(outsider, reference).status_code == 404
    assert _referrals(database, reference) == []
    assert refer(clients["lead"], reference).status_code == 302
    (referral,) = _referrals(database, reference)
    for client, status in ((rev, 403), (outsider, 404)):
        assert client.get(f"/reports/{reference}/referrals/{referral.id}/bundle").status_code == status
        for action, data in (("acknowledged", {"day": today().isoformat()}),
                             ("outcome", {"day": today().isoformat(), "text": "Investigating"})):
            response = client.post(f"/reports/{reference}/referrals/{referral.id}/{action}",
                                   data={"csrf_token": token_for(client), **data})
            assert response.status_code == status
    assert _referrals(database, reference)[0].status == "sent"
    # A referral of another report is not found through this one.
    other, _ = seed_report(database, instance_dir, "Another report")
    assert clients["lead"].get(f"/reports/{other}/referrals/{referral.id}/bundle").status_code == 404


def refer_with(client, reference: str):
    """A POST of the referral form with a token from a page the client can open."""
    return client.post(f"/reports/{reference}/refer", data={"csrf_token": token_for(client), "body": "iopc"})


def test_every_new_form_needs_its_csrf_token(clients, database, instance_dir):
    register_key(database)
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    lead = clients["lead"]
    assert lead.post(f"/reports/{reference}/refer", data={"body": "iopc"}).status_code == 400
    assert lead.post(f"/reports/{reference}/refer", data={"body": "iopc", "csrf_token": token_for(clients["rev"])}).status_code == 400
    assert _referrals(database, reference) == []
    assert refer(lead, reference).status_code == 302
    (referral,) = _referrals(database, reference)
    day = today().isoformat()
    assert lead.post(f"/reports/{reference}/referrals/{referral.id}/acknowledged", data={"day": day}).status_code == 400
    assert lead.post(f"/reports/{reference}/referrals/{referral.id}/outcome", data={"day": day, "text": "x"}).status_code == 400
    assert _referrals(database, reference)[0].status == "sent"


def test_notes_and_files_chosen_must_belong_to_the_report(clients, database, instance_dir):
    register_key(database)
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    other, _ = seed_report(database, instance_dir, "Another report")
    act_ok(clients["lead"], other, "note", {"text": "A note on the other report"})
    other_report = report_by_reference(database, other)
    note_id = read(database, lambda s: s.get(Report, other_report.id).notes[0].public_id.hex())
    for field, value in (("notes", note_id), ("originals", "00" * 16), ("safe_copies", "zz"), ("notes", "x" * 5000)):
        response = refer(clients["lead"], reference, **{field: value})
        assert response.status_code == 400, field
        assert error_text(response.data)
    assert _referrals(database, reference) == []


def test_a_closed_report_is_reopened_before_it_is_referred(clients, database, instance_dir):
    register_key(database)
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    act_ok(clients["lead"], reference, "categorise", {"category": "other", "priority": "normal"})
    act_ok(clients["lead"], reference, "close", closing("no-further-action"))
    response = refer(clients["lead"], reference)
    assert response.status_code == 400 and "Reopen" in error_text(response.data)


# -- status after the referral --------------------------------------------------------------------


def test_status_changes_are_recorded_audited_and_shown(clients, database, instance_dir):
    register_key(database)
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    lead = clients["lead"]
    refer(lead, reference)
    (referral,) = _referrals(database, reference)
    url = f"/reports/{reference}/referrals/{referral.id}"
    future = (today() + dt.timedelta(days=1)).isoformat()
    response = lead.post(f"{url}/acknowledged", data={"csrf_token": token_for(lead), "day": future})
    assert response.status_code == 302 and _referrals(database, reference)[0].status == "sent"  # refused, back to the page
    assert "cannot be in the future" in page_text(lead.get(f"/reports/{reference}"))
    assert lead.post(f"{url}/acknowledged", data={"csrf_token": token_for(lead), "day": today().isoformat()}).status_code == 302
    assert report_by_reference(database, reference).referral_status == "acknowledged"
    assert "Acknowledged by the body" in page_text(lead.get(f"/reports/{reference}"))
    assert "Referred: acknowledged" in queue_row(lead.get("/").data, reference)
    outcome = "The IOPC will investigate independently: reference withheld."
    assert lead.post(f"{url}/outcome", data={"csrf_token": token_for(lead), "day": today().isoformat(),
                                              "text": "x" * 1001}).status_code == 302
    assert _referrals(database, reference)[0].status == "acknowledged"
    assert lead.post(f"{url}/outcome", data={"csrf_token": token_for(lead), "day": today().isoformat(),
                                              "text": outcome}).status_code == 302
    stored = _referrals(database, reference)[0]
    assert stored.status == "outcome" and stored.outcome_on == today()
    assert outcome.encode() not in stored.sealed_outcome  # case content: sealed under the internal key
    assert report_by_reference(database, reference).referral_status == "outcome"
    assert "Referred: outcome received" in queue_row(lead.get("/").data, reference)
    for viewer in ("lead", "rev"):  # every reader of the report sees the status and the outcome
        page = page_text(clients[viewer].get(f"/reports/{reference}"))
        assert "Outcome received" in page and outcome in page
    assert [e["actor"] for e in _entries(database, "referral.acknowledged", reference)] == ["lead"]
    assert [e["on"] for e in _entries(database, "referral.outcome-recorded", reference)] == [today().isoformat()]
    # An outcome is final: a second one is refused.
    lead.post(f"{url}/outcome", data={"csrf_token": token_for(lead), "day": today().isoformat(), "text": "Changed"})
    assert len(_entries(database, "referral.outcome-recorded", reference)) == 1


def test_a_referral_to_the_forces_own_unit_is_not_called_independent(clients, database, instance_dir, reporter_client):
    register_key(database, "anti-corruption-unit")
    reference, code = seed_report(database, instance_dir, REPORT_TEXT)
    assert refer(clients["lead"], reference, body="anti-corruption-unit").status_code == 302
    page = reporter_page(reporter_client, code)
    assert re.search(r'id="report-status">\s*Referred for investigation\s*<', page)
    assert "independent body" not in page


def test_the_reporter_sees_the_referral_in_plain_words(clients, database, instance_dir, reporter_client):
    register_key(database)
    reference, code = seed_report(database, instance_dir, REPORT_TEXT)
    before = reporter_page(reporter_client, code)
    assert "Referred to an independent body" not in before
    refer(clients["lead"], reference)
    page = reporter_page(reporter_client, code)
    assert re.search(r'id="report-status">\s*Referred to an independent body\s*<', page)
    assert "Your anonymity does not change" in page
    assert "only that body can open it" in page


# -- mandatory referral ---------------------------------------------------------------------------


def test_the_criteria_come_from_taxonomy_toml(tmp_path):
    taxonomy = load_taxonomy()
    assert {c.key for c in taxonomy.referral_criteria} == {
        "serious-sexual-assault", "serious-assault", "serious-corruption", "discriminatory-behaviour", "relevant-offence"}
    assert taxonomy.referral_categories["sexual-assault"] == "serious-sexual-assault"
    assert taxonomy.referral_categories["sexual-abuse-of-position"] == "serious-corruption"
    assert taxonomy.referral_flags["relevant-offence"] == "relevant-offence"
    assert "other" not in taxonomy.referral_categories
    bad = tmp_path / "taxonomy.toml"
    bad.write_text('[[category]]\nkey = "a"\nlabel = "A"\nreferral = "nowhere"\n')
    with pytest.raises(ValueError, match="unknown referral criterion"):
        load_taxonomy(bad)


@pytest.mark.parametrize("category, flags, due", [
    ("sexual-assault", [], True),
    ("sexual-abuse-of-position", [], True),
    ("other", ["relevant-offence"], True),
    ("other", ["discriminatory"], True),
    ("other", ["serious-assault"], True),
    ("misuse-of-systems", ["on-duty", "repeated"], False),
])
def test_a_mandatory_referral_gets_its_deadline_and_the_queue_shows_it(clients, database, instance_dir, category, flags, due):
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    act_ok(clients["rev"], reference, "categorise", {"category": category, "flags": flags, "priority": "normal"})
    report = report_by_reference(database, reference)
    assert report.referral_required is due
    assert report.referral_due_on == (today() + dt.timedelta(days=load_taxonomy().referral_days) if due else None)
    row = queue_row(clients["rev"].get("/").data, reference)
    assert ("Referral due" in row) is due
    filtered = clients["rev"].get("/?attention=referral-due").data.decode()
    assert (reference in filtered) is due
    if due:
        (entry,) = _entries(database, "report.categorised", reference)
        assert entry["mandatory_referral"]


def test_the_requirement_is_sticky_and_an_overdue_one_stands_out(clients, database, instance_dir):
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    rev = clients["rev"]
    act_ok(rev, reference, "categorise", {"category": "sexual-assault", "priority": "normal"})
    first_due = report_by_reference(database, reference).referral_due_on
    act_ok(rev, reference, "categorise", {"category": "other", "priority": "normal"})
    report = report_by_reference(database, reference)
    assert report.referral_required and report.referral_due_on == first_due  # recategorising takes nothing away
    with database.transaction() as session:
        session.execute(update(Report).where(Report.reference == reference).values(referral_due_on=today() - dt.timedelta(days=1)))
    assert "Referral overdue" in queue_row(rev.get("/").data, reference)
    assert "Mandatory referral overdue" in page_text(rev.get(f"/reports/{reference}"))


def test_a_referral_sent_clears_referral_due(clients, database, instance_dir):
    register_key(database)
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    act_ok(clients["lead"], reference, "categorise", {"category": "other", "flags": ["relevant-offence"], "priority": "normal"})
    assert refer(clients["lead"], reference).status_code == 302
    row = queue_row(clients["lead"].get("/").data, reference)
    assert "Referral due" not in row and "Referred" in row
    assert reference not in clients["lead"].get("/?attention=referral-due").data.decode()
    assert _entries(database, "report.referred", reference)[0]["mandatory"] is True


def test_closing_an_unreferred_mandatory_report_needs_a_reason_and_a_second_lead(clients, database, instance_dir):
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    lead, lead2 = clients["lead"], clients["lead2"]
    # "other" + an offence of seven years or more: not high-risk, so only the referral rule applies.
    act_ok(lead, reference, "categorise", {"category": "other", "flags": ["relevant-offence"], "priority": "normal"})
    without_reason = {key: value for key, value in closing("no-further-action").items() if key != "no_referral_reason"}
    response = post_action(lead, reference, "close", without_reason)
    assert response.status_code == 400 and "without a referral" in error_text(response.data)
    response = post_action(lead, reference, "close", {**without_reason, "no_referral_reason": "Not needed."})
    assert response.status_code == 400  # a throw-away reason is not one
    assert report_by_reference(database, reference).stage == "assessing"
    act_ok(lead, reference, "close", closing("no-further-action"))
    report = report_by_reference(database, reference)
    assert report.stage == "closure-pending" and report.closed_on is None
    (requested,) = _entries(database, "report.closure-requested", reference)
    assert requested["without_mandatory_referral"] is True and requested["approvers"] == ["lead2"]
    assert NO_REFERRAL_REASON in page_text(lead2.get(f"/reports/{reference}"))  # the reason is recorded, in the notes
    # The same lead cannot approve their own proposal.
    assert post_action(lead, reference, "approval", {"decision": "approve"}).status_code == 403
    assert report_by_reference(database, reference).stage == "closure-pending"
    act_ok(lead2, reference, "approval", {"decision": "approve"})
    assert report_by_reference(database, reference).stage == "closed"


def test_after_a_referral_the_report_closes_as_any_other(clients, database, instance_dir):
    register_key(database)
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    lead = clients["lead"]
    act_ok(lead, reference, "categorise", {"category": "other", "flags": ["relevant-offence"], "priority": "normal"})
    refer(lead, reference)
    act_ok(lead, reference, "close", closing("referred-elsewhere", CLOSE_REASON, "referred-body-leads"))
    assert report_by_reference(database, reference).stage == "closed"


def test_a_mandatory_referral_cannot_be_buried_as_junk(clients, database, instance_dir):
    reference, _ = seed_report(database, instance_dir, REPORT_TEXT)
    act_ok(clients["rev"], reference, "categorise", {"category": "other", "flags": ["discriminatory"], "priority": "normal"})
    response = post_action(clients["lead"], reference, "junk", {"reason": "flood"})
    assert response.status_code == 400 and "mandatory-referral" in error_text(response.data)
    assert report_by_reference(database, reference).junk is False
    assert reference in clients["lead"].get("/?attention=referral-due").data.decode()
