"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

import portal.models  # noqa: F401
from portal.db import Base, Database
from portal.migrate import upgrade

pytestmark = pytest.mark.fresh_schema


def test_upgrade_from_empty_matches_models(database_url, instance_dir):
    upgrade(database_url)
    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        upgrade(database_url)  # idempotent: a second deploy changes nothing
    finally:
        db.dispose()


def test_audit_log_is_append_only_on_postgresql(database_url, instance_dir):
    if not database_url.startswith("postgresql"):
        pytest.skip("the append-only trigger is PostgreSQL's (SQLite relies on the application and the hash chain)")
    upgrade(database_url)
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO audit_log (seq, occurred_at, actor, action, detail, prev_hash, entry_hash) "
                "VALUES (1, now(), 'x', 'y', '{}', '\\x00', '\\x00')"))
        for statement in ("UPDATE audit_log SET action = 'z'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(Exception, match="append-only"):
                with db.engine.begin() as connection:
                    connection.execute(text(statement))
    finally:
        db.dispose()


def test_upgrade_from_the_previous_release_keeps_and_completes_the_data(database_url, instance_dir):
    """Release 1 (revision 0001) with reports in it, upgraded to head: rows kept, new columns filled in."""
    upgrade(database_url, "0001")
    db = Database(database_url)
    rows = [  # reference, stage, priority, acknowledged_on -> expected (priority_rank, due_on)
        ("R-OPEN-NEW1", "new", "urgent", None, 2, dt.date(2026, 1, 8)),
        ("R-OPEN-ACK1", "assessing", "high", dt.date(2026, 1, 3), 1, dt.date(2026, 4, 1)),
        ("R-CLOSED-01", "closed", "normal", dt.date(2026, 1, 2), 0, None),
    ]
    try:
        with db.engine.begin() as connection:
            for n, (reference, stage, priority, acknowledged, _, _) in enumerate(rows):
                connection.execute(
                    text("INSERT INTO reports (public_id, reference, lookup_id, received_on, reporter_urgent, "
                         "encrypted_in_browser, sealed_report, reporter_wrap, stage, risk_flags, priority, "
                         "acknowledged_on, subjects_indexed, names_reviewer, rule_reasons) VALUES (:public_id, :reference, "
                         ":lookup_id, :received, false, false, :sealed, :wrap, :stage, '', :priority, :acknowledged, "
                         "true, false, '')"),
                    {"public_id": bytes([n]) * 16, "reference": reference, "lookup_id": bytes([n]) * 32,
                     "received": dt.date(2026, 1, 1), "sealed": b"\x01\x01sealed", "wrap": b"wrap", "stage": stage,
                     "priority": priority, "acknowledged": acknowledged},
                )
        upgrade(database_url)
        with db.engine.connect() as connection:
            found = {r.reference: (r.priority_rank, r.due_on) for r in connection.execute(
                text("SELECT reference, priority_rank, due_on FROM reports"))}
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        for reference, *_, rank, due in rows:
            got_rank, got_due = found[reference]
            got_due = dt.date.fromisoformat(got_due) if isinstance(got_due, str) else got_due  # SQLite: text
            assert (got_rank, got_due) == (rank, due), reference
        assert diff == []
    finally:
        db.dispose()


def test_upgrade_from_0002_keeps_reports_and_none_is_junk(database_url, instance_dir):
    """Release 2 (revision 0002) with reports in it, upgraded to head: every row kept as it was,
    none of them junk, and the queue indexes rebuilt with `junk` first."""
    upgrade(database_url, "0002")
    db = Database(database_url)
    rows = [  # reference, stage, due_on, subjects_indexed
        ("R-TWO-NEW-01", "new", dt.date(2026, 1, 8), False),
        ("R-TWO-ESC-01", "escalated", dt.date(2026, 4, 1), True),
        ("R-TWO-CLS-01", "closed", None, True),
    ]
    try:
        with db.engine.begin() as connection:
            for n, (reference, stage, due, indexed) in enumerate(rows):
                connection.execute(
                    text("INSERT INTO reports (public_id, reference, lookup_id, received_on, reporter_urgent, "
                         "encrypted_in_browser, sealed_report, reporter_wrap, stage, risk_flags, priority, priority_rank, "
                         "due_on, subjects_indexed, names_reviewer, rule_reasons) VALUES (:public_id, :reference, "
                         ":lookup_id, :received, false, false, :sealed, :wrap, :stage, '', 'normal', 0, :due, :indexed, "
                         "false, '')"),
                    {"public_id": bytes([n]) * 16, "reference": reference, "lookup_id": bytes([n]) * 32,
                     "received": dt.date(2026, 1, 1), "sealed": b"\x01\x01sealed", "wrap": b"wrap", "stage": stage,
                     "due": due, "indexed": indexed},
                )
        upgrade(database_url)
        with db.engine.connect() as connection:
            found = {r.reference: r for r in connection.execute(
                text("SELECT reference, stage, due_on, subjects_indexed, sealed_report, junk, junk_on, junk_reason FROM reports"))}
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
            indexes = {ix["name"]: ix["column_names"] for ix in sa_inspect(connection).get_indexes("reports")}
        assert set(found) == {reference for reference, *_ in rows}
        for reference, stage, due, indexed in rows:
            row = found[reference]
            got_due = dt.date.fromisoformat(row.due_on) if isinstance(row.due_on, str) else row.due_on  # SQLite: text
            assert (row.stage, got_due, bool(row.subjects_indexed), bytes(row.sealed_report)) == (stage, due, indexed, b"\x01\x01sealed")
            assert (bool(row.junk), row.junk_on, row.junk_reason) == (False, None, None), reference
        assert indexes["ix_reports_queue_received"] == ["junk", "received_on", "id"]
        assert indexes["ix_reports_index_pending"] == ["junk", "subjects_indexed"]
        assert "ix_reports_subjects_indexed" not in indexes
        assert diff == []
        with db.engine.begin() as connection:  # the column's default also holds for rows written without it
            connection.execute(text("INSERT INTO reports (public_id, reference, lookup_id, received_on, reporter_urgent, "
                                    "encrypted_in_browser, sealed_report, reporter_wrap, stage, risk_flags, priority, "
                                    "priority_rank, subjects_indexed, names_reviewer, rule_reasons) VALUES (:p, 'R-AFTER-01', "
                                    ":l, :d, false, false, :s, :w, 'new', '', 'normal', 0, false, false, '')"),
                               {"p": b"\x09" * 16, "l": b"\x09" * 32, "d": dt.date(2026, 2, 1), "s": b"x", "w": b"w"})
            assert connection.scalar(text("SELECT junk FROM reports WHERE reference = 'R-AFTER-01'")) in (False, 0)
    finally:
        db.dispose()


def test_upgrade_to_screening_keeps_existing_reports_readable(database_url, instance_dir):
    """Reports from before screening (revision 0004) were wrapped to their reviewers on arrival:
    after the upgrade they are "screened" as they are, wraps (reviewers' and recovery) untouched.
    A row written later without the column waits for screening."""
    upgrade(database_url, "0004")
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO reports (public_id, reference, lookup_id, received_on, reporter_urgent, encrypted_in_browser, "
                "sealed_report, reporter_wrap, stage, risk_flags, priority, priority_rank, subjects_indexed, names_reviewer, "
                "rule_reasons, junk) VALUES (:p, 'R-OLD-0001', :l, :d, false, false, :s, :w, 'new', '', 'normal', 0, false, "
                "false, '', false)"), {"p": b"\x05" * 16, "l": b"\x05" * 32, "d": dt.date(2026, 3, 1), "s": b"\x01\x01old", "w": b"w"})
            report_id = connection.scalar(text("SELECT id FROM reports WHERE reference = 'R-OLD-0001'"))
            for fingerprint in ("a" * 32, "b" * 32):
                connection.execute(text("INSERT INTO key_wraps (report_id, recipient_fingerprint, wrap) VALUES (:r, :f, :w)"),
                                   {"r": report_id, "f": fingerprint, "w": b"wrap-" + fingerprint.encode()})
        upgrade(database_url)
        with db.engine.begin() as connection:
            row = connection.execute(text("SELECT screening, screening_problem, sealed_subjects FROM reports "
                                          "WHERE reference = 'R-OLD-0001'")).one()
            assert tuple(row) == ("screened", None, None)
            wraps = dict(connection.execute(text("SELECT recipient_fingerprint, wrap FROM key_wraps WHERE report_id = :r"),
                                            {"r": report_id}).all())
            assert {k: bytes(v) for k, v in wraps.items()} == {"a" * 32: b"wrap-" + b"a" * 32, "b" * 32: b"wrap-" + b"b" * 32}
            assert connection.scalar(text("SELECT count(*) FROM held_wraps")) == 0
            connection.execute(text(
                "INSERT INTO reports (public_id, reference, lookup_id, received_on, reporter_urgent, encrypted_in_browser, "
                "sealed_report, reporter_wrap, stage, risk_flags, priority, priority_rank, subjects_indexed, names_reviewer, "
                "rule_reasons, junk) VALUES (:p, 'R-NEW-0001', :l, :d, false, false, :s, :w, 'new', '', 'normal', 0, false, "
                "false, '', false)"), {"p": b"\x06" * 16, "l": b"\x06" * 32, "d": dt.date(2026, 3, 2), "s": b"x", "w": b"w"})
            assert connection.scalar(text("SELECT screening FROM reports WHERE reference = 'R-NEW-0001'")) == "pending"
            indexes = {ix["name"]: ix["column_names"] for ix in sa_inspect(connection).get_indexes("reports")}
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        assert indexes["ix_reports_screening"] == ["screening", "id"]
        assert diff == []
    finally:
        db.dispose()



