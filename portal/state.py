"""Typed access to what an application holds: one place instead of raw `app.extensions[...]`.

Each slot is set once while an app is configured (`SLOT.install(app, value)`) and read
during a request (`SLOT.get()`). A slot that was never installed raises a clear
RuntimeError naming it, so a reporter view can never silently reach a triage secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from flask import Flask, current_app

if TYPE_CHECKING:  # types only: the objects are built by the layers above and installed here
    from flask_limiter import Limiter
    from sqlalchemy.orm import Session

    from portal.admission import Admission
    from portal.config import Settings
    from portal.db import Database
    from portal.forms import FormTokens
    from portal.reports.service import ReporterKeys
    from portal.sessions import SessionStore
    from portal.triage.throttle import Backoff

T = TypeVar("T")


class Slot(Generic[T]):
    """One named thing an app holds."""

    def __init__(self, name: str) -> None:
        self.name = f"portal.{name}"

    def install(self, app: Flask, value: T) -> T:
        app.extensions[self.name] = value
        return value

    def get(self, app: Flask | None = None) -> T:
        holder = app if app is not None else current_app
        try:
            return holder.extensions[self.name]
        except KeyError:
            raise RuntimeError(f"{self.name} is not installed in this application") from None


@dataclass(frozen=True)
class TriageSecrets:
    """The triage host's own secrets (instance files); the reporter host never holds them."""

    totp_key: bytes
    blind_index_key: bytes
    audit_key: bytes


SETTINGS: Slot[Settings] = Slot("settings")
DATABASE: Slot[Database] = Slot("db")
SESSIONS: Slot[SessionStore] = Slot("sessions")
FORM_TOKENS: Slot[FormTokens] = Slot("form_tokens")
REPORTER_KEYS: Slot[ReporterKeys] = Slot("reporter_keys")
ADMISSION: Slot[Admission] = Slot("admission")
LIMITER: Slot[Limiter] = Slot("limiter")
LIMIT_KEY: Slot[bytes] = Slot("limit_hmac_key")
TRIAGE_SECRETS: Slot[TriageSecrets] = Slot("triage_secrets")
SIGN_IN_BACKOFF: Slot[Backoff] = Slot("sign_in_backoff")


def settings() -> Settings:
    return SETTINGS.get()


def database() -> Database:
    return DATABASE.get()


def db_session() -> Session:
    """The request's SQLAlchemy session (scoped; removed when the app context ends)."""
    return DATABASE.get().session


def server_sessions() -> SessionStore:
    return SESSIONS.get()


def triage_secrets() -> TriageSecrets:
    return TRIAGE_SECRETS.get()
