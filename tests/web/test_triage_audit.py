"""Every reviewer action writes an audit entry; the chain verifies after a whole
journey and any tampering with the stored entries is detected."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from triage_support import (
    STRONG_PASSPHRASE,
    attachment_ids,
    closing,
    post_action,
    read,
    sign_in_reviewer,
    sign_out,
    submit_with_reference,
    token_for,
)

from portal.instance import read_secret
from portal.triage.audit import AuditEntry, verify_chain


def _entries(database) -> list[AuditEntry]:
    def load(session):
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        session.expunge_all()
        return entries

    return read(database, load)


def _verify(database, key: bytes):
    return read(database, lambda session: verify_chain(session, key))


@pytest.fixture
def journey(triage_app, reporter_client, database, instance_dir, lead, make_reviewer):
    """A lead and a second lead do everything the interface offers; returns the audit key."""
    lead2 = make_reviewer("lead2", "lead")
    spare = make_reviewer("spare", "reviewer", receives_new_reports=False)
    reference, _ = submit_with_reference(reporter_client, database, what_happened="Journey report",
                                         evidence=(io.BytesIO(b"file"), "note.txt", "text/plain"))
    pending, _ = submit_with_reference(reporter_client, database, what_happened="Pending closure")

    steps: list[tuple[str, str | None]] = []  # (expected action, report)

    def step(expected: str, ref: str | None, do) -> None:
        before = len(_entries(database))
        response = do()
        assert response.status_code in (200, 302), (expected, response.status_code)
        new = _entries(database)[before:]
        assert expected in [e.action for e in new], (expected, [e.action for e in new])
        entry = next(e for e in new if e.action == expected)
        assert entry.report_ref == ref, expected
        steps.append((expected, ref))

    client = triage_app.test_client()
    step("reviewer.signed-in", None, lambda: sign_in_reviewer(client, lead).get("/"))
    step("report.viewed", reference, lambda: client.get(f"/reports/{reference}"))
    file_id = attachment_ids(client.get(f"/reports/{reference}").data)[0]
    step("attachment.downloaded", reference, lambda: client.get(f"/reports/{reference}/files/{file_id}"))
    step("report.acknowledged", reference, lambda: post_action(client, reference, "acknowledge"))
    step("report.categorised", reference,
         lambda: post_action(client, reference, "categorise", {"category": "other", "priority": "high"}))
    step("report.assigned", reference, lambda: post_action(client, reference, "assign", {"assignee": str(lead2.id)}))
    step("report.messaged", reference, lambda: post_action(client, reference, "message", {"text": "Hello"}))
    step("report.note-added", reference, lambda: post_action(client, reference, "note", {"text": "Note"}))
    step("report.escalated", reference,
         lambda: post_action(client, reference, "escalate", {"route": "anti-corruption", "reason": "Covert"}))
    step("report.closed", reference,
         lambda: post_action(client, reference, "close", closing("action-taken")))
    step("report.reopened", reference, lambda: post_action(client, reference, "reopen", {"reason": "More"}))
    step("access.granted", reference, lambda: post_action(client, reference, "access/grant", {"reviewer": str(spare.id)}))
    step("access.revoked", reference, lambda: post_action(client, reference, f"access/{spare.id}/revoke"))
    post_action(client, pending, "categorise", {"category": "sexual-assault", "priority": "high"})
    step("report.closure-requested", pending,
         lambda: post_action(client, pending, "close", closing("no-further-action")))
    step("reviewer.created", None, lambda: client.post("/admin/reviewers", data={
        "csrf_token": token_for(client, "/admin/reviewers"), "login": "newbie", "display_name": "New Person",
        "role": "reviewer", "passphrase": STRONG_PASSPHRASE}))
    step("reviewer.sign-in-reset", None, lambda: client.post(f"/admin/reviewers/{spare.id}/reset",
                                                              data={"csrf_token": token_for(client, "/admin/reviewers")}))
    step("reviewer.deactivated", None, lambda: client.post(f"/admin/reviewers/{spare.id}/deactivate",
                                                            data={"csrf_token": token_for(client, "/admin/reviewers")}))
    step("reviewer.passphrase-changed", None, lambda: client.post("/account", data={
        "csrf_token": token_for(client, "/account"), "current": lead.passphrase, "new": STRONG_PASSPHRASE,
        "confirm": STRONG_PASSPHRASE}))
    step("reviewer.signed-out", None, lambda: sign_out(client))

    second = triage_app.test_client()
    sign_in_reviewer(second, lead2)
    step("report.closure-approved", pending, lambda: post_action(second, pending, "approval", {"decision": "approve"}))
    return {"key": read_secret(instance_dir, "audit_key"), "steps": steps, "reference": reference}


def test_every_action_is_audited_and_the_chain_verifies(journey, database):
    entries = _entries(database)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    result = _verify(database, journey["key"])
    assert result.ok, result.problem
    assert result.entries == len(entries) >= len(journey["steps"])
    actors = {e.actor for e in entries}
    assert actors == {"lead", "lead2", "system"}  # "system": screening, on the report's arrival
    assert {e.action for e in entries if e.actor == "system"} == {"report.screened"}


def test_audit_entries_hold_no_content(journey, database):
    for entry in _entries(database):
        blob = f"{entry.action} {entry.detail} {entry.report_ref}"
        for secret in ("Journey report", "Hello", "Covert", "note.txt", "Note", STRONG_PASSPHRASE, "New Person"):
            assert secret not in blob, (entry.action, secret)
        json.loads(entry.detail)


def test_report_history_shows_the_journey(journey, triage_app, lead):
    lead.passphrase = STRONG_PASSPHRASE  # changed during the journey
    client = sign_in_reviewer(triage_app.test_client(), lead)
    page = client.get(f"/reports/{journey['reference']}").data.decode()
    history = page[page.index('id="history"'):]
    for word in ("acknowledged", "categorised", "escalated", "closed", "reopened", "note added"):
        assert word in history, word


TAMPERING = [
    "UPDATE audit_log SET action = 'report.viewed' WHERE action = 'report.escalated'",
    "UPDATE audit_log SET detail = '{\"route\":\"management-action\"}' WHERE action = 'report.escalated'",
    "UPDATE audit_log SET actor = 'lead2' WHERE action = 'report.closure-requested'",
    "DELETE FROM audit_log WHERE action = 'report.note-added'",
    "swap",
]


def test_tampering_after_a_journey_is_detected(journey, database):
    session = database.session
    for tamper in TAMPERING:
        if tamper == "swap":  # the closing and the reopening change places
            a, b = [e.seq for e in _entries(database) if e.action in ("report.closed", "report.reopened")]
            session.execute(text(f"UPDATE audit_log SET seq = -1 WHERE seq = {a}"))
            session.execute(text(f"UPDATE audit_log SET seq = {a} WHERE seq = {b}"))
            session.execute(text(f"UPDATE audit_log SET seq = {b} WHERE seq = -1"))
        else:
            session.execute(text(tamper))
        try:
            result = verify_chain(session, journey["key"])
            assert not result.ok, tamper
            assert result.problem
        finally:
            session.rollback()
        assert _verify(database, journey["key"]).ok  # undone: the real log still verifies


def test_cli_audit_verify(journey, database, settings_overrides, monkeypatch):
    from portal.cli import main

    monkeypatch.setenv("PORTAL_DATABASE_URL", settings_overrides["database_url"])
    runner = CliRunner()
    result = runner.invoke(main, ["audit", "verify", "--instance", settings_overrides["instance_dir"]])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output

    with database.transaction() as session:
        session.execute(text("UPDATE audit_log SET detail = '{}' WHERE action = 'report.categorised'"))
    result = runner.invoke(main, ["audit", "verify", "--instance", settings_overrides["instance_dir"]])
    assert result.exit_code == 1
    assert "BROKEN" in result.output