def test_upgrade_from_0004_ends_reviewer_sessions_and_keeps_the_reporters(database_url, instance_dir):
    """Release 0.3.0 (revision 0004) with sessions in it, upgraded to 0008: reviewer sessions cannot be
    attributed to a reviewer, so they end (reviewers sign in again); reporters' sessions stay, unattributed."""
    upgrade(database_url, "0004")
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            for n, kind in enumerate(("reviewer", "reviewer", "reporter")):
                connection.execute(
                    text("INSERT INTO server_sessions (id_hash, kind, sealed_payload, idle_expires_at, absolute_expires_at) "
                         "VALUES (:id, :kind, :payload, :t, :t)"),
                    {"id": bytes([n]) * 32, "kind": kind, "payload": b"sealed", "t": dt.datetime(2030, 1, 1)})
        upgrade(database_url, "0008")
        with db.engine.connect() as connection:
            left = [tuple(r) for r in connection.execute(text("SELECT kind, reviewer_id FROM server_sessions"))]
        assert left == [("reporter", None)]
    finally:
        db.dispose()



def test_upgrade_from_0004_marks_every_stored_report_receipt_format_1(database_url, instance_dir):
    """Release 0.3.0 (revision 0004) with a report in it, upgraded to head: the report is marked
    receipt format 1 (its lookup id and wrap are keyed on the secret) until its next sign-in
    rewrites it; a report the new code stores is format 2."""
    upgrade(database_url, "0004")
    db = Database(database_url)
    insert = text("INSERT INTO reports (public_id, reference, lookup_id, received_on, reporter_urgent, encrypted_in_browser, "
                  "sealed_report, reporter_wrap, stage, risk_flags, priority, priority_rank, subjects_indexed, "
                  "names_reviewer, rule_reasons, junk) VALUES (:p, :r, :l, :d, false, false, :s, :w, 'new', '', 'normal', 0, "
                  "false, false, '', false)")
    try:
        with db.engine.begin() as connection:
            connection.execute(insert, {"p": b"\x04" * 16, "r": "R-FOUR-OLD-01", "l": b"\x04" * 32, "d": dt.date(2026, 3, 1),
                                        "s": b"\x01\x01sealed", "w": b"\x01\x12wrap"})
        upgrade(database_url)
        with db.engine.connect() as connection:
            row = connection.execute(text("SELECT receipt_format, lookup_id, reporter_wrap FROM reports")).one()
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        assert (row.receipt_format, bytes(row.lookup_id), bytes(row.reporter_wrap)) == (1, b"\x04" * 32, b"\x01\x12wrap")
        assert diff == []
        from portal.reports.models import Report

        assert Report.__table__.c.receipt_format.default.arg == 2  # what the application writes from now on
    finally:
        db.dispose()



