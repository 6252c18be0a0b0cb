"""Engine, sessions and the declarative Base: identical on SQLite and PostgreSQL.

Imports nothing of the portal: model modules import Base from here, portal/models.py
imports them all (every table), and portal/storage.py builds the configured Database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

if TYPE_CHECKING:  # the type only: blob stores are built above this layer and handed in
    from portal.blobs.stores import BlobStore


STORE_KEY = "portal.blob_store"  # Session.info key: the blob store of the session's Database (portal.blobs)


class Base(DeclarativeBase):
    pass


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    kwargs: dict = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Overwrite deleted content with zeros, so purged ciphertext does not linger in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """One engine, a thread-scoped session registry, and the attachment blob store its sessions use.

    The caller chooses the store (portal/storage.py: open_database); None means the
    database store, which a session without a store uses.
    """

    def __init__(self, url: str, blob_store: BlobStore | None = None) -> None:
        self.engine = make_engine(url)
        self.blob_store = blob_store
        self.sessions = scoped_session(
            sessionmaker(bind=self.engine, expire_on_commit=False, info={STORE_KEY: blob_store})
        )

    @property
    def session(self) -> Session:
        return self.sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def remove(self) -> None:
        self.sessions.remove()

    def dispose(self) -> None:
        self.sessions.remove()
        self.engine.dispose()
