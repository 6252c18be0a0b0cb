"""`portal backup` / `portal restore`: a round trip, and tampered or truncated archives refused."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select, text
from support import BLOB_STORES, blob_files, sign_in, submit_report

from portal.app import create_app
from portal.backup import BackupError, restore_backup, write_backup
from portal.config import load_settings
from portal.db import Base, Database
from portal.instance import read_secret
from portal.migrate import upgrade
from portal.storage import open_database
from portal.triage.audit import record, verify_chain

pytestmark = pytest.mark.fresh_schema
EVIDENCE = b"evidence for the archive " * 100_000  # 2.5 MB: three blob chunks


def _counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {t.name: connection.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


@pytest.fixture
def archive(reporter_client, database, instance_dir):
    code = submit_report(reporter_client, what_happened="BACKUP-MARKER", **{"people-0-name": "Bea Backup"},
                         evidence=(io.BytesIO(EVIDENCE), "evidence.txt"))
    with database.transaction() as session:
        record(session, read_secret(instance_dir, "audit_key"), "lead", "report.viewed", "R-TEST-TEST")
    out = io.BytesIO()
    counts = write_backup(database.engine, read_secret(instance_dir, "backup_key"), out, database.blob_store)
    assert counts["blobs"] == 1 and counts["blob_chunks"] == 3  # the attachment's content, from whichever store
    return code, out.getvalue()


def _target_settings(settings_overrides, target_url, target_store, tmp_path) -> dict:
    blob_dir = str(tmp_path / "restored-blobs") if target_store == "filesystem" else ""
    return {**settings_overrides, "database_url": target_url, "blob_store": target_store, "blob_dir": blob_dir}


def _empty_target(database_url: str, tmp_path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    db = Database(database_url)
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    db.dispose()
    return database_url


@pytest.mark.parametrize("target_store", BLOB_STORES)
@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_round_trip(archive, database, database_url, instance_dir, settings_overrides, tmp_path, blob_store, blob_dir,
                    target_store):
    """Taken from either store, restored into either store: the same rows, the same attachment."""
    code, blob = archive
    assert b"BACKUP-MARKER" not in blob and b"Bea Backup" not in blob and b"R-TEST-TEST" not in blob
    assert b"evidence for the archive" not in blob
    before = _counts(database.engine)
    assert before["blob_chunks"] == (3 if blob_store == "database" else 0)
    assert len(blob_files(blob_dir)) == (1 if blob_store == "filesystem" else 0)
    database.dispose()
    target_url = _empty_target(database_url, tmp_path)
    upgrade(target_url)
    target_settings = _target_settings(settings_overrides, target_url, target_store, tmp_path)
    target = open_database(load_settings(target_settings))
    counts = restore_backup(target.engine, read_secret(instance_dir, "backup_key"), io.BytesIO(blob), target.blob_store)
    assert counts["blobs"] == 1 and counts["blob_chunks"] == 3
    after = _counts(target.engine)
    assert after.pop("blob_chunks") == (3 if target_store == "database" else 0)
    assert after == {name: n for name, n in before.items() if name != "blob_chunks"}
    restored_files = blob_files(tmp_path / "restored-blobs")
    assert len(restored_files) == (1 if target_store == "filesystem" else 0)
    if blob_store == target_store == "filesystem":
        assert restored_files == blob_files(blob_dir)  # the same ciphertext under the same name
    assert verify_chain(target.session, read_secret(instance_dir, "audit_key")).ok
    target.dispose()
    # The restored instance works: the reporter signs in with the same code, reads the report and its file.
    app = create_app("reporter", target_settings)
    client = app.test_client()
    assert sign_in(client, code).status_code == 302
    case = client.get("/follow-up/case").data
    assert b"BACKUP-MARKER" in case
    (link,) = re.findall(rb'href="(/follow-up/files/[0-9a-f]{32})"', case)
    assert client.get(link.decode()).data == EVIDENCE
    # ... and new rows get fresh ids (sequences were moved past the restored rows on PostgreSQL).
    submit_report(client)
    app.extensions["portal.db"].dispose()


@pytest.mark.parametrize("target_store", BLOB_STORES)
@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign-key"])
def test_damaged_archive_is_refused_before_anything_is_restored(archive, database_url, instance_dir, tmp_path, damage, database,
                                                                settings_overrides, target_store):
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
    target = open_database(load_settings(_target_settings(settings_overrides, target_url, target_store, tmp_path)))
    with pytest.raises(BackupError):
        restore_backup(target.engine, key, io.BytesIO(blob), target.blob_store)
    assert sum(_counts(target.engine).values()) == 0
    assert blob_files(tmp_path / "restored-blobs") == {}
    target.dispose()


def test_restore_refuses_a_database_that_is_not_empty(archive, database, instance_dir):
    _, blob = archive
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(database.engine, read_secret(instance_dir, "backup_key"), io.BytesIO(blob))




@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_a_damaged_blob_store_fails_the_backup(archive, database, instance_dir, blob_store, blob_dir):
    """A backup never silently leaves out an attachment's content."""
    with database.transaction() as session:
        if blob_store == "filesystem":
            (path,) = [p for p in blob_dir.iterdir()]
            path.unlink()
        else:
            session.execute(text("DELETE FROM blob_chunks WHERE seq = 1"))
    with pytest.raises(BackupError, match="missing or damaged"):
        write_backup(database.engine, read_secret(instance_dir, "backup_key"), io.BytesIO(), database.blob_store)