def test_upgrade_from_0004_backfills_who_ever_flagged_a_report_high_risk(database_url, instance_dir):
    """Release 0.3 (revision 0004) upgraded to head: a report recategorised "other" before the upgrade
    stays high-risk (from the audit log), so do the reporter's "at risk now" and a high-risk flag; a
    pending closure gets its proposer; existing accounts get their skeletons."""
    upgrade(database_url, "0004")
    db = Database(database_url)
    rows = [  # reference, category, risk_flags, reporter_urgent, stage -> ever_high_risk
        ("R-RECAT-0001", "other", "", False, "assessing", True),
        ("R-URGENT-001", None, "", True, "new", True),
        ("R-SENIOR-001", "vetting-concern", "on-duty,senior-subject", False, "assessing", True),
        ("R-PENDING-01", "sexual-assault", "", False, "closure-pending", True),
        ("R-PLAIN-0001", "vetting-concern", "on-duty", False, "closed", False),
    ]
    audit = [("lead", "report.categorised", "R-RECAT-0001", '{"category":"sexual-assault","flags":[],"priority":"high"}'),
             ("lead", "report.categorised", "R-RECAT-0001", '{"category":"other","flags":[],"priority":"normal"}'),
             ("lead", "report.closure-requested", "R-PENDING-01", '{"outcome":"no-further-action"}')]
    try:
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO reviewers (login, display_name, role, active, receives_new_reports, passphrase_hash, "
                "locked_private_key, public_key, key_fingerprint, sealed_totp_secret, totp_enrolled, last_totp_step, "
                "must_change_passphrase, created_on) VALUES ('lead', 'Lеad Person', 'lead', true, true, 'x', :k, :k, "
                "'fp', :k, true, 0, false, :d)"), {"k": b"k", "d": dt.date(2026, 1, 1)})
            for n, (reference, category, flags, urgent, stage, _) in enumerate(rows):
                connection.execute(
                    text("INSERT INTO reports (public_id, reference, lookup_id, received_on, reporter_urgent, "
                         "encrypted_in_browser, sealed_report, reporter_wrap, stage, category, risk_flags, priority, "
                         "priority_rank, subjects_indexed, names_reviewer, rule_reasons, junk) VALUES (:public_id, "
                         ":reference, :lookup_id, :received, :urgent, false, :sealed, :wrap, :stage, :category, :flags, "
                         "'normal', 0, true, false, '', false)"),
                    {"public_id": bytes([n]) * 16, "reference": reference, "lookup_id": bytes([n]) * 32,
                     "received": dt.date(2026, 1, 1), "urgent": urgent, "sealed": b"\x01\x01sealed", "wrap": b"wrap",
                     "stage": stage, "category": category, "flags": flags})
            for seq, (actor, action, reference, detail) in enumerate(audit, start=1):
                connection.execute(text(
                    "INSERT INTO audit_log (seq, occurred_at, actor, action, report_ref, detail, prev_hash, entry_hash) "
                    "VALUES (:seq, :at, :actor, :action, :ref, :detail, :h, :h)"),
                    {"seq": seq, "at": dt.datetime(2026, 1, 2), "actor": actor, "action": action, "ref": reference,
                     "detail": detail, "h": b"\x00" * 32})
            plain = connection.scalar(text("SELECT id FROM reports WHERE reference = 'R-PLAIN-0001'"))
            connection.execute(text("INSERT INTO messages (report_id, public_id, from_reporter, sent_on, sealed_body) "
                                    "VALUES (:r, :p, true, :d, :b)"), {"r": plain, "p": b"\x07" * 16, "d": dt.date(2026, 1, 3),
                                                                        "b": b"\x01\x01message"})
            message = connection.scalar(text("SELECT id FROM messages"))
        upgrade(database_url)
        with db.engine.connect() as connection:
            found = {r.reference: r for r in connection.execute(text(
                "SELECT reference, ever_high_risk, closure_proposer_id FROM reports"))}
            flags = connection.execute(text("SELECT unread, after_closure FROM messages")).one()
            lead = connection.execute(text("SELECT id, login_skeleton, name_skeleton FROM reviewers")).one()
            # On SQLite a rebuilt `reports` table would have cascaded to its messages: they are all still there.
            assert connection.scalar(text("SELECT count(*) FROM messages")) == 1
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        for reference, *_, high in rows:
            assert bool(found[reference].ever_high_risk) is high, reference
        # A message from before the upgrade counts as read and as decided on: no signal.
        assert (bool(flags.unread), bool(flags.after_closure)) == (False, False) and message
        assert found["R-PENDING-01"].closure_proposer_id == lead.id
        assert found["R-RECAT-0001"].closure_proposer_id is None
        assert (lead.login_skeleton, lead.name_skeleton) == ("lead", "leadperson")  # the Cyrillic е folded too
        assert diff == []
    finally:
        db.dispose()



