"""portal.triage.audit: an append-only, hash-chained log whose every edit, deletion,
insertion or reordering `verify_chain` detects."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
from sqlalchemy import select, text

from portal.triage import audit
from portal.triage.audit import AuditEntry, record, verify_chain

KEY = b"a" * 32


@pytest.fixture
def log(database):
    """Six entries, committed; yields a session to tamper with (rolled back afterwards)."""
    with database.transaction() as session:
        record(session, KEY, "system", "reviewer.created", reviewer="lead", role="lead")
        record(session, KEY, "lead", "reviewer.signed-in")
        record(session, KEY, "lead", "report.viewed", "R-AAAA-BBBB")
        record(session, KEY, "lead", "report.categorised", "R-AAAA-BBBB", category="other", flags=[], priority="high")
        record(session, KEY, "lead", "report.closed", "R-AAAA-BBBB", outcome="action-taken")
        record(session, KEY, "lead", "reviewer.signed-out")
    session = database.session
    yield session
    session.rollback()


def test_empty_log_verifies(database):
    result = verify_chain(database.session, KEY)
    assert result.ok and result.entries == 0


def test_intact_log_verifies(log):
    result = verify_chain(log, KEY)
    assert result.ok and result.entries == 6 and result.problem == ""


def test_entries_are_chained_in_order(log):
    entries = list(log.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == audit.GENESIS
    for previous, entry in zip(entries, entries[1:], strict=False):
        assert entry.prev_hash == previous.entry_hash
    assert len({e.entry_hash for e in entries}) == 6
    assert json.loads(entries[3].detail) == {"category": "other", "flags": [], "priority": "high"}
    assert entries[3].occurred_at.microsecond == 0


def test_wrong_key_does_not_verify(log):
    assert not verify_chain(log, b"b" * 32).ok


@pytest.mark.parametrize("column, value", [
    ("action", "'report.viewed'"),
    ("detail", "'{\"category\":\"vetting-concern\",\"flags\":[],\"priority\":\"high\"}'"),
    ("actor", "'someone-else'"),
    ("report_ref", "'R-CCCC-DDDD'"),
    ("report_ref", "NULL"),
])
def test_an_edited_entry_is_detected(log, column, value):
    log.execute(text(f"UPDATE audit_log SET {column} = {value} WHERE seq = 4"))
    result = verify_chain(log, KEY)
    assert not result.ok
    assert "entry 4" in result.problem and "altered" in result.problem


def test_an_edited_time_is_detected(log):
    entry = log.scalar(select(AuditEntry).where(AuditEntry.seq == 3))
    entry.occurred_at = entry.occurred_at - dt.timedelta(hours=1)
    log.flush()
    assert not verify_chain(log, KEY).ok


def test_a_deleted_middle_entry_is_detected(log):
    log.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    result = verify_chain(log, KEY)
    assert not result.ok and "entry 3 is missing" in result.problem


def test_a_deleted_first_entry_is_detected(log):
    log.execute(text("DELETE FROM audit_log WHERE seq = 1"))
    assert not verify_chain(log, KEY).ok


def test_deleting_and_renumbering_is_detected(log):
    log.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    for seq in (4, 5, 6):
        log.execute(text(f"UPDATE audit_log SET seq = {seq - 1} WHERE seq = {seq}"))
    result = verify_chain(log, KEY)
    assert not result.ok and "3" in result.problem


def test_swapping_two_entries_is_detected(log):
    log.execute(text("UPDATE audit_log SET seq = -1 WHERE seq = 2"))
    log.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 5"))
    log.execute(text("UPDATE audit_log SET seq = 5 WHERE seq = -1"))
    assert not verify_chain(log, KEY).ok


def test_swapping_adjacent_entries_is_detected(log):
    log.execute(text("UPDATE audit_log SET seq = -1 WHERE seq = 3"))
    log.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 4"))
    log.execute(text("UPDATE audit_log SET seq = 4 WHERE seq = -1"))
    assert not verify_chain(log, KEY).ok


def test_swapping_contents_keeping_hashes_is_detected(log):
    """Swap what two entries say, leaving seq and the hash columns where they were."""
    a = log.scalar(select(AuditEntry).where(AuditEntry.seq == 2))
    b = log.scalar(select(AuditEntry).where(AuditEntry.seq == 5))
    a.action, b.action = b.action, a.action
    a.report_ref, b.report_ref = b.report_ref, a.report_ref
    a.detail, b.detail = b.detail, a.detail
    log.flush()
    assert not verify_chain(log, KEY).ok


def _forge(prev: bytes, seq: int, when: dt.datetime, actor: str, action: str, ref, detail: str, key: bytes) -> bytes:
    body = json.dumps([seq, when.isoformat(timespec="seconds"), actor, action, ref, detail], separators=(",", ":")).encode()
    return hmac.new(key, prev + body, hashlib.sha256).digest()


def test_an_inserted_entry_is_detected_without_the_key(log):
    """Someone with database access but not the audit key inserts an entry and re-chains the rest."""
    entries = list(log.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    for entry in reversed(entries[2:]):
        entry.seq += 1
        log.flush()
    forged_key = b"guess" * 6 + b"!!"
    prev = entries[1].entry_hash
    when = entries[1].occurred_at
    inserted = AuditEntry(seq=3, occurred_at=when, actor="lead", action="report.deleted", report_ref="R-AAAA-BBBB", detail="{}",
                          prev_hash=prev, entry_hash=_forge(prev, 3, when, "lead", "report.deleted", "R-AAAA-BBBB", "{}", forged_key))
    log.add(inserted)
    log.flush()
    prev = inserted.entry_hash
    for entry in entries[2:]:
        entry.prev_hash = prev
        entry.entry_hash = _forge(prev, entry.seq, entry.occurred_at, entry.actor, entry.action, entry.report_ref, entry.detail,
                                  forged_key)
        prev = entry.entry_hash
    log.flush()
    result = verify_chain(log, KEY)
    assert not result.ok and "entry 3" in result.problem


def test_a_rechained_edit_needs_the_key(log):
    """Edit an entry and recompute every later hash with plain SHA-256: still detected."""
    entries = list(log.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    entries[2].action = "report.nothing-to-see"
    prev = entries[1].entry_hash
    for entry in entries[2:]:
        body = json.dumps([entry.seq, entry.occurred_at.isoformat(timespec="seconds"), entry.actor, entry.action,
                           entry.report_ref, entry.detail], separators=(",", ":")).encode()
        entry.prev_hash = prev
        entry.entry_hash = hashlib.sha256(prev + body).digest()
        prev = entry.entry_hash
    log.flush()
    assert not verify_chain(log, KEY).ok


def test_appending_continues_the_chain(log, database):
    record(log, KEY, "lead", "report.viewed", "R-EEEE-FFFF")
    log.commit()
    result = verify_chain(database.session, KEY)
    assert result.ok and result.entries == 7


def test_detail_is_canonical_json():
    canonical = audit._canonical(1, dt.datetime(2026, 1, 2, 3, 4, 5), "lead", "x", None, '{"a":1}')
    assert canonical == b'[1,"2026-01-02T03:04:05","lead","x",null,"{\\"a\\":1}"]'


def test_the_application_never_updates_or_deletes_entries():
    """Only `record` writes to the log: no reviewer-facing code path edits or removes an entry."""
    import pathlib

    import portal

    root = pathlib.Path(portal.__file__).parent
    for path in [*(root / "triage").rglob("*.py"), *(root / "reports").rglob("*.py")]:
        source = path.read_text("utf-8")
        for needle in ("update(AuditEntry", "delete(AuditEntry", "UPDATE audit_log", "DELETE FROM audit_log"):
            assert needle not in source, f"{path.relative_to(root)} contains {needle!r}"
