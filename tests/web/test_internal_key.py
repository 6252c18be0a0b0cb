"""Internal notes and reviewer-added subject labels are sealed under each report's internal key,
wrapped only to reviewers and the recovery key (portal/triage/internal.py, issue 18): the
reporter's key (from the receipt code) opens none of them. Older ones, sealed under the DEK, are
moved under the internal key when a reviewer's session (or the recovery key) first needs it."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select
from triage_support import act_ok, page_text, read, reporter_keys, seed_report, sign_in_reviewer

from portal.crypto import CryptoError
from portal.crypto.envelope import PURPOSES, open_record, seal_record
from portal.crypto.keys import unwrap_dek
from portal.crypto.receipt import normalise_receipt_code, receipt_secret
from portal.instance import pin_local_signer
from portal.reports.answers import MessageBody
from portal.reports.models import InternalNote, KeyWrap, Report, SubjectIndex
from portal.reports.service import reporter_dek
from portal.triage import internal

NOTE = "Internalnote-7342: the sergeant's vetting is under review."
LABEL = "Labelname Internalsmith"


def _reporter_dek(database, instance_dir, code: str) -> bytes:
    secret = receipt_secret(normalise_receipt_code(code), reporter_keys(instance_dir).install_salt)
    return read(database, lambda s: reporter_dek(s.scalars(select(Report)).one(), secret))


def _internal_items(database) -> list[tuple[bytes, bytes, bytes]]:
    """(report public id, sealed bytes, record id) of every note and reviewer-added label."""
    def load(session):
        report = session.scalars(select(Report)).one()
        items = [(report.public_id, n.sealed_body, n.public_id) for n in session.scalars(select(InternalNote))]
        items += [(report.public_id, row.sealed_label, row.value[:16])
                  for row in session.scalars(select(SubjectIndex).where(SubjectIndex.sealed_label.is_not(None)))]
        return items
    return read(database, load)


def _opens_with(key: bytes, item) -> bool:
    report_id, sealed, record_id = item
    for purpose in PURPOSES:
        try:
            open_record(key, report_id, purpose, sealed, record_id)
        except CryptoError:
            continue
        return True
    return False


def _recovery_internal_key(database, recovery_key) -> bytes:
    fingerprint = recovery_key.public_key().fingerprint

    def load(session):
        report = session.scalars(select(Report)).one()
        wrap = session.scalar(select(KeyWrap).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == fingerprint))
        return internal.internal_key(session, report, fingerprint, recovery_key, unwrap_dek(wrap.wrap, recovery_key, report.public_id))
    return read(database, load)


def test_the_reporters_key_opens_no_internal_note_or_reviewer_label(triage_app, database, instance_dir, lead, recovery_key):
    reference, code = seed_report(database, instance_dir, what_happened="Internal key")
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    act_ok(reviewer, reference, "note", {"text": NOTE})
    act_ok(reviewer, reference, "subjects", {"name": LABEL, "identifier": "PC 4471"})
    act_ok(reviewer, reference, "escalate", {"route": "management-action", "reason": "Reason-in-a-note-9913"})
    page = page_text(reviewer.get(f"/reports/{reference}"))
    assert NOTE in page and LABEL in page and "Reason-in-a-note-9913" in page

    items = _internal_items(database)
    assert len(items) >= 4  # two notes, a name and a number
    dek = _reporter_dek(database, instance_dir, code)
    assert not any(_opens_with(dek, item) for item in items), "the reporter's key opened an internal item"
    internal_key = _recovery_internal_key(database, recovery_key)  # the recovery key holds the internal key too
    assert internal_key != dek and all(_opens_with(internal_key, item) for item in items)
    wraps = read(database, lambda s: s.scalars(select(KeyWrap)).all())
    assert len(wraps) == 2 and all(w.internal_wrap is not None for w in wraps)  # the lead and the recovery key, nobody else


def test_notes_sealed_under_the_dek_are_moved_under_the_internal_key_when_a_reviewer_opens_the_report(
        triage_app, database, instance_dir, lead):
    reference, code = seed_report(database, instance_dir)
    dek = _reporter_dek(database, instance_dir, code)
    old_id = os.urandom(16)
    with database.transaction() as session:  # what the previous version stored (a report from before signatures)
        report = session.scalars(select(Report)).one()
        report.signature = report.key_commitment = None
        pin_local_signer(instance_dir, {report.public_id: 0})
        report.notes.append(InternalNote(public_id=old_id, author_id=lead.id,
                                         sealed_body=seal_record(dek, report.public_id, "note", MessageBody(NOTE).to_json(), old_id)))
        session.add(SubjectIndex(report_id=report.id, kind="name", value=b"v" * 32,
                                 sealed_label=seal_record(dek, report.public_id, "subject", LABEL.encode(), b"v" * 16)))
    assert all(_opens_with(dek, item) for item in _internal_items(database))  # readable with the code: the finding

    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    page = page_text(reviewer.get(f"/reports/{reference}"))
    assert NOTE in page and LABEL in page  # moved, and still shown
    items = _internal_items(database)
    assert len(items) == 2 and not any(_opens_with(dek, item) for item in items)


def test_the_recovery_key_upgrades_every_report_without_a_reviewer(database, instance_dir, lead, recovery_key):
    seed_report(database, instance_dir)
    with database.transaction() as session:  # a note as the previous version sealed it
        report = session.scalars(select(Report)).one()
        wrap = session.scalar(select(KeyWrap.wrap).where(KeyWrap.recipient_fingerprint == recovery_key.public_key().fingerprint))
        dek = unwrap_dek(wrap, recovery_key, report.public_id)
        report.notes.append(InternalNote(public_id=b"n" * 16, author_id=lead.id,
                                         sealed_body=seal_record(dek, report.public_id, "note", MessageBody(NOTE).to_json(), b"n" * 16)))
    with database.transaction() as session:
        assert internal.upgrade_with_recovery_key(session, recovery_key) == 1
    with database.transaction() as session:
        assert internal.upgrade_with_recovery_key(session, recovery_key) == 0  # done once
    [item] = _internal_items(database)
    assert not _opens_with(dek, item) and _opens_with(_recovery_internal_key(database, recovery_key), item)
    assert all(w.internal_wrap is not None for w in read(database, lambda s: s.scalars(select(KeyWrap)).all()))


def test_a_dek_wrap_put_in_place_of_the_internal_wrap_does_not_open(triage_app, database, instance_dir, lead, recovery_key):
    reference, _code = seed_report(database, instance_dir)
    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    act_ok(reviewer, reference, "note", {"text": NOTE})
    fingerprint = recovery_key.public_key().fingerprint
    with database.transaction() as session:  # a database writer swaps the recovery key's two wraps
        wrap = session.scalar(select(KeyWrap).where(KeyWrap.recipient_fingerprint == fingerprint))
        report = session.get(Report, wrap.report_id)
        wrap.internal_wrap = wrap.wrap
        with pytest.raises(CryptoError):
            internal.internal_key(session, report, fingerprint, recovery_key, b"\x00" * 32)


def test_access_granted_later_carries_the_internal_key(triage_app, database, instance_dir, lead, make_reviewer):
    other = make_reviewer("lead2", "lead", receives_new_reports=False)
    reference, _code = seed_report(database, instance_dir)
    first = sign_in_reviewer(triage_app.test_client(), lead)
    act_ok(first, reference, "note", {"text": NOTE})
    act_ok(first, reference, "access/grant", {"reviewer": str(other.id)})
    second = sign_in_reviewer(triage_app.test_client(), other)
    assert NOTE in page_text(second.get(f"/reports/{reference}"))
