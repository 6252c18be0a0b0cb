"""Issue 17: reports about the portal's own leads and administrators, or about senior ranks, and
reports whose reporter chose it, go only to the independent body: no lead or reviewer of this
portal ever holds their key, and the body's key opens them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from support import csrf_from, post_browser_report, receipt_from, sign_in, work_fields
from triage_support import queue_references, read, references, screen_now, signed_in_client

from portal.cli import main
from portal.crypto.envelope import new_data_key, open_record, seal_record
from portal.crypto.integrity import key_commitment
from portal.crypto.keyfile import export_private_key
from portal.crypto.keys import RecipientPrivateKey, seal_inner, unwrap_dek, wrap_dek_for_reporter_root
from portal.crypto.receipt import lookup_token, reporter_root
from portal.crypto.screening import seal_subjects_inner
from portal.instance import read_secret
from portal.referrals.bodies import register_body_key
from portal.reports.answers import Person, subject_document
from portal.reports.models import HeldWrap, KeyWrap, Message, Report
from portal.triage import screening
from portal.triage.accounts import create_reviewer
from portal.triage.audit import AuditEntry
from portal.triage.models import Reviewer, Role

LEAD_NAME, ADMIN_NAME = "Laura Hughes", "Adam Pryce"
REVIEWER_PASSPHRASE = "correct-horse-battery-staple-orbit"


@dataclass
class ReviewerAccount:
    id: int
    login: str
    passphrase: str
    totp_secret: str
    fingerprint: str


@pytest.fixture
def staff(database, instance_dir, lead, make_reviewer) -> dict[str, ReviewerAccount]:
    """A lead and an administrator whose own names are declared (as the admin pages do), a reviewer and the default lead."""
    made = {"lead": lead, "alice": make_reviewer("alice", "reviewer")}
    with database.transaction() as session:
        for login, name, role in (("lhughes", LEAD_NAME, Role.LEAD), ("apryce", ADMIN_NAME, Role.ADMINISTRATOR)):
            new = create_reviewer(session, read_secret(instance_dir, "totp_key"), login=login, display_name=name, role=role,
                                  passphrase=REVIEWER_PASSPHRASE, blind_index_key=read_secret(instance_dir, "blind_index_key"))
            made[login] = ReviewerAccount(new.reviewer.id, login, REVIEWER_PASSPHRASE, new.totp_secret, new.reviewer.key_fingerprint)
    return made


@pytest.fixture
def body(database):
    """The independent body's key pair (config/bodies.toml: iopc), its public half registered."""
    private = RecipientPrivateKey.generate()
    with database.transaction() as session:
        register_body_key(session, "iopc", private.public_key(), "test")
    return private


def _report(database, reference: str) -> tuple:
    return read(database, lambda s: s.execute(select(Report.screening, Report.screening_problem, Report.routed_to)
                                               .where(Report.reference == reference)).one())


def _wrapped_to(database, reference: str) -> set[str]:
    return set(read(database, lambda s: s.scalars(select(KeyWrap.recipient_fingerprint).join(Report).where(Report.reference == reference))))


def _held_for(database, reference: str) -> set[str]:
    return set(read(database, lambda s: s.scalars(select(HeldWrap.recipient_fingerprint).join(Report).where(Report.reference == reference))))


def _reviewer_fingerprints(database) -> set[str]:
    return set(read(database, lambda s: s.scalars(select(Reviewer.key_fingerprint))))


def _open_as_body(database, reference: str, private: RecipientPrivateKey) -> dict:
    """The report's answers, opened with the body's private key from its key_wraps row."""
    def load(s):
        report = s.scalar(select(Report).where(Report.reference == reference))
        wrap = s.scalar(select(KeyWrap.wrap).where(KeyWrap.report_id == report.id,
                                                   KeyWrap.recipient_fingerprint == private.public_key().fingerprint))
        dek = unwrap_dek(wrap, private, report.public_id)
        return json.loads(open_record(dek, report.public_id, "report", report.sealed_report)), dek, report.public_id
    return read(database, load)


def _nojs(reporter_client, database, people=(), only_independent: bool = False, expect: int = 200) -> tuple[str | None, str]:
    before = set(references(database))
    token = csrf_from(reporter_client.get("/report").data)
    data = {"csrf_token": token, "draft": "", "what_happened": "What the senior officer did"}
    for n, (name, role) in enumerate(people):
        data[f"people-{n}-name"], data[f"people-{n}-role"] = name, role
    if only_independent:
        data["only_independent"] = "yes"
    response = reporter_client.post("/report", data=data, content_type="multipart/form-data")
    assert response.status_code == expect, response.data[-1500:]
    new = set(references(database)) - before
    if expect != 200:
        assert not new
        return None, response.data.decode()
    (reference,) = new
    return reference, receipt_from(response.data)


