"""`portal backup` / `portal restore`: one encrypted, integrity-checked archive of the
database (every table but the sessions) and of every attachment's content, from whichever
blob store is configured, without the instance secrets.

Archive (format 3) = b"PORTAL-BACKUP-3\\n" || 0x40 || archive id (16) || header length (2) ||
header (JSON: when it was made, the schema revision, the audit log's head) || header tag (32) ||
STREAM ciphertext of gzip(JSON lines): first one line per row of every table except
`blob_chunks` and the two session tables, then one line per chunk of blob content
(`{"blob": hex id, "seq": n, "data": ...}`), read through the configured store and restored
into the target's configured store. So an archive taken with the database store restores into
a filesystem store and the other way round. Archives of formats 1 and 2 (no header; format 1
with `blob_chunks` rows among the tables) still restore; their sessions are dropped.

Every key comes from the `backup_key` instance secret (portal.crypto.archive), which the
backup store never holds: an archive is as useless as the database is without the instance
directory, its header cannot be changed or moved to other content, and any change,
truncation or reordering of the content is detected before a single row is restored.
Sessions are left out: an archive never holds what a stolen cookie would open (a reviewer's
private key). Restore refuses an archive older than the newest audit checkpoint
(`not_older_than`) unless the operator says so. Report content inside is ciphertext already;
the archive protects the metadata too.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import os
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import Integer, func, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine

import portal.models  # noqa: F401  (registers every table)
from portal.blobs import Blob, BlobChunk, BlobStore, DatabaseBlobStore
from portal.crypto import CryptoError
from portal.crypto.archive import ALG_ARCHIVE_HEADER, TAG_LEN, check_header_tag, header_tag, legacy_stream_key, stream_key
from portal.crypto.stream import StreamEncryptor, iter_decrypt_unverified, verify_stream
from portal.db import Base

MAGIC = b"PORTAL-BACKUP-3\n"
MAGIC_V2 = b"PORTAL-BACKUP-2\n"  # no header
MAGIC_V1 = b"PORTAL-BACKUP-1\n"  # blob content as `blob_chunks` rows; restored as it is
ARCHIVE_ID_LEN = 16
MAX_HEADER = 4096
BATCH = 500
SESSION_TABLES = frozenset({"server_sessions", "reviewer_sessions"})  # never archived, never restored


class BackupError(Exception):
    """The archive is damaged, for another installation, or the target is not empty."""


class RollbackRefused(BackupError):
    """The archive is older than the newest audit checkpoint (restore it only deliberately)."""


_key = legacy_stream_key  # formats 1 and 2


@dataclass(frozen=True)
class ArchiveHeader:
    """What an archive says about itself. Format 3: authenticated with the backup key; formats 1 and
    2 carry none of it (created_at, schema and the audit head are None)."""

    format: int
    created_at: str | None = None  # UTC, to the second: 2026-12-06T23:55:01Z
    schema: str | None = None  # the Alembic revision of the database it was taken from
    audit_seq: int | None = None  # the audit log's newest entry, and its hash, in the archive
    audit_head: bytes | None = None

    def describe(self) -> str:
        if self.format < 3:
            return (f"Archive format {self.format}: it carries no authenticated creation time or audit head "
                    "(made before this version).")
        return (f"Archive made {self.created_at} (UTC), schema {self.schema or 'unknown'}, audit log up to entry "
                f"{self.audit_seq} ({(self.audit_head or b'').hex()[:16]}...); header authenticated with backup_key.")

    def to_json(self) -> bytes:
        return json.dumps({"created_at": self.created_at, "schema": self.schema, "audit_seq": self.audit_seq,
                           "audit_head": (self.audit_head or b"").hex()}, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ArchiveHeader:
        fields = json.loads(data)
        return cls(3, str(fields["created_at"]), fields.get("schema"), int(fields["audit_seq"]),
                   bytes.fromhex(fields["audit_head"]))


def rollback_problem(header: ArchiveHeader, newest_checkpoint: tuple[int, bytes] | None) -> str | None:
    """Why restoring this archive would roll the audit log back behind the newest checkpoint
    ((seq, head) from the checkpoint file), or None."""
    if newest_checkpoint is None or newest_checkpoint[0] == 0:
        return None
    seq, head = newest_checkpoint
    if header.audit_seq is None:
        return (f"the newest audit checkpoint is at entry {seq}, and this archive (format {header.format}) does not say "
                "how far its audit log goes")
    if header.audit_seq < seq:
        return (f"this archive's audit log ends at entry {header.audit_seq}, older than the newest audit checkpoint "
                f"(entry {seq}): restoring it would bring back revoked access and cut the audit log")
    if header.audit_seq == seq and header.audit_head != head:
        return f"this archive's audit log entry {seq} is not the one the newest audit checkpoint signed: another history"
    return None


def _header_of(connection: Connection) -> ArchiveHeader:
    """Now, the schema revision and the audit head, as the backup's snapshot sees them."""
    schema = None
    if inspect(connection).has_table("alembic_version"):
        schema = connection.scalar(text("SELECT version_num FROM alembic_version"))
    audit = Base.metadata.tables["audit_log"]
    last = connection.execute(select(audit.c.seq, audit.c.entry_hash).order_by(audit.c.seq.desc()).limit(1)).first()
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ArchiveHeader(3, created, schema, last[0] if last else 0, bytes(last[1]) if last else b"")


