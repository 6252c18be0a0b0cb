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
    post_action,
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


# -- the outside review of issue 19 -------------------------------------------------------------


def _swap_references(session, one: str, two: str) -> None:
    first, second = (session.scalars(select(Report).where(Report.reference == r)).one() for r in (one, two))
    first.reference = "R-SWAPPING"
    session.flush()
    second.reference = one
    session.flush()
    first.reference = two


def test_swapped_references_show_as_altered_not_as_the_other_report(triage_app, database, instance_dir, lead):
    """A writer swaps two reports' references: opening R-A must not show report B's genuine content
    (nor its history) with no warning. The reference is in the signed statement."""
    ref_a, _code = seed_report(database, instance_dir, what_happened="Report-A-content")
    ref_b, _code = seed_report(database, instance_dir, what_happened="Report-B-content")
    with database.transaction() as session:
        _swap_references(session, ref_a, ref_b)
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    for reference in (ref_a, ref_b):
        response = reviewer.get(f"/reports/{reference}")
        page = page_text(response)
        assert response.status_code == 200
        assert ALTERED in page and "Report-A-content" not in page and "Report-B-content" not in page
        assert "signature does not match" in page
        assert "report.altered" in _audited(database, reference)


@pytest.mark.parametrize("column", ["reporter_urgent", "encrypted_in_browser"])
def test_a_flipped_reporter_flag_shows_as_altered(triage_app, database, instance_dir, lead, column):
    """The reporter's own flags are sealed in the statement: a writer who sets `reporter_urgent` does
    not make the page say "Reporter says someone is at risk now"."""
    reference, _code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    with database.transaction() as session:
        report = session.scalars(select(Report)).one()
        setattr(report, column, not getattr(report, column))
    page = page_text(sign_in_reviewer(triage_app.test_client(), lead).get(f"/reports/{reference}"))
    assert ALTERED in page and ORIGINAL not in page and "Reporter says someone is at risk now" not in page


def _copy_wrap(session, fingerprint: str, into: str, source: str) -> None:
    """A writer copies another report's wrap row (to the same key) over this report's."""
    def wrap_of(reference: str) -> KeyWrap:
        report = session.scalars(select(Report).where(Report.reference == reference)).one()
        return session.scalars(select(KeyWrap).where(KeyWrap.report_id == report.id,
                                                     KeyWrap.recipient_fingerprint == fingerprint)).one()
    wrap_of(into).wrap = wrap_of(source).wrap


WRAP_FAILS = "your copy of the report key does not open"


def test_a_wrap_that_does_not_open_shows_as_altered_not_500(triage_app, database, instance_dir, lead):
    reference, code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    other, _code = seed_report(database, instance_dir, what_happened="Another report")
    keys = reporter_keys(instance_dir)
    secret = receipt_secret(normalise_receipt_code(code), keys.install_salt)
    with database.transaction() as session:
        report = session.scalars(select(Report).where(Report.reference == reference)).one()
        dek = service.reporter_dek(report, secret)
        sink = EncryptingSink(session, dek, report.public_id, "evidence.txt", "text/plain")
        sink.write(b"file bytes")
        add_message(session, report, dek, "with a file", from_reporter=True, signer=keys.signer, attachments=[sink.finish()])
    file_id = read(database, lambda s: s.scalars(select(Attachment.public_id)).one()).hex()
    with database.transaction() as session:
        _copy_wrap(session, lead.fingerprint, reference, other)
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    response = reviewer.get(f"/reports/{reference}")
    page = page_text(response)
    assert response.status_code == 200
    assert ALTERED in page and WRAP_FAILS in page.lower() and ORIGINAL not in page
    assert "report.altered" in _audited(database, reference)
    response = reviewer.get(f"/reports/{reference}/files/{file_id}")
    assert response.status_code == 302 and b"file bytes" not in response.data
    assert "attachment.unreadable" in _audited(database, reference)
    response = post_action(reviewer, reference, "note", {"text": "A note on it"})  # an action is refused, not a 500
    assert response.status_code != 500 and WRAP_FAILS in page_text(response).lower()


