"""Where blob content lives: the database store, the filesystem store, and choosing one.

Whichever store is configured (`blob_store` in config/defaults.toml), every blob
has its row in `blobs` (portal/blobs/models.py). Its content lives either

* in the database (`blob_store = "database"`): rows of `blob_chunks`, at most
  CHUNK_BYTES each, inside the caller's transaction; no file, with its
  tell-tale filesystem timestamps, is ever created; or
* in a directory (`blob_store = "filesystem"`, `blob_dir`): one file per blob,
  named after the blob id in hex (never after anything a reporter sent), mode
  0600 in a 0700 directory, written through a `.part` file that is fsynced and
  renamed before the transaction that references it commits. The session
  tracks the files of its transaction: a rollback removes the files it wrote,
  a commit removes the files whose rows it deleted, and `sweep` (called by
  `purge_abandoned_drafts`, i.e. `portal retention run`) removes what a crash
  left between the two.

A session finds its store in `Session.info[STORE_KEY]`, put there by the
`Database` it came from (`store_for`).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, func, insert, select
from sqlalchemy.orm import Session

from portal.blobs.models import CHUNK_BYTES, Blob, BlobChunk
from portal.db import STORE_KEY
from portal.instance import blobs_dir

_CHANGES_KEY = "portal.blob_files"  # Session.info key: files written or doomed by the open transaction
ORPHAN_GRACE_SECONDS = 24 * 3600  # far longer than any request (gunicorn's timeout) can hold a transaction open
STORE_KINDS = ("database", "filesystem")


# -- the two stores ---------------------------------------------------------------------
#
# A store handles content only; the `blobs` row is the caller's (BlobWriter, delete_blob).
# `db` is a Session, or a Connection where no session exists (backup and restore).


class BlobStore:
    """Where blob content lives. Subclasses: DatabaseBlobStore, FilesystemBlobStore."""

    kind = ""

    def prepare(self) -> None:
        """Create what the store needs before the first write (`portal init`)."""

    def open_target(self, db, blob_id: bytes) -> _Target:
        """Where the chunks of a new blob go, in order."""
        raise NotImplementedError

    def open_source(self, db, blob_id: bytes) -> _Source:
        """The chunks of a stored blob, in order."""
        raise NotImplementedError

    def remove_content(self, db, blob_id: bytes) -> None:
        """Forget a blob's content, as part of db's transaction (the row is deleted by the caller)."""
        raise NotImplementedError

    def content_size(self, db, blob_id: bytes) -> int:
        raise NotImplementedError

    def sweep(self, db, grace_seconds: int = ORPHAN_GRACE_SECONDS) -> int:
        """Remove content no `blobs` row refers to (left by a crash); returns how many blobs' worth."""
        return 0

    def discard(self, blob_ids: Iterable[bytes]) -> None:
        """Remove content written outside a session whose transaction then failed (restore)."""

    def holds_content(self) -> bool:
        """Whether content is stored outside the database tables (`portal restore` wants none)."""
        return False

    def iter_chunks(self, db, blob_id: bytes) -> Iterator[bytes]:
        source = self.open_source(db, blob_id)
        try:
            while chunk := source.next_chunk():
                yield chunk
        finally:
            source.close()


class _Target:
    def put(self, data: bytes) -> None:
        raise NotImplementedError

    def complete(self) -> None:
        """Everything is written: make it durable before the transaction commits."""

    def abandon(self) -> None:
        """The writer was dropped unfinished: throw away what was written outside the transaction."""


