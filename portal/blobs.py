"""Ciphertext blob store in the database, written and read in bounded chunks.

Attachments are stored as rows of at most CHUNK_BYTES each, so a 200 MiB
submission never sits whole in memory, and no file (with its tell-tale
filesystem timestamps) is ever created. Only ciphertext comes here.
"""

from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.db import Base
from portal.reports.models import today

CHUNK_BYTES = 1 << 20


class Blob(Base):
    __tablename__ = "blobs"

    id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    attached: Mapped[bool] = mapped_column(default=False)  # False while only staged in a draft
    created_on: Mapped[dt.date] = mapped_column(Date, default=today)


class BlobChunk(Base):
    __tablename__ = "blob_chunks"

    blob_id: Mapped[bytes] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class BlobWriter(io.RawIOBase):
    """A write-only file that appends rows to one blob (inside the caller's transaction)."""

    def __init__(self, db: Session, blob_id: bytes, attached: bool = False) -> None:
        self._db = db
        self._blob = Blob(id=blob_id, size=0, attached=attached)
        db.add(self._blob)
        db.flush()
        self._buffer = bytearray()
        self._seq = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            self._flush_chunk(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def _flush_chunk(self, data: bytes) -> None:
        self._db.execute(insert(BlobChunk).values(blob_id=self._blob.id, seq=self._seq, data=data))
        self._seq += 1
        self._blob.size += len(data)

    def close(self) -> None:
        if not self.closed and self._buffer:
            self._flush_chunk(bytes(self._buffer))
            self._buffer.clear()
        super().close()

    @property
    def size(self) -> int:
        return self._blob.size + len(self._buffer)


class BlobReader(io.RawIOBase):
    """A seekable-to-start reader that fetches one row at a time."""

    def __init__(self, db: Session, blob_id: bytes) -> None:
        self._db = db
        self._blob_id = blob_id
        self._seq = 0
        self._current = memoryview(b"")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset != 0 or whence != io.SEEK_SET:
            raise io.UnsupportedOperation("blob readers only rewind")
        self._seq, self._current, self._pos = 0, memoryview(b""), 0
        return 0

    def readinto(self, buffer) -> int:
        if not self._current:
            row = self._db.scalar(select(BlobChunk.data).where(BlobChunk.blob_id == self._blob_id, BlobChunk.seq == self._seq))
            if row is None:
                return 0
            self._seq += 1
            self._current = memoryview(row)
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        self._pos += n
        return n


def mark_attached(db: Session, blob_id: bytes) -> None:
    blob = db.get(Blob, blob_id)
    if blob is not None:
        blob.attached = True


def delete_blob(db: Session, blob_id: bytes) -> None:
    db.execute(delete(BlobChunk).where(BlobChunk.blob_id == blob_id))
    db.execute(delete(Blob).where(Blob.id == blob_id))


def purge_abandoned_drafts(db: Session, older_than_days: int = 1) -> int:
    """Delete staged blobs of drafts that were never sent (their key died with the draft)."""
    cutoff = today() - dt.timedelta(days=older_than_days)
    ids = db.scalars(select(Blob.id).where(Blob.attached.is_(False), Blob.created_on < cutoff)).all()
    for blob_id in ids:
        delete_blob(db, blob_id)
    return len(ids)


def blob_size(db: Session, blob_id: bytes) -> int:
    return db.scalar(select(func.coalesce(func.sum(func.length(BlobChunk.data)), 0)).where(BlobChunk.blob_id == blob_id)) or 0