def test_restore_refuses_a_blob_directory_that_is_not_empty(archive, database_url, instance_dir, settings_overrides,
                                                           tmp_path, database):
    _, blob = archive
    database.dispose()
    target_url = _empty_target(database_url, tmp_path)
    upgrade(target_url)
    target_settings = _target_settings(settings_overrides, target_url, "filesystem", tmp_path)
    (tmp_path / "restored-blobs").mkdir(mode=0o700)
    (tmp_path / "restored-blobs" / ("ab" * 16)).write_bytes(b"left over")
    target = open_database(load_settings(target_settings))
    with pytest.raises(BackupError, match="blob store is not empty"):
        restore_backup(target.engine, read_secret(instance_dir, "backup_key"), io.BytesIO(blob), target.blob_store)
    assert sum(_counts(target.engine).values()) == 0
    target.dispose()


def _version_1_archive(engine, backup_key: bytes) -> bytes:
    """What `portal backup` wrote before blob stores: every table, blob_chunks rows included."""
    import gzip
    import json
    import os

    from portal.backup import MAGIC_V1, _encode, _key
    from portal.crypto.stream import StreamEncryptor

    out = io.BytesIO()
    archive_id = os.urandom(16)
    out.write(MAGIC_V1 + archive_id)
    encryptor = StreamEncryptor(_key(backup_key), archive_id, b"\x00" * 16, out)
    with gzip.GzipFile(fileobj=encryptor, mode="wb", mtime=0) as gz, engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                record = {"table": table.name, "row": {k: _encode(v) for k, v in row._mapping.items()}}
                gz.write(json.dumps(record).encode() + b"\n")
    encryptor.finish()
    return out.getvalue()


@pytest.mark.parametrize("blob_store", ["database"])  # version 1 archives were taken from database rows
@pytest.mark.parametrize("target_store", BLOB_STORES)
def test_a_version_1_archive_still_restores(reporter_client, database, database_url, instance_dir, settings_overrides,
                                            tmp_path, target_store):
    code = submit_report(reporter_client, what_happened="OLD-ARCHIVE", evidence=(io.BytesIO(EVIDENCE), "old.txt"))
    blob = _version_1_archive(database.engine, read_secret(instance_dir, "backup_key"))
    database.dispose()
    target_url = _empty_target(database_url, tmp_path)
    upgrade(target_url)
    target_settings = _target_settings(settings_overrides, target_url, target_store, tmp_path)
    target = open_database(load_settings(target_settings))
    restore_backup(target.engine, read_secret(instance_dir, "backup_key"), io.BytesIO(blob), target.blob_store)
    target.dispose()
    app = create_app("reporter", target_settings)
    client = app.test_client()
    assert sign_in(client, code).status_code == 302
    (link,) = re.findall(rb'href="(/follow-up/files/[0-9a-f]{32})"', client.get("/follow-up/case").data)
    assert client.get(link.decode()).data == EVIDENCE  # with the filesystem store: read from the restored rows
    app.extensions["portal.db"].dispose()