def _browser_fields(reporter_client, people=(), *, chosen_flag: bool = False, chosen_in_subjects: bool = False,
                    wrap_to: str = "all") -> list[tuple]:
    """The fields report-form.js posts (portal.crypto standing in for WebCrypto). `wrap_to`: "all"
    published recipients, or "chosen" (the body and the recovery key, as the browser does when
    the reporter ticks the choice)."""
    keys = reporter_client.get("/keys.json").get_json()
    secret, report_id, dek = os.urandom(32), os.urandom(16), new_data_key()
    persons = [Person(name=n, role=r) for n, r in people]
    document = {"v": 1, "what_happened": "Sealed in the browser", "people": [{"name": p.name, "role": p.role, "identifier": "", "unit": ""}
                                                                              for p in persons]}
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    fields = [("mode", "browser"), ("report_id", report_id.hex()), ("lookup_token", lookup_token(secret).hex()), ("urgent", "no"),
              ("sealed_report", b64(seal_record(dek, report_id, "report", json.dumps(document).encode()))),
              ("reporter_wrap", b64(wrap_dek_for_reporter_root(dek, reporter_root(secret), report_id))),
              ("key_commitment", b64(key_commitment(dek, report_id)))]
    if chosen_flag:
        fields.append(("only_independent", "yes"))
    for recipient in keys["recipients"]:
        if wrap_to == "all" or recipient["kind"] in ("body", "recovery"):
            fields.append((f"recipient_inner.{recipient['fingerprint']}",
                           b64(seal_inner(dek, bytes.fromhex(recipient["intake_x25519"]), report_id))))
    plain = subject_document(persons, chosen_in_subjects)
    fields.append(("subjects_inner", b64(seal_subjects_inner(plain, bytes.fromhex(keys["screening"]["intake_x25519"]), report_id))))
    fields.append(("screening_fingerprint", keys["screening"]["fingerprint"]))
    return fields


def _js(reporter_client, database, fields) -> str:
    before = set(references(database))
    response = post_browser_report(reporter_client, fields, work_fields(reporter_client, "report"))
    assert response.status_code == 200, response.data[-800:]
    (reference,) = set(references(database)) - before
    return reference


def _submit(path, reporter_client, database, people):
    if path == "nojs":
        return _nojs(reporter_client, database, people)[0]
    return _js(reporter_client, database, _browser_fields(reporter_client, people))


def _assert_routed(database, instance_dir, reference, body, recovery_key, staff):
    screen_now(database, instance_dir)
    assert _report(database, reference) == (screening.SCREENED, None, "iopc")
    # Only the body's and the recovery key's wraps exist; no lead, admin or reviewer holds one, held or not.
    assert _wrapped_to(database, reference) == {body.public_key().fingerprint, recovery_key.public_key().fingerprint}
    assert _held_for(database, reference) == set()
    assert not _wrapped_to(database, reference) & _reviewer_fingerprints(database)
    internal = read(database, lambda s: list(s.scalars(select(KeyWrap.internal_wrap).join(Report).where(Report.reference == reference))))
    assert internal == [None, None]


@pytest.mark.parametrize("path", ["nojs", "js"])
@pytest.mark.parametrize("person", [(LEAD_NAME, ""), ("Adam PRYCE", ""), ("Jane Doe", "Asst. Chief Constable"),
                                    ("ACC Jane Doe", ""), ("Jane Doe", "T/DCC")],
                         ids=["lead", "admin", "senior-rank", "rank-in-name", "acting-dcc"])
def test_a_report_about_a_lead_an_admin_or_a_senior_rank_goes_only_to_the_independent_body(
        path, person, reporter_client, database, instance_dir, staff, body, recovery_key, triage_app):
    reference = _submit(path, reporter_client, database, [person])
    # Held for the body as for every reviewer until screening; nobody holds a released wrap yet.
    assert body.public_key().fingerprint in _held_for(database, reference)
    _assert_routed(database, instance_dir, reference, body, recovery_key, staff)
    answers, _dek, _id = _open_as_body(database, reference, body)
    assert answers["what_happened"] in ("What the senior officer did", "Sealed in the browser")
    # Leads cannot open it, nor find it in their queue.
    lead_client = signed_in_client(triage_app, staff["lead"])
    assert lead_client.get(f"/reports/{reference}").status_code == 404
    assert reference.encode() not in lead_client.get("/").data