def _authenticated_prefix(archive_id: bytes, header_json: bytes) -> bytes:
    return MAGIC + bytes([ALG_ARCHIVE_HEADER]) + archive_id + len(header_json).to_bytes(2, "big") + header_json


def read_header(backup_key: bytes, archive: BinaryIO) -> tuple[ArchiveHeader, bytes, bytes]:
    """Read and authenticate an archive's start: (header, archive id, STREAM key); the file is left
    where the content begins. Raises BackupError for a foreign, damaged or altered start."""
    magic = archive.read(len(MAGIC))
    if magic in (MAGIC_V1, MAGIC_V2):
        archive_id = archive.read(ARCHIVE_ID_LEN)
        if len(archive_id) != ARCHIVE_ID_LEN:
            raise BackupError("not a portal backup archive")
        return ArchiveHeader(1 if magic == MAGIC_V1 else 2), archive_id, _key(backup_key)
    start = archive.read(1 + ARCHIVE_ID_LEN + 2)
    if magic != MAGIC or len(start) != 1 + ARCHIVE_ID_LEN + 2 or start[0] != ALG_ARCHIVE_HEADER:
        raise BackupError("not a portal backup archive")
    archive_id, length = start[1:1 + ARCHIVE_ID_LEN], int.from_bytes(start[-2:], "big")
    header_json = archive.read(length) if length <= MAX_HEADER else b""
    tag = archive.read(TAG_LEN)
    if len(header_json) != length or len(tag) != TAG_LEN:
        raise BackupError("the archive's header is damaged or cut short")
    authenticated = _authenticated_prefix(archive_id, header_json)
    try:
        check_header_tag(backup_key, authenticated, tag)
        header = ArchiveHeader.from_json(header_json)
    except (CryptoError, ValueError, KeyError, TypeError) as exc:
        raise BackupError("the archive's header was altered, or the archive was made with other instance secrets") from exc
    return header, archive_id, stream_key(backup_key, authenticated)


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
    """Stream every table but the sessions, then every blob's content, into `out`; returns counts per
    table (`blob_chunks`: the pieces of blob content, whichever store holds them)."""
    store = blob_store or DatabaseBlobStore()
    archive_id = os.urandom(ARCHIVE_ID_LEN)
    counts: dict[str, int] = {}
    blobs: list[tuple[bytes, int]] = []  # the blobs whose rows are in this archive: their content follows
    with _snapshot(engine) as connection:
        authenticated = _authenticated_prefix(archive_id, _header_of(connection).to_json())
        out.write(authenticated + header_tag(backup_key, authenticated))
        encryptor = StreamEncryptor(stream_key(backup_key, authenticated), archive_id, b"\x00" * 16, out)
        with gzip.GzipFile(fileobj=encryptor, mode="wb", mtime=0) as gz:
            for table in Base.metadata.sorted_tables:
                if table.name == BlobChunk.__tablename__ or table.name in SESSION_TABLES:
                    continue
                counts[table.name] = 0
                skip = _computed(table)
                result = connection.execution_options(stream_results=True).execute(select(table))
                for row in result:
                    mapping = row._mapping
                    record = {"table": table.name, "row": {k: _encode(v) for k, v in mapping.items() if k not in skip}}
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


def _computed(table) -> frozenset[str]:
    """Columns the database computes (reports.reporter_status): never written, so never archived."""
    return frozenset(column.name for column in table.columns if column.computed is not None)


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


def restore_backup(engine: Engine, backup_key: bytes, archive: BinaryIO, blob_store: BlobStore | None = None,
                   not_older_than: tuple[int, bytes] | None = None) -> dict[str, int]:
    """Verify the whole archive, then load it into an EMPTY database (schema already upgraded)
    and an empty blob store.

    `not_older_than`: the newest audit checkpoint's (seq, head); an archive behind it is refused
    (RollbackRefused) before anything else is read. None: the operator chose to restore it anyway,
    or there is no checkpoint. Two passes over the archive: the first authenticates every chunk
    and the end, the second decrypts straight into the database and the blob store; nothing else
    is written. If loading fails, the rows roll back and the blob files written are removed.
    """
    store = blob_store or DatabaseBlobStore()
    header, archive_id, key = read_header(backup_key, archive)
    problem = rollback_problem(header, not_older_than)
    if problem:
        raise RollbackRefused(problem)
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
    computed = {name: _computed(table) for name, table in tables.items()}
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
                if record["table"] in SESSION_TABLES:
                    continue  # an archive of format 1 or 2: sessions are never brought back
                if record["table"] != current or len(pending) >= BATCH:
                    if pending:
                        connection.execute(insert(tables[current]), pending)
                    current, pending = record["table"], []
                row = {k: _decode(v) for k, v in record["row"].items() if k not in computed[current]}
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