class _Source:
    def next_chunk(self) -> bytes:
        """The next piece of content (at most CHUNK_BYTES); b"" at the end."""
        raise NotImplementedError

    def rewind(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class DatabaseBlobStore(BlobStore):
    """Content as `blob_chunks` rows in the caller's transaction: atomic with everything else."""

    kind = "database"

    def open_target(self, db, blob_id: bytes) -> _Target:
        return _RowTarget(db, blob_id)

    def open_source(self, db, blob_id: bytes) -> _Source:
        return _RowSource(db, blob_id)

    def remove_content(self, db, blob_id: bytes) -> None:
        db.execute(delete(BlobChunk).where(BlobChunk.blob_id == blob_id))

    def content_size(self, db, blob_id: bytes) -> int:
        return db.scalar(select(func.coalesce(func.sum(func.length(BlobChunk.data)), 0)).where(BlobChunk.blob_id == blob_id)) or 0

    def __repr__(self) -> str:
        return "DatabaseBlobStore()"


class _RowTarget(_Target):
    def __init__(self, db, blob_id: bytes) -> None:
        self._db, self._blob_id, self._seq = db, blob_id, 0

    def put(self, data: bytes) -> None:
        self._db.execute(insert(BlobChunk).values(blob_id=self._blob_id, seq=self._seq, data=data))
        self._seq += 1


class _RowSource(_Source):
    """Fetches one row at a time."""

    def __init__(self, db, blob_id: bytes) -> None:
        self._db, self._blob_id, self._seq = db, blob_id, 0

    def next_chunk(self) -> bytes:
        row = self._db.scalar(select(BlobChunk.data).where(BlobChunk.blob_id == self._blob_id, BlobChunk.seq == self._seq))
        if row is None:
            return b""
        self._seq += 1
        return bytes(row)

    def rewind(self) -> None:
        self._seq = 0


_NAME = re.compile(r"([0-9a-f]{32})(?:\.([0-9a-f]{16})\.part)?")


class FilesystemBlobStore(BlobStore):
    """One file per blob in `directory`, named `<blob id hex>`; `<hex>.<random>.part` while written.

    Blobs written while the database store was configured (rows of `blob_chunks`) stay
    readable: a blob without a file is read from its rows.
    """

    kind = "filesystem"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._ready = False

    def __repr__(self) -> str:
        return f"FilesystemBlobStore({str(self.directory)!r})"

    def path_for(self, blob_id: bytes) -> Path:
        if not isinstance(blob_id, bytes) or len(blob_id) != 16:
            raise ValueError("a blob id is 16 bytes")
        return self.directory / blob_id.hex()

    def prepare(self) -> None:
        if self._ready:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.directory.stat().st_mode & 0o077:
            os.chmod(self.directory, 0o700)
        self._ready = True

    def open_target(self, db, blob_id: bytes) -> _Target:
        self.prepare()
        return _FileTarget(self, db, blob_id)

    def open_source(self, db, blob_id: bytes) -> _Source:
        return _FileSource(self.path_for(blob_id), _RowSource(db, blob_id))

    def remove_content(self, db, blob_id: bytes) -> None:
        DatabaseBlobStore().remove_content(db, blob_id)  # rows written before the store was switched
        path = self.path_for(blob_id)
        changes = _changes(db, create=True)
        if changes is None:  # no session to wait for (restore's own connection): remove it now
            _unlink(path)
        elif path in changes.created:  # written by this same transaction: nothing to keep either way
            _unlink_if_same(path, changes.created.pop(path))
        else:  # the row's deletion may still roll back: the file goes when it commits
            changes.doomed.add(path)

    def content_size(self, db, blob_id: bytes) -> int:
        try:
            return self.path_for(blob_id).stat().st_size
        except FileNotFoundError:
            return DatabaseBlobStore().content_size(db, blob_id)

    def discard(self, blob_ids: Iterable[bytes]) -> None:
        for blob_id in blob_ids:
            _unlink(self.path_for(blob_id))

    def holds_content(self) -> bool:
        if not self.directory.is_dir():
            return False
        with os.scandir(self.directory) as entries:
            return any(_NAME.fullmatch(entry.name) for entry in entries)

    def sweep(self, db, grace_seconds: int = ORPHAN_GRACE_SECONDS) -> int:
        """Remove files no committed `blobs` row refers to, once older than the grace period.

        A file is "old" by its inode change time (ctime), which nothing can set back: a
        file whose row is still in an open transaction elsewhere is never that old. Then
        every remaining file is stamped with the day it was written (atime = mtime =
        midnight UTC), so that after a sweep no inode tells the time of day a file was
        written or first read (the stamp itself moves ctime to the sweep's time).
        """
        if not self.directory.is_dir():
            return 0
        now = time.time()
        changes = _changes(db)
        pending = set(changes.created) | changes.doomed if changes is not None else set()
        removed = 0
        finals: dict[bytes, tuple[Path, os.stat_result]] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                match = _NAME.fullmatch(entry.name)
                if match is None or not entry.is_file(follow_symlinks=False):
                    continue
                path, stat = Path(entry.path), entry.stat(follow_symlinks=False)
                if path in pending:
                    continue
                if match.group(2):  # an upload's .part file: finished uploads are renamed within the request
                    if now - stat.st_ctime > grace_seconds:
                        removed += _unlink(path)
                    continue
                finals[bytes.fromhex(match.group(1))] = (path, stat)
        known: set[bytes] = set()
        ids = list(finals)
        for start in range(0, len(ids), 500):
            known.update(bytes(i) for i in db.scalars(select(Blob.id).where(Blob.id.in_(ids[start:start + 500]))))
        for blob_id, (path, stat) in finals.items():
            if blob_id in known:
                _stamp_day(path, stat.st_mtime)
            elif now - stat.st_ctime > grace_seconds:
                removed += _unlink(path)
        _stamp_day(self.directory, time.time())
        return removed


class _FileTarget(_Target):
    """Writes `<hex>.<random>.part` (0600, O_EXCL, no symlink followed), then fsync and rename."""

    def __init__(self, store: FilesystemBlobStore, db, blob_id: bytes) -> None:
        self._final = store.path_for(blob_id)
        self._part = self._final.with_name(f"{self._final.name}.{secrets.token_hex(8)}.part")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        self._changes = _changes(db, create=True)
        fd = os.open(self._part, flags, 0o600)
        if self._changes is not None:
            self._changes.created[self._part] = None  # a rollback removes it, even unfinished
        self._file: io.FileIO | None = io.FileIO(fd, "wb", closefd=True)

    def put(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._file.write(view):]

    def complete(self) -> None:
        if self._file is None:
            return
        fd = self._file.fileno()
        _stamp_day(fd, time.time())  # the day, not the time of day, it was written
        os.fsync(fd)
        stat = os.fstat(fd)
        self._file.close()
        self._file = None
        if self._changes is not None:  # before the rename: a rollback removes this inode under either name
            self._changes.created[self._final] = (stat.st_dev, stat.st_ino)
        os.replace(self._part, self._final)
        if self._changes is not None:
            self._changes.created.pop(self._part, None)
        _fsync_dir(self._final.parent)

    def abandon(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            _unlink(self._part)
            if self._changes is not None:
                self._changes.created.pop(self._part, None)


class _FileSource(_Source):
    """Reads the file CHUNK_BYTES at a time; closes it at the end (reopened on rewind)."""

    def __init__(self, path: Path, rows: _RowSource) -> None:
        self._path, self._rows = path, rows
        self._file: io.FileIO | None = None
        self._pos = 0
        self._from_rows: bool | None = None  # decided on first read

    def next_chunk(self) -> bytes:
        if self._from_rows is None:
            try:
                self._file = io.FileIO(os.open(self._path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)))
                self._from_rows = False
            except FileNotFoundError:
                self._from_rows = True
        if self._from_rows:
            return self._rows.next_chunk()
        if self._file is None:  # finished once and rewound
            self._file = io.FileIO(os.open(self._path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)))
            self._file.seek(self._pos)
        data = self._file.read(CHUNK_BYTES) or b""
        self._pos += len(data)
        if not data:
            self.close()
        return data

    def rewind(self) -> None:
        self._rows.rewind()
        self._pos = 0
        if self._file is not None:
            self._file.seek(0)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _unlink(path: Path) -> int:
    try:
        os.unlink(path)
        return 1
    except FileNotFoundError:
        return 0


