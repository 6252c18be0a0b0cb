"""`portal backup` / `portal restore`: one encrypted, integrity-checked archive of the
database (every table, blobs included), without the instance secrets.

Archive = b"PORTAL-BACKUP-1\\n" || archive id (16) || STREAM ciphertext of gzip(JSON lines).
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
from portal.crypto import CryptoError
from portal.crypto.kdf import hkdf
from portal.crypto.stream import StreamEncryptor, iter_decrypt_unverified, verify_stream
from portal.db import Base

MAGIC = b"PORTAL-BACKUP-1\n"
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


def write_backup(engine: Engine, backup_key: bytes, out: BinaryIO) -> dict[str, int]:
    """Stream every table into `out`; returns row counts per table."""
    archive_id = os.urandom(ARCHIVE_ID_LEN)
    out.write(MAGIC + archive_id)
    encryptor = StreamEncryptor(_key(backup_key), archive_id, b"\x00" * 16, out)
    counts: dict[str, int] = {}
    with gzip.GzipFile(fileobj=encryptor, mode="wb", mtime=0) as gz, engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = 0
            result = connection.execution_options(stream_results=True).execute(select(table))
            for row in result:
                record = {"table": table.name, "row": {k: _encode(v) for k, v in row._mapping.items()}}
                gz.write(json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n")
                counts[table.name] += 1
    encryptor.finish()
    return counts


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


def restore_backup(engine: Engine, backup_key: bytes, archive: BinaryIO) -> dict[str, int]:
    """Verify the whole archive, then load it into an EMPTY database (schema already upgraded).

    Two passes over the archive: the first authenticates every chunk and the end,
    the second decrypts straight into the database; nothing is written elsewhere.
    """
    head = archive.read(len(MAGIC) + ARCHIVE_ID_LEN)
    if len(head) != len(MAGIC) + ARCHIVE_ID_LEN or not head.startswith(MAGIC):
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
    counts = dict.fromkeys(tables, 0)
    chunks = iter_decrypt_unverified(key, archive_id, b"\x00" * 16, archive)
    with engine.begin() as connection, gzip.GzipFile(fileobj=_Chunks(chunks), mode="rb") as gz:
        current, pending = None, []
        for line in io.TextIOWrapper(gz, encoding="utf-8"):
            record = json.loads(line)
            if record["table"] != current or len(pending) >= BATCH:
                if pending:
                    connection.execute(insert(tables[current]), pending)
                current, pending = record["table"], []
            pending.append({k: _decode(v) for k, v in record["row"].items()})
            counts[current] += 1
        if pending:
            connection.execute(insert(tables[current]), pending)
        if connection.dialect.name == "postgresql":
            _reset_sequences(connection, tables.values())
    return counts


def _reset_sequences(connection, tables) -> None:
    for table in tables:
        columns = list(table.primary_key.columns)
        if len(columns) == 1 and isinstance(columns[0].type, Integer):
            name = columns[0].name
            # Table and column names come from our own metadata, never from input.
            statement = f"SELECT setval(pg_get_serial_sequence('{table.name}', '{name}'), COALESCE((SELECT MAX({name}) FROM {table.name}), 0) + 1, false)"  # noqa: S608, E501
            connection.execute(text(statement))