@pytest.mark.parametrize("path", ["nojs", "js"])
def test_a_report_naming_nobody_senior_is_unaffected(path, reporter_client, database, instance_dir, staff, body, recovery_key):
    reference = _submit(path, reporter_client, database, [("Pat Example", "Sergeant")])
    screen_now(database, instance_dir)
    assert _report(database, reference) == (screening.SCREENED, None, None)
    reviewers = {staff["lead"].fingerprint, staff["alice"].fingerprint, staff["lhughes"].fingerprint}
    assert _wrapped_to(database, reference) == reviewers | {recovery_key.public_key().fingerprint}
    assert _held_for(database, reference) == set()  # the body's held wrap was deleted unopened


def test_the_no_javascript_choice_wraps_to_the_body_and_the_recovery_key_only(reporter_client, database, instance_dir, staff, body,
                                                                                recovery_key):
    page = reporter_client.get("/report").data.decode()
    assert 'name="only_independent"' in page and "Independent Office for Police Conduct" in page
    reference, code = _nojs(reporter_client, database, [("Pat Example", "Sergeant")], only_independent=True)
    # Nobody of this force is held for screening: the choice is made before anything is stored.
    assert _held_for(database, reference) == {body.public_key().fingerprint}
    _assert_routed(database, instance_dir, reference, body, recovery_key, staff)
    answers, _dek, _id = _open_as_body(database, reference, body)
    assert answers["only_independent"] is True  # the body sees that the reporter chose it


@pytest.mark.parametrize("chosen_flag, chosen_in_subjects, wrap_to", [
    (True, True, "chosen"),  # what report-form.js sends
    (True, False, "all"),  # a form that wrapped to everyone: the server keeps the body's and the recovery key's only
    (False, True, "all"),  # the request lost the flag: the sealed subject list still routes it, reviewers' wraps deleted
], ids=["browser", "tampered-wraps", "tampered-flag"])
def test_the_browser_choice_cannot_be_widened(chosen_flag, chosen_in_subjects, wrap_to, reporter_client, database, instance_dir, staff,
                                             body, recovery_key):
    keys = reporter_client.get("/keys.json").get_json()
    assert {r["kind"] for r in keys["recipients"]} == {"reviewer", "body", "recovery"}
    assert keys["independent_body"]["fingerprint"] == body.public_key().fingerprint
    fields = _browser_fields(reporter_client, [("Pat Example", "Sergeant")], chosen_flag=chosen_flag,
                             chosen_in_subjects=chosen_in_subjects, wrap_to=wrap_to)
    reference = _js(reporter_client, database, fields)
    if chosen_flag:
        assert _held_for(database, reference) == {body.public_key().fingerprint}
    _assert_routed(database, instance_dir, reference, body, recovery_key, staff)


def test_without_a_body_key_the_choice_is_refused_and_keeps_what_was_typed(reporter_client, database, staff, recovery_key):
    assert 'name="only_independent"' not in reporter_client.get("/report").data.decode()
    assert reporter_client.get("/keys.json").get_json()["independent_body"] is None
    _ref, page = _nojs(reporter_client, database, [("Pat Example", "")], only_independent=True, expect=400)
    assert "cannot be sent only to the independent body" in page and "What the senior officer did" in page


def test_without_a_body_key_a_routed_report_is_quarantined_never_given_to_the_leads(
        reporter_client, database, instance_dir, staff, recovery_key, triage_app):
    reference, _code = _nojs(reporter_client, database, [(LEAD_NAME, "")])
    screen_now(database, instance_dir)
    assert _report(database, reference)[:2] == (screening.QUARANTINED, "no-body-key")
    assert _wrapped_to(database, reference) == {recovery_key.public_key().fingerprint}
    lead_client = signed_in_client(triage_app, staff["lead"])
    page = lead_client.get("/quarantine").data.decode()
    assert reference in page and "Register the body’s key" in page
    # The key registered after the report arrived: it was not sealed to it, and stays quarantined.
    private = RecipientPrivateKey.generate()
    with database.transaction() as session:
        register_body_key(session, "iopc", private.public_key(), "test")
    token = csrf_from(lead_client.get("/quarantine").data)
    assert lead_client.post(f"/quarantine/{reference}/retry", data={"csrf_token": token}).status_code == 302
    screen_now(database, instance_dir)
    assert _report(database, reference)[:2] == (screening.QUARANTINED, "body-not-sealed")
    assert _wrapped_to(database, reference) == {recovery_key.public_key().fingerprint}
    assert reference not in queue_references(lead_client.get("/").data)
    assert lead_client.get(f"/reports/{reference}").status_code == 404