def test_upgrade_from_0004_keeps_subject_values_that_still_match(database_url, instance_dir):
    """Release 0.3.0 (revision 0004) with a report and its blind-index rows, upgraded to head: the
    rows are kept, the kinds written before ("name", "identifier") are still what subject_values
    computes for the same text (so old links and declared conflicts keep matching), decisions on
    possible links have their table and the mine + overdue index exists."""
    from portal.triage.subjects import subject_values

    key = b"\x07" * 32
    old = {(kind, value) for kind, value in subject_values(key, "Sgt John O'Neill", "PC 4471") if kind in ("name", "identifier")}
    upgrade(database_url, "0004")
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO reports (id, public_id, reference, lookup_id, received_on, reporter_urgent, encrypted_in_browser, "
                "sealed_report, reporter_wrap, stage, risk_flags, priority, priority_rank, due_on, subjects_indexed, "
                "names_reviewer, rule_reasons, junk) VALUES (1, :p, 'R-FOUR-0001', :l, :d, false, false, :s, :w, 'new', '', "
                "'normal', 0, :d, true, false, '', false)"),
                {"p": b"\x04" * 16, "l": b"\x04" * 32, "d": dt.date(2026, 3, 1), "s": b"\x01\x01sealed", "w": b"w"})
            for kind, value in old:
                connection.execute(text("INSERT INTO subject_index (report_id, kind, value, removed) VALUES (1, :k, :v, false)"),
                                   {"k": kind, "v": value})
        upgrade(database_url)
        with db.engine.connect() as connection:
            kept = {(r.kind, bytes(r.value)) for r in connection.execute(text("SELECT kind, value FROM subject_index"))}
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
            indexes = {ix["name"]: ix["column_names"] for ix in sa_inspect(connection).get_indexes("reports")}
            assert connection.scalar(text("SELECT count(*) FROM link_decisions")) == 0
        assert kept == old and {k for k, _ in kept} == {"name", "identifier"}
        assert old < subject_values(key, "john o'neill", "pc4471")  # new reports carry the old kinds too
        assert indexes["ix_reports_queue_assignee_due"] == ["junk", "assignee_id", "due_on", "id"]
        assert diff == []
    finally:
        db.dispose()