def test_keys_recover_with_a_wrap_that_does_not_open_says_so_and_audits_it(cli_environment, database, instance_dir,
                                                                           recovery_key, tmp_path):
    from portal.crypto.keys import export_recovery_private_key

    reference, _code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    other, _code = seed_report(database, instance_dir, what_happened="Another report")
    with database.transaction() as session:
        _copy_wrap(session, recovery_key.public_key().fingerprint, reference, other)
    key_file = tmp_path / "recovery.key"
    key_file.write_text(export_recovery_private_key(recovery_key))
    result = cli_environment.invoke(["keys", "recover", "--key-file", str(key_file), reference,
                                     "--instance", cli_environment.instance_dir], None)
    assert result.exit_code != 0 and ORIGINAL not in result.output
    assert "altered after it was received" in result.output and WRAP_FAILS in result.output.lower()
    assert "report.altered" in _audited(database, reference)


def _insert_file(session, report: Report, message_id: int | None) -> bytes:
    """What the reporter host's role can do on any stored report: INSERT one attachment row (it
    cannot seal details under the report's key)."""
    file_id = os.urandom(16)
    session.add(Attachment(report_id=report.id, public_id=file_id, message_id=message_id, from_reporter=True,
                           sealed_meta=os.urandom(60), ciphertext_bytes=10))
    return file_id


EXTRA_FILE = "A file was added to this report after it was received"


def test_a_file_added_to_a_report_is_hidden_and_the_report_stays_readable(triage_app, database, instance_dir, lead):
    reference, _code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    with database.transaction() as session:
        file_id = _insert_file(session, session.scalars(select(Report)).one(), None)
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    response = reviewer.get(f"/reports/{reference}")
    page = page_text(response)
    assert response.status_code == 200
    assert ORIGINAL in page and PARTS_ALTERED in page and EXTRA_FILE in page and ALTERED not in page
    assert file_id.hex() not in response.get_data(as_text=True)
    assert "report.altered" in _audited(database, reference)
    assert reviewer.get(f"/reports/{reference}/files/{file_id.hex()}").status_code == 302
    assert "attachment.unreadable" in _audited(database, reference)


def test_a_listed_file_removed_still_fails_the_report(triage_app, database, instance_dir, lead):
    """Only an extra file is forgiven: a file the statement lists that is gone fails the whole report."""
    from portal.reports.integrity import sign_report

    reference, _code = seed_report(database, instance_dir, what_happened=ORIGINAL)
    keys = reporter_keys(instance_dir)
    with database.transaction() as session:  # the report as if accepted with one file
        report = session.scalars(select(Report)).one()
        _insert_file(session, report, None)
        session.flush()
        session.refresh(report)
        sign_report(report, keys.signer)
    with database.transaction() as session:
        session.delete(session.scalars(select(Attachment)).one())
    page = page_text(sign_in_reviewer(triage_app.test_client(), lead).get(f"/reports/{reference}"))
    assert ALTERED in page and ORIGINAL not in page


def test_a_file_added_to_a_message_is_hidden_and_the_message_stays_readable(triage_app, database, instance_dir, lead,
                                                                             make_reviewer):
    reference, reviewer = _conversation(database, instance_dir, triage_app, lead)
    with database.transaction() as session:
        report = session.scalars(select(Report)).one()
        first = _messages(session)[0]
        file_id = _insert_file(session, report, first.id)
    response = reviewer.get(f"/reports/{reference}")
    page = page_text(response)
    assert "Reporter-first-message" in page and ORIGINAL in page and PARTS_ALTERED in page
    assert "A file was added to message 1 after it was sent" in page
    assert file_id.hex() not in response.get_data(as_text=True)
    assert "evidence.txt" in page  # the message's own file is still listed
    assert reviewer.get(f"/reports/{reference}/files/{file_id.hex()}").status_code == 302


def test_a_message_without_a_position_is_described_as_such(triage_app, database, instance_dir, lead):
    reference, reviewer = _conversation(database, instance_dir, triage_app, lead)
    with database.transaction() as session:
        _messages(session)[1].seq = None
    page = page_text(reviewer.get(f"/reports/{reference}"))
    assert "A message without a position" in page and "Message None" not in page