def test_the_reporter_follows_up_a_routed_report_and_the_body_reads_what_they_add(
        reporter_client, database, instance_dir, staff, body, recovery_key):
    reference, code = _nojs(reporter_client, database, [("Jane Doe", "Chief Constable")])
    screen_now(database, instance_dir)
    assert _report(database, reference)[2] == "iopc"
    assert sign_in(reporter_client, code).status_code == 302
    case = reporter_client.get("/follow-up/case")
    assert case.status_code == 200
    assert 'id="routed-notice"' in case.data.decode() and "Independent Office for Police Conduct" in case.data.decode()
    token = csrf_from(case.data)
    response = reporter_client.post("/follow-up/reply", data={"csrf_token": token, "message": "More about the chief"},
                                    content_type="multipart/form-data")
    assert response.status_code in (200, 302), response.data[-800:]
    _answers, dek, report_id = _open_as_body(database, reference, body)
    sealed = read(database, lambda s: s.execute(select(Message.sealed_body, Message.public_id).join(Report)
                                                 .where(Report.reference == reference)).one())
    assert json.loads(open_record(dek, report_id, "message", sealed[0], sealed[1]))["text"] == "More about the chief"


def test_leads_see_only_that_a_report_was_routed_away_and_cannot_open_it(reporter_client, database, instance_dir, staff, body,
                                                                          recovery_key, triage_app):
    routed, _code = _nojs(reporter_client, database, [(LEAD_NAME, "")])
    kept, _code = _nojs(reporter_client, database, [("Pat Example", "")])
    screen_now(database, instance_dir)
    for login in ("lead", "lhughes"):
        client = signed_in_client(triage_app, staff[login])
        response = client.get("/routed")
        assert response.status_code == 200
        page = response.data.decode().split("<main", 1)[1]  # the header names the signed-in lead
        assert f'data-reference="{routed}"' in page and "Independent Office for Police Conduct" in page
        assert kept not in page
        # Nothing about content or names, nor why it was routed.
        for secret in ("Laura", "Hughes", "senior officer did", "names-lead"):
            assert secret not in page
        assert client.get(f"/reports/{routed}").status_code == 404
        assert routed not in queue_references(client.get("/").data)
    reviewer = signed_in_client(triage_app, staff["alice"])
    assert reviewer.get("/routed").status_code in (403, 404)
    assert reviewer.get(f"/reports/{routed}").status_code == 404


def test_a_lead_exports_a_routed_report_the_body_opens_it_and_the_export_is_audited(
        reporter_client, database, instance_dir, staff, body, recovery_key, triage_app, tmp_path):
    reference, code = _nojs(reporter_client, database, [("Jane Doe", "Deputy Chief Constable")])
    kept, _code = _nojs(reporter_client, database, [("Pat Example", "")])
    screen_now(database, instance_dir)
    client = signed_in_client(triage_app, staff["lead"])
    token = csrf_from(client.get("/routed").data)
    response = client.post(f"/routed/{reference}/bundle", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    digest = hashlib.sha256(response.data).hexdigest()
    assert response.headers["X-Bundle-SHA256"] == digest
    entry = read(database, lambda s: s.scalars(select(AuditEntry).where(AuditEntry.action == "report.routed-exported")).one())
    assert entry.report_ref == reference and digest in entry.detail and entry.actor == "lead"
    # The body opens it with its key file and no portal instance.
    (tmp_path / "routed.bundle").write_bytes(response.data)
    key_file = tmp_path / "body.key"
    key_file.write_text(export_private_key(body, None))
    env = {name: None for name in os.environ if name.startswith("PORTAL_")}
    result = CliRunner(env=env).invoke(main, ["referral", "open", str(tmp_path / "routed.bundle"), "--key", str(key_file),
                                              "--out", str(tmp_path / "opened")], catch_exceptions=True)
    assert result.exit_code == 0, (result.output, result.exception)
    opened = json.loads((tmp_path / "opened" / "report.json").read_text())
    assert opened["reference"] == reference and opened["answers"]["what_happened"] == "What the senior officer did"
    # Not routed, not a lead, or no CSRF token: nothing.
    token = csrf_from(client.get("/routed").data)
    assert client.post(f"/routed/{kept}/bundle", data={"csrf_token": token}).status_code == 404
    reviewer = signed_in_client(triage_app, staff["alice"])
    token = csrf_from(reviewer.get("/").data)
    assert reviewer.post(f"/routed/{reference}/bundle", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/routed/{reference}/bundle", data={}).status_code in (400, 403)