def test_upgrade_from_0002_keeps_the_rows_that_point_at_reports(database_url, instance_dir):
    """On SQLite a batch migration rebuilds `reports` (copy, drop, rename). With foreign keys on,
    dropping the old table cascaded to every message, key wrap and note: an upgrade from 0002
    silently deleted them. Every row that points at a report survives the upgrade to head."""
    upgrade(database_url, "0002")
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO reports (public_id, reference, lookup_id, received_on, reporter_urgent, encrypted_in_browser, "
                "sealed_report, reporter_wrap, stage, risk_flags, priority, priority_rank, subjects_indexed, names_reviewer, "
                "rule_reasons) VALUES (:p, 'R-TWO-KEEP-1', :l, :d, false, false, :s, :w, 'new', '', 'normal', 0, false, "
                "false, '')"), {"p": b"\x07" * 16, "l": b"\x07" * 32, "d": dt.date(2026, 1, 1), "s": b"\x01\x01s", "w": b"w"})
            report_id = connection.scalar(text("SELECT id FROM reports WHERE reference = 'R-TWO-KEEP-1'"))
            connection.execute(text("INSERT INTO key_wraps (report_id, recipient_fingerprint, wrap) VALUES (:r, :f, :w)"),
                               {"r": report_id, "f": "c" * 32, "w": b"wrap"})
            columns = {c["name"] for c in sa_inspect(connection).get_columns("messages")}
            values = {"report_id": report_id, "public_id": b"\x08" * 16, "from_reporter": True, "sent_on": dt.date(2026, 1, 2),
                      "sealed_body": b"\x01\x01m"}
            assert set(values) <= columns
            connection.execute(text(f"INSERT INTO messages ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})"),
                               values)
        upgrade(database_url)
        with db.engine.connect() as connection:
            wraps = connection.scalar(text("SELECT count(*) FROM key_wraps WHERE report_id = :r"), {"r": report_id})
            messages = connection.scalar(text("SELECT count(*) FROM messages WHERE report_id = :r"), {"r": report_id})
        assert (wraps, messages) == (1, 1)
    finally:
        db.dispose()


