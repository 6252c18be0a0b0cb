"""Issue 19: archives hold no sessions, carry an authenticated header (creation time, schema, audit
head) that restore prints, and an archive older than the newest audit checkpoint is refused unless
the operator passes --allow-rollback."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, inspect, select, text
from support import sign_in, submit_report
from triage_support import sign_in_reviewer

from portal.backup import MAGIC, BackupError, RollbackRefused, read_header, restore_backup, write_backup
from portal.config import load_settings
from portal.db import Database
from portal.instance import read_secret
from portal.migrate import upgrade
from portal.sessions import ReviewerSession, ServerSession
from portal.storage import open_database
from portal.triage.audit import record

pytestmark = pytest.mark.fresh_schema
HEADER_AT = len(MAGIC) + 1 + 16 + 2


def _empty_target(database_url: str, tmp_path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    db = Database(database_url)
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    db.dispose()
    return database_url


def _archive(database, instance_dir) -> bytes:
    out = io.BytesIO()
    write_backup(database.engine, read_secret(instance_dir, "backup_key"), out, database.blob_store)
    return out.getvalue()


def _target(database, database_url, settings_overrides, tmp_path):
    database.dispose()
    url = _empty_target(database_url, tmp_path)
    upgrade(url)
    return open_database(load_settings({**settings_overrides, "database_url": url}))


def test_a_new_archive_holds_no_sessions(reporter_client, triage_client, lead, database, database_url, instance_dir,
                                         settings_overrides, tmp_path):
    code = submit_report(reporter_client)
    assert sign_in(reporter_client, code).status_code == 302
    sign_in_reviewer(triage_client, lead)
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ServerSession)) == 1
        assert session.scalar(select(func.count()).select_from(ReviewerSession)) == 1
    blob = _archive(database, instance_dir)
    target = _target(database, database_url, settings_overrides, tmp_path)
    counts = restore_backup(target.engine, read_secret(instance_dir, "backup_key"), io.BytesIO(blob), target.blob_store)
    assert counts["server_sessions"] == counts["reviewer_sessions"] == 0
    assert counts["reports"] == 1
    with target.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ServerSession)) == 0
        assert session.scalar(select(func.count()).select_from(ReviewerSession)) == 0
    target.dispose()


def test_the_header_says_when_and_how_far_and_is_authenticated(reporter_client, database, instance_dir):
    submit_report(reporter_client)
    with database.transaction() as session:
        record(session, read_secret(instance_dir, "audit_key"), "lead", "report.viewed", "R-TEST-TEST")
        seq = session.scalar(text("SELECT max(seq) FROM audit_log"))
    blob = _archive(database, instance_dir)
    header, _, _ = read_header(read_secret(instance_dir, "backup_key"), io.BytesIO(blob))
    assert header.format == 3 and header.audit_seq == seq and len(header.audit_head) == 32
    assert header.created_at.endswith("Z") and header.created_at[:4].isdigit()
    assert "Archive made " + header.created_at in header.describe()


@pytest.mark.parametrize("change", ["created_at", "audit_seq", "tag", "alg"])
def test_a_tampered_header_is_refused(reporter_client, database, database_url, instance_dir, settings_overrides, tmp_path,
                                      change):
    submit_report(reporter_client)
    blob = bytearray(_archive(database, instance_dir))
    length = int.from_bytes(blob[HEADER_AT - 2:HEADER_AT], "big")
    header = json.loads(bytes(blob[HEADER_AT:HEADER_AT + length]))
    if change == "created_at":  # made to look newer: same length, so only the tag can tell
        header["created_at"] = "2099" + header["created_at"][4:]
    elif change == "audit_seq":
        header["audit_seq"] += 1 if header["audit_seq"] < 9 else -1
    forged = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    assert len(forged) == length or change in ("tag", "alg")
    if change in ("created_at", "audit_seq"):
        blob[HEADER_AT:HEADER_AT + length] = forged
    elif change == "tag":
        blob[HEADER_AT + length] ^= 1
    else:
        blob[len(MAGIC)] ^= 1
    key = read_secret(instance_dir, "backup_key")
    with pytest.raises(BackupError):
        read_header(key, io.BytesIO(bytes(blob)))
    target = _target(database, database_url, settings_overrides, tmp_path)
    with pytest.raises(BackupError):
        restore_backup(target.engine, key, io.BytesIO(bytes(blob)), target.blob_store)
    with target.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM reports")) == 0
    target.dispose()


def test_a_header_moved_onto_other_content_is_refused(reporter_client, database, database_url, instance_dir,
                                                      settings_overrides, tmp_path):
    """Two genuine archives: the header and tag of the newer one in front of the older one's content."""
    submit_report(reporter_client)
    older = _archive(database, instance_dir)
    submit_report(reporter_client)
    newer = _archive(database, instance_dir)
    length = int.from_bytes(newer[HEADER_AT - 2:HEADER_AT], "big")
    old_length = int.from_bytes(older[HEADER_AT - 2:HEADER_AT], "big")
    spliced = newer[:HEADER_AT + length + 32] + older[HEADER_AT + old_length + 32:]
    target = _target(database, database_url, settings_overrides, tmp_path)
    with pytest.raises(BackupError):
        restore_backup(target.engine, read_secret(instance_dir, "backup_key"), io.BytesIO(spliced), target.blob_store)
    target.dispose()


