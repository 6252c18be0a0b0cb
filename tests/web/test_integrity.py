"""Issue 19: a database writer cannot swap a report's content, its key, its messages' authors or
their order unnoticed. Every failure is shown to reviewers as "altered" (never as content), with
what failed, and audited; the reporter's own key is checked against the commitment too; mixed
wraps are refused where the server can see them; reports from before signatures stay readable."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select
from support import sign_in
from triage_support import (
    act_ok,
    integrity_checker,
    page_text,
    read,
    reporter_keys,
    reporter_page,
    seed_report,
    sign_in_reviewer,
)

from portal.crypto.envelope import new_data_key, seal_record
from portal.crypto.integrity import key_commitment
from portal.crypto.keys import RecipientPublicKey, wrap_dek
from portal.crypto.receipt import normalise_receipt_code, receipt_secret
from portal.deadlines import Deadlines
from portal.instance import pin_local_signer
from portal.reports import service
from portal.reports.answers import ReportAnswers
from portal.reports.integrity import ReportAltered
from portal.reports.models import Attachment, InternalNote, KeyWrap, Message, Report
from portal.reports.recovery import recover_report
from portal.reports.service import Draft, SubmissionError, add_message, submit_from_server
from portal.reports.upload import EncryptingSink
from portal.triage.audit import AuditEntry
from portal.triage.models import RecoveryKey, Reviewer

ORIGINAL = "Original-allegation-5521: the inspector takes payments."
SWAPPED = "Nothing to report, sorry"
ALTERED = "This report was altered after it was received"


def _public_keys(session) -> dict[str, RecipientPublicKey]:
    """Every public key a database writer can read (reviewers and recovery keys)."""
    rows = session.execute(select(Reviewer.key_fingerprint, Reviewer.public_key)).all()
    rows += session.execute(select(RecoveryKey.fingerprint, RecoveryKey.public_key)).all()
    return {fp: RecipientPublicKey.from_bytes(pk) for fp, pk in rows}


def _reencrypt(database, reference: str, new_commitment: bool) -> None:
    """The attack of issue 19: a new key, the report sealed under it, wrapped to every public key
    (and, the strongest writer, the commitment recomputed for the new key)."""
    with database.transaction() as session:
        report = session.scalars(select(Report).where(Report.reference == reference)).one()
        dek = new_data_key()
        report.sealed_report = seal_record(dek, report.public_id, "report", ReportAnswers(what_happened=SWAPPED).to_json())
        keys = _public_keys(session)
        for wrap in session.scalars(select(KeyWrap).where(KeyWrap.report_id == report.id)):
            wrap.wrap = wrap_dek(dek, keys[wrap.recipient_fingerprint], report.public_id)
        if new_commitment:
            report.key_commitment = key_commitment(dek, report.public_id)


def _audited(database, reference: str) -> list[str]:
    return read(database, lambda s: list(s.scalars(select(AuditEntry.action).where(AuditEntry.report_ref == reference))))


@pytest.mark.parametrize("new_commitment", [False, True], ids=["key-kept", "commitment-recomputed"])
def test_a_reencrypted_and_rewrapped_report_shows_as_altered_not_as_the_new_content(
        triage_app, database, instance_dir, lead, recovery_key, new_commitment):
    reference, _code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    assert ORIGINAL in page_text(reviewer.get(f"/reports/{reference}"))

    _reencrypt(database, reference, new_commitment)
    response = reviewer.get(f"/reports/{reference}")
    page = page_text(response)
    assert response.status_code == 200
    assert ALTERED in page and SWAPPED not in page and ORIGINAL not in page
    expected = "signature does not match" if new_commitment else "not the key it was received with"
    assert expected in page
    assert "report.altered" in _audited(database, reference)
    with database.transaction() as session:  # break-glass recovery refuses it the same way
        with pytest.raises(ReportAltered):
            recover_report(session, recovery_key, reference, integrity_checker(instance_dir))


def test_a_file_of_an_altered_report_is_not_downloaded(triage_app, database, instance_dir, lead):
    reference, code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    keys = reporter_keys(instance_dir)
    secret = receipt_secret(normalise_receipt_code(code), keys.install_salt)
    with database.transaction() as session:
        report = session.scalars(select(Report)).one()
        dek = service.reporter_dek(report, secret)
        sink = EncryptingSink(session, dek, report.public_id, "evidence.txt", "text/plain")
        sink.write(b"file bytes")
        add_message(session, report, dek, "with a file", from_reporter=True, signer=keys.signer, attachments=[sink.finish()])
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    file_id = read(database, lambda s: s.scalars(select(Attachment.public_id)).one()).hex()
    assert reviewer.get(f"/reports/{reference}/files/{file_id}").data == b"file bytes"
    _reencrypt(database, reference, new_commitment=True)
    response = reviewer.get(f"/reports/{reference}/files/{file_id}")
    assert response.status_code == 302 and b"file bytes" not in response.data
    assert {"report.altered", "attachment.unreadable"} <= set(_audited(database, reference))


def _conversation(database, instance_dir, triage_app, lead) -> tuple[str, object]:
    """A report with a reporter's message (and file), then a reviewer's reply and a note."""
    reference, code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    keys = reporter_keys(instance_dir)
    secret = receipt_secret(normalise_receipt_code(code), keys.install_salt)
    with database.transaction() as session:
        report = session.scalars(select(Report)).one()
        dek = service.reporter_dek(report, secret)
        sink = EncryptingSink(session, dek, report.public_id, "evidence.txt", "text/plain")
        sink.write(b"file bytes")
        add_message(session, report, dek, "Reporter-first-message", from_reporter=True, signer=keys.signer,
                    attachments=[sink.finish()])
        add_message(session, report, dek, "Reporter-second-message", from_reporter=True, signer=keys.signer)
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    act_ok(reviewer, reference, "message", {"text": "Reviewer-reply"})
    act_ok(reviewer, reference, "note", {"text": "Reviewer-note"})
    page = page_text(reviewer.get(f"/reports/{reference}"))
    assert ALTERED not in page and "Reporter-first-message" in page and "Reviewer-reply" in page
    return reference, reviewer


def _messages(session) -> list[Message]:
    return list(session.scalars(select(Message).order_by(Message.seq)))


def _swap_authors(session, _other: int) -> None:
    first, _second, reply = _messages(session)
    first.from_reporter, first.reviewer_id = False, reply.reviewer_id
    reply.from_reporter, reply.reviewer_id = True, None


def _swap_order(session, _other: int) -> None:
    first, second, _reply = _messages(session)
    first.seq, second.seq = -1, first.seq
    session.flush()
    first.seq = second.seq + 1


def _another_reviewer(session, other: int) -> None:
    _messages(session)[2].reviewer_id = other


def _move_file(session, _other: int) -> None:
    _first, second, _reply = _messages(session)
    session.scalars(select(Attachment)).one().message_id = second.id


def _note_author(session, other: int) -> None:
    session.scalars(select(InternalNote)).one().author_id = other


def _delete_middle(session, _other: int) -> None:
    session.delete(_messages(session)[1])


PARTS_ALTERED = "Parts of this report were altered after they were received"


@pytest.mark.parametrize(("tamper", "hidden", "failed"), [
    (_swap_authors, ["Reporter-first-message", "Reviewer-reply"], "Message 1 does not match"),
    (_swap_order, ["Reporter-first-message", "Reporter-second-message"], "Message 2 does not match"),
    (_another_reviewer, ["Reviewer-reply"], "Message 3 does not match"),
    (_move_file, ["Reporter-first-message", "Reporter-second-message"], "Message 1 does not match"),
    (_note_author, ["Reviewer-note"], "An internal note does not match"),
    (_delete_middle, ["Reporter-second-message"], "Message 2 is missing"),
], ids=lambda v: v.__name__.strip("_") if callable(v) else None)
def test_changed_authors_order_files_and_notes_are_detected(triage_app, database, instance_dir, lead, make_reviewer,
                                                            tamper, hidden, failed):
    """A message or note that fails its signature is shown as altered, never as content (nor its files);
    the report itself, whose own signature holds, stays readable with a banner saying what failed."""
    reference, reviewer = _conversation(database, instance_dir, triage_app, lead)
    other = make_reviewer("colleague", role="reviewer").id
    with database.transaction() as session:
        tamper(session, other)
    page = page_text(reviewer.get(f"/reports/{reference}"))
    assert PARTS_ALTERED in page and failed in page and ORIGINAL in page
    assert not any(text in page for text in hidden)
    assert "report.altered" in _audited(database, reference)
    if tamper is _move_file:  # the moved file is not served either
        file_id = read(database, lambda s: s.scalars(select(Attachment.public_id)).one()).hex()
        assert reviewer.get(f"/reports/{reference}/files/{file_id}").status_code == 302


def test_the_reporter_sees_a_changed_key_as_a_changed_case_not_as_content(reporter_client, database, instance_dir):
    reference, code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    assert ORIGINAL in reporter_page(reporter_client, code)
    with database.transaction() as session:  # the commitment to a key the writer chose
        report = session.scalars(select(Report)).one()
        report.key_commitment = key_commitment(new_data_key(), report.public_id)
    reporter_client.delete_cookie("portal_followup", domain="localhost", path="/")
    assert sign_in(reporter_client, code).status_code == 302
    response = reporter_client.get("/follow-up/case")
    assert response.status_code == 409
    assert "Your case could not be opened" in page_text(response) and ORIGINAL not in page_text(response)


def test_mixed_wraps_are_refused_at_submission(database, instance_dir, lead, recovery_key, monkeypatch):
    """Without JavaScript the server holds the key and opens every wrap it can: a reporter wrap that
    holds another key (or a commitment to one) is refused, and nothing is stored."""
    real = service.wrap_dek_for_reporter_root
    monkeypatch.setattr(service, "wrap_dek_for_reporter_root", lambda dek, root, rid: real(new_data_key(), root, rid))
    with database.transaction() as session, pytest.raises(SubmissionError, match="one key for every recipient"):
        submit_from_server(session, reporter_keys(instance_dir), Draft.new(), ReportAnswers(what_happened=ORIGINAL),
                           Deadlines(acknowledge_days=7, feedback_days=90))
    monkeypatch.setattr(service, "wrap_dek_for_reporter_root", real)
    monkeypatch.setattr(service, "key_commitment", lambda dek, rid: key_commitment(new_data_key(), rid))
    with database.transaction() as session, pytest.raises(SubmissionError, match="one key for every recipient"):
        submit_from_server(session, reporter_keys(instance_dir), Draft.new(), ReportAnswers(what_happened=ORIGINAL),
                           Deadlines(acknowledge_days=7, feedback_days=90))
    assert read(database, lambda s: s.scalars(select(Report)).all()) == []


def test_a_browser_submission_needs_a_commitment_and_a_wrap_to_another_key_shows_as_altered(
        reporter_client, database, instance_dir, recovery_key):
    """With JavaScript the server can open no wrap: it requires the commitment, and the recovery
    key's check after unwrapping catches the browser that wrapped it another key."""
    from support import browser_report, post_browser_report, work_fields

    from portal.crypto.keys import seal_inner

    secret = os.urandom(32)
    fields = browser_report(reporter_client, secret, text=ORIGINAL)
    without = [(k, v) for k, v in fields if k != "key_commitment"]
    assert post_browser_report(reporter_client, without, work_fields(reporter_client, "report")).status_code == 400
    assert read(database, lambda s: s.scalars(select(Report)).all()) == []

    report_id = bytes.fromhex(dict(fields)["report_id"])
    fingerprint = recovery_key.public_key().fingerprint
    other = seal_inner(new_data_key(), recovery_key.public_key().intake_x25519, report_id)
    import base64

    mixed = [(k, base64.b64encode(other).decode() if k == f"recipient_inner.{fingerprint}" else v) for k, v in fields]
    assert post_browser_report(reporter_client, mixed, work_fields(reporter_client, "report")).status_code == 200
    (reference,) = read(database, lambda s: list(s.scalars(select(Report.reference))))
    with database.transaction() as session, pytest.raises(ReportAltered) as caught:
        recover_report(session, recovery_key, reference, integrity_checker(instance_dir))
    assert [p.code for p in caught.value.verdict.problems] == ["key"]


def test_a_report_from_before_signatures_is_shown_as_such_and_a_stripped_one_as_altered(
        triage_app, database, instance_dir, lead):
    reference, _code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    with database.transaction() as session:  # what a report stored before revision 0010 looks like
        report = session.scalars(select(Report)).one()
        report.signature = report.key_commitment = None
        public_id = report.public_id
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    page = page_text(reviewer.get(f"/reports/{reference}"))
    assert ALTERED in page and ORIGINAL not in page  # not listed when the key was pinned: stripped, so altered

    pin_local_signer(instance_dir, {public_id: 0})  # listed as received before signatures
    page = page_text(reviewer.get(f"/reports/{reference}"))
    assert ALTERED not in page and ORIGINAL in page and "Received before reports were signed" in page
    act_ok(reviewer, reference, "message", {"text": "A reply after the upgrade"})
    with database.transaction() as session:  # messages after the upgrade are bound all the same
        session.scalars(select(Message)).one().reviewer_id += 1
    page = page_text(reviewer.get(f"/reports/{reference}"))
    assert PARTS_ALTERED in page and "A reply after the upgrade" not in page