def test_upgrade_to_0011_ends_reviewer_sessions_and_computes_the_reporter_status(database_url, instance_dir):
    """Revision 0009 with sessions of both kinds and reports in four workflow states, upgraded to 0011:
    reviewer sessions end (they move to reviewer_sessions, out of the reporter role's reach), the
    reporter's stays, and every stored report gets the status the reporter is shown, computed."""
    upgrade(database_url, "0009")
    db = Database(database_url)
    insert = text("INSERT INTO reports (public_id, reference, lookup_id, received_on, reporter_urgent, encrypted_in_browser, "
                  "sealed_report, reporter_wrap, stage, escalation_route, risk_flags, priority, priority_rank, subjects_indexed, "
                  "names_reviewer, rule_reasons, junk) VALUES (:p, :r, :l, :d, false, false, :s, :w, :stage, :route, '', "
                  "'normal', 0, false, false, '', false)")
    cases = [("new", None, "received"), ("assessing", None, "assessing"), ("escalated", "professional-standards", "referred"),
             ("escalated", "management-action", "assessing"), ("closed", "anti-corruption", "closed")]
    try:
        with db.engine.begin() as connection:
            for n, (stage, route, _) in enumerate(cases):
                connection.execute(insert, {"p": bytes([n]) * 16, "r": f"R-ELEV-EN0{n}", "l": bytes([n]) * 32,
                                            "d": dt.date(2026, 3, 1), "s": b"\x01\x01sealed", "w": b"\x01\x12wrap",
                                            "stage": stage, "route": route})
            for n, (kind, reviewer) in enumerate((("reviewer", 1), ("reporter", None))):
                connection.execute(
                    text("INSERT INTO server_sessions (id_hash, kind, sealed_payload, idle_expires_at, absolute_expires_at, "
                         "reviewer_id) VALUES (:id, :kind, :payload, :t, :t, :reviewer)"),
                    {"id": bytes([n]) * 32, "kind": kind, "payload": b"sealed", "t": dt.datetime(2030, 1, 1), "reviewer": reviewer})
        upgrade(database_url, "0011")
        with db.engine.connect() as connection:
            statuses = [r[0] for r in connection.execute(text("SELECT reporter_status FROM reports ORDER BY reference"))]
            left = [r[0] for r in connection.execute(text("SELECT kind FROM server_sessions"))]
            moved = connection.scalar(text("SELECT count(*) FROM reviewer_sessions"))
            connection.execute(text("UPDATE reports SET stage = 'closed' WHERE reference = 'R-ELEV-EN00'"))
            assert connection.scalar(text("SELECT reporter_status FROM reports WHERE reference = 'R-ELEV-EN00'")) == "closed"
        assert statuses == [status for _, _, status in cases]
        assert left == ["reporter"] and moved == 0
    finally:
        db.dispose()