def test_restore_refuses_an_archive_behind_the_newest_checkpoint(reporter_client, database, database_url, instance_dir,
                                                                 settings_overrides, tmp_path):
    submit_report(reporter_client)
    audit_key = read_secret(instance_dir, "audit_key")
    with database.transaction() as session:
        record(session, audit_key, "lead", "report.viewed", "R-TEST-TEST")
    blob = _archive(database, instance_dir)
    header, _, _ = read_header(read_secret(instance_dir, "backup_key"), io.BytesIO(blob))
    target = _target(database, database_url, settings_overrides, tmp_path)
    key = read_secret(instance_dir, "backup_key")
    with pytest.raises(RollbackRefused, match="older than the newest audit checkpoint"):
        restore_backup(target.engine, key, io.BytesIO(blob), target.blob_store, not_older_than=(header.audit_seq + 1, b"x" * 32))
    with pytest.raises(RollbackRefused, match="another history"):
        restore_backup(target.engine, key, io.BytesIO(blob), target.blob_store, not_older_than=(header.audit_seq, b"x" * 32))
    with target.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM reports")) == 0
    counts = restore_backup(target.engine, key, io.BytesIO(blob), target.blob_store,
                            not_older_than=(header.audit_seq, header.audit_head))
    assert counts["reports"] == 1
    target.dispose()


def test_the_restore_command_prints_the_header_and_needs_the_flag_for_a_rolled_back_archive(
        cli_environment, reporter_client, database, database_url, instance_dir, tmp_path, monkeypatch):
    def cli(*args):
        return cli_environment.invoke([*args, "--instance", cli_environment.instance_dir], None)

    submit_report(reporter_client, what_happened="ROLLED-BACK")
    audit_key = read_secret(instance_dir, "audit_key")
    with database.transaction() as session:
        record(session, audit_key, "lead", "report.viewed", "R-TEST-TEST")
    assert cli("audit", "checkpoint").exit_code == 0
    archive = tmp_path / "old.bin"
    assert cli("backup", "--out", str(archive)).exit_code == 0
    with database.transaction() as session:  # the portal goes on: a reviewer's access is revoked, say
        record(session, audit_key, "lead", "access.revoked", "R-TEST-TEST")
    assert cli("audit", "checkpoint").exit_code == 0
    database.dispose()
    monkeypatch.setenv("PORTAL_DATABASE_URL", _empty_target(database_url, tmp_path))

    refused = cli("restore", str(archive))
    assert refused.exit_code != 0
    assert "Archive made " in refused.output and "(UTC)" in refused.output
    assert "older than the newest audit checkpoint" in refused.output and "--allow-rollback" in refused.output
    target = Database(_empty_target(database_url, tmp_path))
    with target.engine.connect() as connection:  # refused before the schema is even made: nothing restored
        assert not inspect(connection).has_table("reports") or connection.scalar(text("SELECT count(*) FROM reports")) == 0
    target.dispose()

    allowed = cli("restore", str(archive), "--allow-rollback")
    assert allowed.exit_code == 0, allowed.output
    assert "Archive made " in allowed.output and "Restored " in allowed.output
