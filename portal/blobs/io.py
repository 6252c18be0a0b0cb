"""What callers use: write, read and delete blobs through a session.

Callers never choose a store: these take the session and use the store its
`Database` was built with (portal/storage.py). Writing and reading are bounded
(one CHUNK_BYTES buffer), so a 200 MiB upload never sits in memory. Only
ciphertext comes here (STREAM output of portal/crypto, sealed in the reporter's
browser or by the server as the upload streams in).
"""

from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.blobs.models import CHUNK_BYTES, Blob
from portal.blobs.stores import ORPHAN_GRACE_SECONDS, store_for
from portal.clock import today


class BlobWriter(io.RawIOBase):
    """A write-only file that stores one new blob (row now, content in the session's store).

    Content is handed to the store in CHUNK_BYTES pieces; `close()` makes it durable.
    A writer dropped without `close()` leaves nothing outside the transaction.
    """

    def __init__(self, db: Session, blob_id: bytes, attached: bool = False) -> None:
        self._db = db
        self._blob = Blob(id=blob_id, size=0, attached=attached)
        db.add(self._blob)
        db.flush()  # the row first: it is the lock on this id (a second writer waits or fails here)
        self._target = store_for(db).open_target(db, blob_id)
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            self._flush_chunk(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def _flush_chunk(self, data: bytes) -> None:
        self._target.put(data)
        self._blob.size += len(data)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._buffer:
                self._flush_chunk(bytes(self._buffer))
                self._buffer.clear()
            self._target.complete()
        except BaseException:
            self._target.abandon()  # the transaction's rollback removes whatever is left
            raise
        finally:
            super().close()

    def __del__(self) -> None:
        # io's finaliser would close(), i.e. complete a half-written blob: abandon it instead.
        try:
            if not self.closed:
                self._target.abandon()
                io.RawIOBase.close(self)
        except Exception:  # noqa: S110 - a finaliser must not raise
            pass

    @property
    def size(self) -> int:
        return self._blob.size + len(self._buffer)


class BlobReader(io.RawIOBase):
    """A seekable-to-start reader that holds one stored chunk at a time."""

    def __init__(self, db: Session, blob_id: bytes) -> None:
        self._source = store_for(db).open_source(db, blob_id)
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
        self._source.rewind()
        self._current, self._pos = memoryview(b""), 0
        return 0

    def readinto(self, buffer) -> int:
        if not self._current:
            chunk = self._source.next_chunk()
            if not chunk:
                return 0
            self._current = memoryview(chunk)
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def mark_attached(db: Session, blob_id: bytes) -> None:
    blob = db.get(Blob, blob_id)
    if blob is not None:
        blob.attached = True


def delete_blob(db: Session, blob_id: bytes) -> None:
    store_for(db).remove_content(db, blob_id)
    db.execute(delete(Blob).where(Blob.id == blob_id))


def purge_abandoned_drafts(db: Session, older_than_days: int = 1, orphan_grace_seconds: int = ORPHAN_GRACE_SECONDS) -> int:
    """Delete staged blobs of drafts that were never sent (their key died with the draft), and
    any stored content no blob row refers to (a crash between writing a file and committing).

    Returns how many blobs' content was removed."""
    cutoff = today() - dt.timedelta(days=older_than_days)
    ids = db.scalars(select(Blob.id).where(Blob.attached.is_(False), Blob.created_on < cutoff)).all()
    for blob_id in ids:
        delete_blob(db, blob_id)
    return len(ids) + store_for(db).sweep(db, orphan_grace_seconds)


def blob_size(db: Session, blob_id: bytes) -> int:
    return store_for(db).content_size(db, blob_id)
