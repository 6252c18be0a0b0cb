"""The attachment blob store, on both backends: the database (blob_chunks rows) and a directory.

Round trips in bounded chunks; files named after the blob id with owner-only permissions, never
a time of day on the inode; rollback, deletion and crash leftovers leave no orphan behind once
`purge_abandoned_drafts` has run; and the store comes from the settings.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import stat

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from support import BLOB_STORES, blob_files

from portal.blobs import (
    CHUNK_BYTES,
    Blob,
    BlobChunk,
    BlobReader,
    BlobWriter,
    DatabaseBlobStore,
    FilesystemBlobStore,
    blob_size,
    blob_store_from_settings,
    delete_blob,
    mark_attached,
    purge_abandoned_drafts,
)
from portal.config import load_settings
from portal.storage import open_database

pytestmark = pytest.mark.parametrize("blob_store", BLOB_STORES)

CONTENT = os.urandom(CHUNK_BYTES * 2 + 12345)  # three chunks, the last one short


def _write(session, content: bytes = CONTENT, blob_id: bytes | None = None, attached: bool = True) -> bytes:
    blob_id = blob_id or os.urandom(16)
    writer = BlobWriter(session, blob_id, attached=attached)
    for start in range(0, len(content), 64 * 1024):  # as the STREAM encryptor hands it over
        writer.write(content[start:start + 64 * 1024])
    writer.close()
    return blob_id


def _read(session, blob_id: bytes) -> bytes:
    reader = BlobReader(session, blob_id)
    try:
        return reader.read()
    finally:
        reader.close()


def _rows(database, model) -> int:
    with database.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model))


def test_round_trip_in_bounded_chunks(database, blob_store, blob_dir):
    session = database.session
    blob_id = _write(session)
    session.commit()
    assert type(database.blob_store).__name__ == {"database": "DatabaseBlobStore", "filesystem": "FilesystemBlobStore"}[blob_store]
    assert session.get(Blob, blob_id).size == len(CONTENT) == blob_size(session, blob_id)
    reader = BlobReader(session, blob_id)
    pieces = []
    while piece := reader.read(100_000):
        pieces.append(piece)
    assert b"".join(pieces) == CONTENT
    assert reader.seek(0) == 0 and reader.read(10) == CONTENT[:10]  # rewinds (verify, then decrypt)
    assert reader.read() == CONTENT[10:]
    reader.close()
    source = database.blob_store.open_source(session, blob_id)
    sizes = []
    while chunk := source.next_chunk():
        sizes.append(len(chunk))
    source.close()
    assert max(sizes) <= CHUNK_BYTES and sum(sizes) == len(CONTENT)  # never the whole blob at once
    if blob_store == "database":
        assert _rows(database, BlobChunk) == 3 and blob_files(blob_dir) == {}
    else:
        assert _rows(database, BlobChunk) == 0
        assert blob_files(blob_dir) == {blob_id.hex(): CONTENT}  # named after the id; nothing else there
    session.close()


def test_files_are_private_and_carry_no_time_of_day(database, blob_store, blob_dir):
    if blob_store != "filesystem":
        pytest.skip("no file in the database store")
    session = database.session
    blob_id = _write(session)
    session.commit()
    path = blob_dir / blob_id.hex()
    assert stat.S_IMODE(os.stat(blob_dir).st_mode) == 0o700
    info = os.stat(path)
    assert stat.S_IMODE(info.st_mode) == 0o600 and stat.S_ISREG(info.st_mode)
    midnight = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC).timestamp()
    assert info.st_mtime == midnight and info.st_atime == midnight
    session.close()


def test_a_loose_directory_is_tightened(database, blob_store, blob_dir):
    if blob_store != "filesystem":
        pytest.skip("no directory in the database store")
    blob_dir.mkdir(mode=0o755)
    os.chmod(blob_dir, 0o755)  # noqa: S103 - the point of the test
    store = FilesystemBlobStore(blob_dir)
    store.prepare()
    assert stat.S_IMODE(os.stat(blob_dir).st_mode) == 0o700


def test_rollback_leaves_nothing(database, blob_store, blob_dir):
    session = database.session
    _write(session)
    unfinished = BlobWriter(session, os.urandom(16))
    unfinished.write(CONTENT[: CHUNK_BYTES + 10])  # a chunk stored, an upload cut short
    session.rollback()
    assert _rows(database, Blob) == 0 and _rows(database, BlobChunk) == 0
    assert blob_files(blob_dir) == {}  # neither the finished file nor the .part file
    del unfinished
    gc.collect()
    assert blob_files(blob_dir) == {}
    session.close()


def test_a_writer_dropped_unfinished_leaves_nothing(database, blob_store, blob_dir):
    session = database.session
    writer = BlobWriter(session, os.urandom(16))
    writer.write(CONTENT)
    del writer
    gc.collect()  # the finaliser abandons the .part file instead of completing it
    if blob_store == "filesystem":
        assert blob_files(blob_dir) == {}
    session.rollback()
    assert blob_files(blob_dir) == {} and _rows(database, Blob) == 0
    session.close()


def test_a_failed_commit_removes_the_files_it_would_have_referenced(database, blob_store, blob_dir):
    session = database.session
    existing = _write(session)
    session.commit()
    session.expunge_all()
    _write(session)
    session.add(Blob(id=existing, size=0))  # the commit's flush fails on the duplicate key
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    assert set(blob_files(blob_dir)) == ({existing.hex()} if blob_store == "filesystem" else set())
    assert _rows(database, Blob) == 1
    session.close()


def test_delete_waits_for_commit(database, blob_store, blob_dir):
    session = database.session
    blob_id = _write(session)
    session.commit()
    delete_blob(session, blob_id)
    session.rollback()  # the deletion rolled back: the content is still there
    assert _read(session, blob_id) == CONTENT
    delete_blob(session, blob_id)
    if blob_store == "filesystem":
        assert set(blob_files(blob_dir)) == {blob_id.hex()}  # until the commit
    session.commit()
    assert _rows(database, Blob) == 0 and _rows(database, BlobChunk) == 0 and blob_files(blob_dir) == {}
    session.close()


def test_delete_in_the_writing_transaction(database, blob_store, blob_dir):
    session = database.session
    blob_id = _write(session)
    delete_blob(session, blob_id)  # an oversized upload aborted after its writer closed
    assert blob_files(blob_dir) == {}
    session.commit()
    assert _rows(database, Blob) == 0 and blob_files(blob_dir) == {}
    session.close()


def test_the_same_id_twice_is_refused_and_keeps_the_first(database, blob_store, blob_dir):
    session = database.session
    blob_id = _write(session)
    session.commit()
    other = database.sessions.session_factory()
    with pytest.raises(IntegrityError):
        BlobWriter(other, blob_id)  # the row is the lock: refused before any file is opened
    other.rollback()
    other.close()
    assert _read(session, blob_id) == CONTENT
    session.close()


def test_purge_removes_abandoned_drafts_and_orphans_only(database, blob_store, blob_dir):
    session = database.session
    sent = _write(session, attached=False)
    mark_attached(session, sent)
    draft = _write(session, b"draft", attached=False)
    fresh_draft = _write(session, b"fresh", attached=False)
    session.execute(update(Blob).where(Blob.id.in_([sent, draft])).values(created_on=dt.date.today() - dt.timedelta(days=3)))
    session.commit()
    if blob_store == "filesystem":
        # what a crash leaves: a file whose transaction never committed, an unfinished .part, and a stranger
        (blob_dir / os.urandom(16).hex()).write_bytes(b"orphan")
        (blob_dir / f"{os.urandom(16).hex()}.{os.urandom(8).hex()}.part").write_bytes(b"half")
        (blob_dir / "README").write_bytes(b"not ours")
    assert purge_abandoned_drafts(session) == 1  # the old draft; the orphans are younger than a day
    session.commit()
    if blob_store == "filesystem":
        assert len(blob_files(blob_dir)) == 5
    _write(session, b"not yet committed", attached=False)  # this session's own open transaction is spared
    assert purge_abandoned_drafts(session, orphan_grace_seconds=-1) == (2 if blob_store == "filesystem" else 0)
    session.commit()
    assert set(session.scalars(select(Blob.id))) >= {sent, fresh_draft}
    assert _read(session, sent) == CONTENT and _read(session, fresh_draft) == b"fresh"
    if blob_store == "filesystem":
        assert set(blob_files(blob_dir)) == {b.hex() for b in session.scalars(select(Blob.id))} | {"README"}
    session.close()


def test_blobs_written_before_a_switch_to_files_stay_readable(database, blob_store, blob_dir):
    if blob_store != "filesystem":
        pytest.skip("switching from the database store to files")
    session = database.session
    blob_id = os.urandom(16)
    session.add(Blob(id=blob_id, size=7, attached=True))
    session.flush()
    session.execute(insert(BlobChunk).values(blob_id=blob_id, seq=0, data=b"legacy!"))
    session.commit()
    assert _read(session, blob_id) == b"legacy!" and blob_size(session, blob_id) == 7
    delete_blob(session, blob_id)
    session.commit()
    assert _rows(database, BlobChunk) == 0
    session.close()


def test_the_store_comes_from_the_settings(instance_dir, blob_store, tmp_path):
    base = {"instance_dir": str(instance_dir)}
    assert isinstance(blob_store_from_settings(load_settings(base, environ={})), DatabaseBlobStore)
    default = blob_store_from_settings(load_settings({**base, "blob_store": "filesystem"}, environ={}))
    assert isinstance(default, FilesystemBlobStore) and default.directory == instance_dir / "blobs"
    relative = blob_store_from_settings(load_settings({**base, "blob_store": "filesystem", "blob_dir": "elsewhere"}, environ={}))
    assert relative.directory == instance_dir / "elsewhere"
    from_env = blob_store_from_settings(load_settings(base, environ={"PORTAL_BLOB_STORE": "filesystem",
                                                                      "PORTAL_BLOB_DIR": str(tmp_path / "b")}))
    assert isinstance(from_env, FilesystemBlobStore) and from_env.directory == tmp_path / "b"
    with pytest.raises(ValueError, match="blob_store"):
        blob_store_from_settings(load_settings({**base, "blob_store": "s3"}, environ={}))
    db = open_database(load_settings({**base, "blob_store": "filesystem"}, environ={}))
    assert db.session.info["portal.blob_store"] is db.blob_store
    db.dispose()