def _unlink_if_same(path: Path, identity: tuple[int, int] | None) -> None:
    """Remove a file this transaction wrote, unless another writer has replaced it since."""
    try:
        stat = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return
    if identity is None or (stat.st_dev, stat.st_ino) == identity:
        _unlink(path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stamp_day(target, when: float) -> None:
    """Set atime and mtime to midnight UTC of `when`'s day (a path or an open descriptor)."""
    day = dt.datetime.fromtimestamp(when, dt.UTC).date()
    midnight = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())
    try:
        os.utime(target, (midnight, midnight))
    except FileNotFoundError:
        pass


# -- the files of the open transaction ----------------------------------------------------


@dataclass
class _FileChanges:
    created: dict[Path, tuple[int, int] | None] = field(default_factory=dict)  # path -> (dev, inode) once complete
    doomed: set[Path] = field(default_factory=set)  # files of rows this transaction deleted


def _changes(db, create: bool = False) -> _FileChanges | None:
    if not isinstance(db, Session):
        return None
    if create:
        return db.info.setdefault(_CHANGES_KEY, _FileChanges())
    return db.info.get(_CHANGES_KEY)


@event.listens_for(Session, "after_commit")
def _files_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint was released: the outer transaction decides
        return
    changes: _FileChanges | None = session.info.pop(_CHANGES_KEY, None)
    if changes is not None:
        for path in changes.doomed:
            _unlink(path)


@event.listens_for(Session, "after_transaction_end")
def _files_after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is not None:
        return
    # Still here: the transaction ended without committing (rollback, close, failed commit).
    changes: _FileChanges | None = session.info.pop(_CHANGES_KEY, None)
    if changes is not None:
        for path, identity in changes.created.items():
            _unlink_if_same(path, identity)


# -- choosing the store -------------------------------------------------------------------


def blob_store_from_settings(settings) -> BlobStore:
    """The store `blob_store` / `blob_dir` name (relative directories: from the instance directory)."""
    values: dict[str, Any] = vars(settings)
    kind = str(values.get("blob_store") or "database").strip().lower()
    if kind == "database":
        return DatabaseBlobStore()
    if kind == "filesystem":
        raw = str(values.get("blob_dir") or "").strip()
        directory = Path(raw).expanduser() if raw else blobs_dir(settings.instance_dir)
        if not directory.is_absolute():
            directory = settings.instance_dir / directory
        return FilesystemBlobStore(directory.resolve())
    raise ValueError(f"blob_store must be one of {', '.join(STORE_KINDS)}, not {kind!r}")


def store_for(db) -> BlobStore:
    """The store of a session's Database (the database store for a bare session or connection)."""
    info = getattr(db, "info", None)
    store = info.get(STORE_KEY) if isinstance(info, dict) else None
    return store if store is not None else _DEFAULT_STORE


_DEFAULT_STORE = DatabaseBlobStore()
