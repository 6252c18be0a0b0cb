"""`portal backup` / `portal restore`: a round trip, and tampered or truncated archives refused."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select, text
from support import sign_in, submit_report

from portal import create_app
from portal.backup import BackupError, restore_backup, write_backup
from portal.db import Base, Database
from portal.instance import read_secret
from portal.migrate import upgrade
from portal.triage.audit import record, verify_chain

pytestmark = pytest.mark.fresh_schema


def _counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {t.name: connection.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


@pytest.fixture
def archive(reporter_client, database, instance_dir):
    code = submit_report(reporter_client, what_happened="BACKUP-MARKER", **{"people-0-name": "Bea Backup"})
    with database.transaction() as session:
        record(session, read_secret(instance_dir, "audit_key"), "lead", "report.viewed", "R-TEST-TEST")
    out = io.BytesIO()
    write_backup(database.engine, read_secret(instance_dir, "backup_key"), out)
    return code, out.getvalue()


def _empty_target(database_url: str, tmp_path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    db = Database(database_url)
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    db.dispose()
    return database_url


def test_round_trip(archive, database, database_url, instance_dir, settings_overrides, tmp_path):
    code, blob = archive
    assert b"BACKUP-MARKER" not in blob and b"Bea Backup" not in blob and b"R-TEST-TEST" not in blob
    before = _counts(database.engine)
    database.dispose()
    target_url = _empty_target(database_url, tmp_path)
    upgrade(target_url)
    target = Database(target_url)
    restore_backup(target.engine, read_secret(instance_dir, "backup_key"), io.BytesIO(blob))
    assert _counts(target.engine) == before
    assert verify_chain(target.session, read_secret(instance_dir, "audit_key")).ok
    target.dispose()
    # The restored instance works: the reporter signs in with the same code and reads the report.
    app = create_app("reporter", {**settings_overrides, "database_url": target_url})
    client = app.test_client()
    assert sign_in(client, code).status_code == 302
    assert b"BACKUP-MARKER" in client.get("/follow-up/case").data
    # ... and new rows get fresh ids (sequences were moved past the restored rows on PostgreSQL).
    submit_report(client)
    app.extensions["portal.db"].dispose()


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign-key"])
def test_damaged_archive_is_refused_before_anything_is_restored(archive, database_url, instance_dir, tmp_path, damage, database):
    _, blob = archive
    key = read_secret(instance_dir, "backup_key")
    if damage == "flip":
        blob = blob[:200] + bytes([blob[200] ^ 1]) + blob[201:]
    elif damage == "truncate":
        blob = blob[: len(blob) - 40]
    else:
        key = bytes(32)
    database.dispose()
    target_url = _empty_target(database_url, tmp_path)
    upgrade(target_url)
    target = Database(target_url)
    with pytest.raises(BackupError):
        restore_backup(target.engine, key, io.BytesIO(blob))
    assert sum(_counts(target.engine).values()) == 0
    target.dispose()


def test_restore_refuses_a_database_that_is_not_empty(archive, database, instance_dir):
    _, blob = archive
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(database.engine, read_secret(instance_dir, "backup_key"), io.BytesIO(blob))


