"""`portal backup` / `portal restore`: one encrypted, integrity-checked archive of the
database (every table) and of every attachment's content, from whichever blob store is
configured, without the instance secrets.

Archive = b"PORTAL-BACKUP-2\\n" || archive id (16) || STREAM ciphertext of gzip(JSON lines):
first one line per row of every table except `blob_chunks`, then one line per chunk of
blob content (`{"blob": hex id, "seq": n, "data": ...}`), read through the configured
store and restored into the target's configured store. So an archive taken with the
database store restores into a filesystem store and the other way round. Archives of
version 1 (`blob_chunks` rows among the tables) still restore.

The STREAM key comes from the `backup_key` instance secret, so an archive is as
useless as the database is without the instance directory, and any change,
truncation or reordering is detected before a single row is restored. Report
content inside is ciphertext already; the archive protects the metadata too.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import os
from typing import BinaryIO

from sqlalchemy import Integer, func, insert, select, text
from sqlalchemy.engine import Engine

import portal.models  # noqa: F401  (registers every table)
from portal.blobs import Blob, BlobChunk, BlobStore, DatabaseBlobStore
from portal.crypto import CryptoError
from portal.crypto.kdf import hkdf
from portal.crypto.stream import StreamEncryptor, iter_decrypt_unverified, verify_stream
from portal.db import Base

MAGIC = b"PORTAL-BACKUP-2\n"
MAGIC_V1 = b"PORTAL-BACKUP-1\n"  # blob content as `blob_chunks` rows; restored as it is
ARCHIVE_ID_LEN = 16
BATCH = 500


class BackupError(Exception):
    """The archive is damaged, for another installation, or the target is not empty."""


def _key(backup_key: bytes) -> bytes:
    return hkdf(backup_key, b"portal/v1/backup")


def _encode(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    return value


def _decode(value):
    if isinstance(value, dict):
        if "b" in value:
            return base64.b64decode(value["b"])
        if "t" in value:
            return dt.datetime.fromisoformat(value["t"])
        if "d" in value:
            return dt.date.fromisoformat(value["d"])
    return value


def write_backup(engine: Engine, backup_key: bytes, out: BinaryIO, blob_store: BlobStore | None = None) -> dict[str, int]:
    """Stream every table, then every blob's content, into `out`; returns counts per table
    (`blob_chunks`: the pieces of blob content, whichever store holds them)."""
    store = blob_store or DatabaseBlobStore()
    archive_id = os.urandom(ARCHIVE_ID_LEN)
    out.write(MAGIC + archive_id)
    encryptor = StreamEncryptor(_key(backup_key), archive_id, b"\x00" * 16, out)
    counts: dict[str, int] = {}
    blobs: list[tuple[bytes, int]] = []  # the blobs whose rows are in this archive: their content follows
    with gzip.GzipFile(fileobj=encryptor, mode="wb", mtime=0) as gz, _snapshot(engine) as connection:
        for table in Base.metadata.sorted_tables:
            if table.name == BlobChunk.__tablename__:
                continue
            counts[table.name] = 0
            result = connection.execution_options(stream_results=True).execute(select(table))
            for row in result:
                mapping = row._mapping
                record = {"table": table.name, "row": {k: _encode(v) for k, v in mapping.items()}}
                gz.write(json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n")
                counts[table.name] += 1
                if table.name == Blob.__tablename__:
                    blobs.append((bytes(mapping["id"]), int(mapping["size"] or 0)))
        counts[BlobChunk.__tablename__] = 0
        for blob_id, size in blobs:
            written = 0
            for seq, chunk in enumerate(store.iter_chunks(connection, blob_id)):
                record = {"blob": blob_id.hex(), "seq": seq, "data": _encode(chunk)}
                gz.write(json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n")
                written += len(chunk)
                counts[BlobChunk.__tablename__] += 1
            if written != size:
                raise BackupError(f"blob {blob_id.hex()} holds {written} bytes, its row says {size}: its content is "
                                  f"missing or damaged in the {store.kind} store (or was deleted during the backup)")
    encryptor.finish()
    return counts


def _snapshot(engine: Engine):
    """One connection that sees one consistent state of the database for the whole backup."""
    connection = engine.connect()
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    return connection


class _Chunks(io.RawIOBase):
    """A readable file over an iterator of byte chunks (for gzip to read from)."""

    def __init__(self, chunks) -> None:
        self._chunks = iter(chunks)
        self._current = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._current:
            self._current = next(self._chunks, None)
            if self._current is None:
                return 0
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n


def restore_backup(engine: Engine, backup_key: bytes, archive: BinaryIO, blob_store: BlobStore | None = None) -> dict[str, int]:
    """Verify the whole archive, then load it into an EMPTY database (schema already upgraded)
    and an empty blob store.

    Two passes over the archive: the first authenticates every chunk and the end,
    the second decrypts straight into the database and the blob store; nothing else
    is written. If loading fails, the rows roll back and the blob files written are removed.
    """
    store = blob_store or DatabaseBlobStore()
    head = archive.read(len(MAGIC) + ARCHIVE_ID_LEN)
    if len(head) != len(MAGIC) + ARCHIVE_ID_LEN or not head.startswith((MAGIC, MAGIC_V1)):
        raise BackupError("not a portal backup archive")
    archive_id = head[len(MAGIC):]
    key = _key(backup_key)
    start = archive.tell()
    try:
        verify_stream(key, archive_id, b"\x00" * 16, archive)
    except CryptoError as exc:
        raise BackupError("the archive is damaged or was made with other instance secrets") from exc
    archive.seek(start)
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    with engine.connect() as connection:
        for table in tables.values():
            if connection.scalar(select(func.count()).select_from(table)):
                raise BackupError(f"the target database is not empty (table {table.name})")
    if store.holds_content():
        raise BackupError(f"the target blob store is not empty ({store!r})")
    counts = dict.fromkeys(tables, 0)
    chunks = iter_decrypt_unverified(key, archive_id, b"\x00" * 16, archive)
    restored_blobs: set[bytes] = set()
    written: list[bytes] = []
    target = None
    try:
        with engine.begin() as connection, gzip.GzipFile(fileobj=_Chunks(chunks), mode="rb") as gz:
            current, pending = None, []
            target_id, next_seq = None, 0
            for line in io.TextIOWrapper(gz, encoding="utf-8"):
                record = json.loads(line)
                if "blob" in record:
                    if pending:
                        connection.execute(insert(tables[current]), pending)
                        current, pending = None, []
                    blob_id, seq = bytes.fromhex(record["blob"]), int(record["seq"])
                    if seq == 0:
                        if target is not None:
                            target.complete()
                            target = None
                        if blob_id not in restored_blobs or blob_id in written:
                            raise BackupError("the archive's blob content does not match its blob rows")
                        target, target_id, next_seq = store.open_target(connection, blob_id), blob_id, 0
                        written.append(blob_id)
                    if target is None or blob_id != target_id or seq != next_seq:
                        raise BackupError("the archive's blob content is out of order")
                    target.put(_decode(record["data"]))
                    next_seq += 1
                    counts[BlobChunk.__tablename__] += 1
                    continue
                if record["table"] != current or len(pending) >= BATCH:
                    if pending:
                        connection.execute(insert(tables[current]), pending)
                    current, pending = record["table"], []
                row = {k: _decode(v) for k, v in record["row"].items()}
                if current == Blob.__tablename__:
                    restored_blobs.add(bytes(row["id"]))
                pending.append(row)
                counts[current] += 1
            if pending:
                connection.execute(insert(tables[current]), pending)
            if target is not None:
                target.complete()
                target = None
            if connection.dialect.name == "postgresql":
                _reset_sequences(connection, tables.values())
    except BaseException:
        if target is not None:
            target.abandon()
        store.discard(written)
        raise
    return counts


def _reset_sequences(connection, tables) -> None:
    for table in tables:
        columns = list(table.primary_key.columns)
        if len(columns) == 1 and isinstance(columns[0].type, Integer):
            name = columns[0].name
            # Table and column names come from our own metadata, never from input.
            statement = f"SELECT setval(pg_get_serial_sequence('{table.name}', '{name}'), COALESCE((SELECT MAX({name}) FROM {table.name}), 0) + 1, false)"  # noqa: S608, E501
            connection.execute(text(statement))
