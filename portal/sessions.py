"""Server-side sessions whose contents only the cookie can open.

The cookie carries a random session id and a random session key. The server
keeps SHA-256(id), the expiry times and the session's payload sealed under the
session key: a copy of the database (even with the instance directory) cannot
open a live session, and deleting the row ends it even if the cookie is kept.
Both interfaces use this; the reviewer's re-sealed private key and the
reporter's receipt secret live only in such payloads.

Each interface has its own table: reporters' sessions in `server_sessions`, reviewers' in
`reviewer_sessions`, on which the reporter host's database role has no grant at all
(docs/operations.md, PostgreSQL): a compromised public host can neither read, extend nor end
a reviewer's session.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os

from flask import Response, request
from sqlalchemy import DateTime, Integer, LargeBinary, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal import state
from portal.crypto import CryptoError
from portal.crypto.envelope import open_with_key, seal_with_key
from portal.db import Base

ID_LEN = 16
KEY_LEN = 32

# One cookie per interface; each app only ever reads or writes its own.
COOKIE_NAMES = {"reporter": "portal_followup", "reviewer": "portal_reviewer"}
REVIEWER_COOKIE = COOKIE_NAMES["reviewer"]
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


class _SessionColumns:
    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    sealed_payload: Mapped[bytes] = mapped_column(LargeBinary)
    idle_expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    absolute_expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class ServerSession(_SessionColumns, Base):
    """A reporter's follow-up session (the reporter host reads and writes these)."""

    __tablename__ = "server_sessions"

    reviewer_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)  # unused since 0011: always NULL


class ReviewerSession(_SessionColumns, Base):
    """A reviewer's session: only the triage host's role has grants on this table."""

    __tablename__ = "reviewer_sessions"

    # Lets every session of one reviewer be ended at once (a new passphrase, a reset, "sign out
    # everywhere", a lead's decision).
    reviewer_id: Mapped[int] = mapped_column(Integer, index=True)


MODELS = {"reporter": ServerSession, "reviewer": ReviewerSession}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _split(cookie: str) -> tuple[bytes, bytes] | None:
    try:
        raw = base64.urlsafe_b64decode(cookie.encode("ascii") + b"=" * (-len(cookie) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if len(raw) != ID_LEN + KEY_LEN:
        return None
    return raw[:ID_LEN], raw[ID_LEN:]


def _context(kind: str, session_id: bytes) -> bytes:
    return b"portal/v1/server-session:" + kind.encode("ascii") + b":" + session_id


IDLE_WRITE_STEP = dt.timedelta(seconds=60)


class SessionStore:
    def __init__(self, kind: str, idle_seconds: int, absolute_seconds: int) -> None:
        self.kind = kind
        self.idle = dt.timedelta(seconds=idle_seconds)
        self.absolute = dt.timedelta(seconds=absolute_seconds)
        self.model = MODELS[kind]

    @property
    def cookie_name(self) -> str:
        return COOKIE_NAMES[self.kind]

    def cookie(self) -> str | None:
        """This interface's session cookie on the current request, if any."""
        return request.cookies.get(self.cookie_name)

    def set_cookie(self, response: Response, value: str, *, https: bool | None = None) -> Response:
        """Give the client its session cookie: HttpOnly, SameSite=Strict, Secure over HTTPS
        (this request's, or the app's `https` setting when `https` is not given)."""
        secure = request.is_secure or bool(state.settings().https if https is None else https)
        response.set_cookie(self.cookie_name, value, httponly=True, samesite="Strict", secure=secure, path="/")
        return response

    def forget_cookie(self, response: Response) -> Response:
        response.delete_cookie(self.cookie_name, path="/")
        return response

    def sign_out(self, db: Session, response: Response, *other_cookies: str) -> Response:
        """End the current session, drop its cookie (and `other_cookies`) and clear the browser's copies."""
        self.destroy(db, self.cookie())
        self.forget_cookie(response)
        for name in other_cookies:
            response.delete_cookie(name, path="/")
        response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
        return response

    def create(self, db: Session, payload: dict, reviewer_id: int | None = None) -> str:
        """Store a new session (of `reviewer_id`, on the triage side); returns the cookie value (give it to the client only)."""
        self.purge_expired(db)  # no expired session (and its timestamps) outlives the next sign-in
        session_id, key = os.urandom(ID_LEN), os.urandom(KEY_LEN)
        now = _now()
        db.add(
            self.model(
                id_hash=hashlib.sha256(session_id).digest(),
                kind=self.kind,
                sealed_payload=seal_with_key(key, json.dumps(payload).encode(), _context(self.kind, session_id)),
                idle_expires_at=now + self.idle,
                absolute_expires_at=now + self.absolute,
                reviewer_id=reviewer_id,
            )
        )
        return base64.urlsafe_b64encode(session_id + key).decode("ascii").rstrip("=")

    def load(self, db: Session, cookie: str | None) -> dict | None:
        """The payload of a live session (and its idle timer restarted), else None."""
        parts = _split(cookie) if cookie else None
        if parts is None:
            return None
        session_id, key = parts
        row = db.get(self.model, hashlib.sha256(session_id).digest())
        if row is None or row.kind != self.kind:
            return None
        now = _now()
        if now >= row.idle_expires_at or now >= row.absolute_expires_at:
            db.delete(row)
            return None
        try:
            payload = json.loads(open_with_key(key, row.sealed_payload, _context(self.kind, session_id)))
        except (CryptoError, ValueError):
            return None
        restarted = min(now + self.idle, row.absolute_expires_at)
        # Not one write per page view: the timer is kept to the minute (to 1/30 of a short timeout).
        if restarted - row.idle_expires_at >= min(IDLE_WRITE_STEP, self.idle / 30):
            row.idle_expires_at = restarted
        return payload

    def destroy(self, db: Session, cookie: str | None) -> None:
        parts = _split(cookie) if cookie else None
        if parts is not None:
            db.execute(delete(self.model).where(self.model.id_hash == hashlib.sha256(parts[0]).digest()))

    def end_others(self, db: Session, reviewer_id: int, keep: str | None) -> int:
        """End every session of this reviewer except the one whose cookie is `keep`; returns how many."""
        parts = _split(keep) if keep else None
        query = delete(ReviewerSession).where(ReviewerSession.reviewer_id == reviewer_id)
        if parts is not None:
            query = query.where(ReviewerSession.id_hash != hashlib.sha256(parts[0]).digest())
        return db.execute(query).rowcount or 0

    def purge_expired(self, db: Session) -> int:
        """Delete this interface's expired sessions (the reporter host cannot reach the reviewers')."""
        return _purge_expired(db, self.model)


def end_reviewer_sessions(db: Session, reviewer_id: int) -> int:
    """End every session of one reviewer (a reset of their sign-in, a lead's decision); returns how many."""
    return db.execute(delete(ReviewerSession).where(ReviewerSession.reviewer_id == reviewer_id)).rowcount or 0


def _purge_expired(db: Session, model) -> int:
    now = _now()
    expired = (model.idle_expires_at <= now) | (model.absolute_expires_at <= now)
    return db.execute(delete(model).where(expired)).rowcount or 0


def purge_expired_sessions(db: Session) -> int:
    """Delete every expired session of both interfaces (their times are the only trace left):
    `portal retention run` on the triage host."""
    return sum(_purge_expired(db, model) for model in MODELS.values())
