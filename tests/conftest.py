"""Shared fixtures: an instance directory per test, over SQLite and (when
PORTAL_TEST_DATABASE_URL is set) PostgreSQL, with both applications built on it.

Argon2id is made cheap for speed (tests marked `real_kdf` keep the real
parameters); every other piece of cryptography is the real one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import text

from portal.app import create_app
from portal.config import load_settings
from portal.crypto import kdf
from portal.db import Base, Database
from portal.instance import ensure_instance, pin_local_signer, read_secret
from portal.models import create_all
from portal.storage import open_database
from portal.triage import screener


def _isolate_xdist_worker() -> None:
    """Under pytest-xdist every worker gets its own PostgreSQL database (created beside the one
    PORTAL_TEST_DATABASE_URL names, e.g. test_gw1) and its own Redis database number, so that
    workers never truncate or flush each other's data. Runs at import, before any test module
    reads these variables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        return
    number = int(worker.removeprefix("gw"))
    base = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
    if base.startswith("postgresql"):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        url = make_url(base)
        name = f"{url.database}_{worker}"
        engine = create_engine(base, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
                if not exists:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        os.environ["PORTAL_TEST_DATABASE_URL"] = url.set(database=name).render_as_string(hide_password=False)
    redis_url = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    head, _, db_number = redis_url.rpartition("/")
    if db_number.isdigit():
        os.environ["PORTAL_TEST_REDIS_URL"] = f"{head}/{(int(db_number) - 1 - number) % 16}"


_isolate_xdist_worker()

CHEAP_ARGON2 = kdf.Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
POSTGRES_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
DATABASES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
REVIEWER_PASSPHRASE = "correct-horse-battery-staple-orbit"



def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "real_kdf: keep the production Argon2id parameters")
    config.addinivalue_line("markers", "fresh_schema: on PostgreSQL, start from an empty schema (no tables)")
    config.addinivalue_line("markers", "no_auto_screen: triage apps do NOT screen waiting reports before each request "
                                       "(the test runs the screening worker itself)")


# The production parameters, captured before any fixture (the browser tests' session-wide
# patch included) can replace them.
REAL_RECEIPT_ARGON2 = kdf.RECEIPT_ARGON2
REAL_PASSPHRASE_ARGON2 = kdf.PASSPHRASE_ARGON2


@pytest.fixture(autouse=True)
def cheap_kdf(request, monkeypatch):
    real = request.node.get_closest_marker("real_kdf") is not None
    monkeypatch.setattr(kdf, "RECEIPT_ARGON2", REAL_RECEIPT_ARGON2 if real else CHEAP_ARGON2)
    monkeypatch.setattr(kdf, "PASSPHRASE_ARGON2", REAL_PASSPHRASE_ARGON2 if real else CHEAP_ARGON2)


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'instance' / 'portal.sqlite3'}"
    _reset_postgresql(fresh=request.node.get_closest_marker("fresh_schema") is not None)
    return POSTGRES_URL


_pg_tables_ready = False


def _reset_postgresql(fresh: bool) -> None:
    """An empty database for each test: the schema is built once, then every table is truncated
    (much faster than dropping the schema per test). `fresh_schema` tests get no tables at all,
    and the next test rebuilds them (those tests may leave migrations' triggers behind)."""
    global _pg_tables_ready
    import portal.models  # noqa: F401

    db = Database(POSTGRES_URL)
    try:
        with db.engine.begin() as conn:
            # Fail rather than hang if a test left a transaction open on some table.
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            if fresh or not _pg_tables_ready:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
                if not fresh:
                    Base.metadata.create_all(conn)
                _pg_tables_ready = not fresh
            else:
                names = ", ".join(t.name for t in Base.metadata.sorted_tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        db.dispose()


@pytest.fixture
def json_log():
    """Everything logged during the test, as the production JSON handler writes it (on the root logger,
    where config/gunicorn.conf.py puts it). Parse it with support.json_log_lines."""
    import io
    import logging

    from portal.logs import json_handler

    stream = io.StringIO()
    handler = json_handler(None, stream)
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


@pytest.fixture
def instance_dir(tmp_path) -> Path:
    path = tmp_path / "instance"
    ensure_instance(path)
    pin_local_signer(path)  # as `portal init` does for a development instance
    return path


@pytest.fixture
def blob_store() -> str:
    """The attachment store of the test's instance: "database" unless PORTAL_TEST_BLOB_STORE says
    otherwise. Tests that must cover both parametrise it: @pytest.mark.parametrize("blob_store", BLOB_STORES)."""
    return os.environ.get("PORTAL_TEST_BLOB_STORE", "database")


@pytest.fixture
def blob_dir(tmp_path, blob_store) -> Path | None:
    """The filesystem store's directory: deliberately OUTSIDE the instance directory, so that a test
    searching everything at rest must search it explicitly. None for the database store."""
    return tmp_path / "blob-files" if blob_store == "filesystem" else None


@pytest.fixture
def settings_overrides(instance_dir, database_url, blob_store, blob_dir) -> dict:
    return {"instance_dir": str(instance_dir), "database_url": database_url, "blob_store": blob_store,
            "blob_dir": str(blob_dir or "")}


@pytest.fixture
def database(settings_overrides):
    db = open_database(load_settings(settings_overrides))
    create_all(db.engine)
    screener.publish(db, screener.load_secrets(load_settings(settings_overrides)))  # as the triage host does
    yield db
    db.dispose()


@dataclass
class ReviewerAccount:
    id: int
    login: str
    passphrase: str
    totp_secret: str
    fingerprint: str

    def totp_now(self) -> str:
        return pyotp.TOTP(self.totp_secret).now()


@pytest.fixture
def make_reviewer(database, instance_dir):
    from portal.triage.accounts import create_reviewer
    from portal.triage.models import Role

    def make(login: str = "lead", role: str = "lead", receives_new_reports: bool = True,
             passphrase: str = REVIEWER_PASSPHRASE) -> ReviewerAccount:
        with database.transaction() as session:
            new = create_reviewer(session, read_secret(instance_dir, "totp_key"), login=login, display_name=login.title(),
                                  role=Role(role), passphrase=passphrase, receives_new_reports=receives_new_reports)
            r = new.reviewer
            return ReviewerAccount(r.id, r.login, passphrase, new.totp_secret, r.key_fingerprint)

    return make


@pytest.fixture
def recovery_key(database):
    from portal.crypto.keys import RecipientPrivateKey
    from portal.triage.accounts import register_recovery_key

    private = RecipientPrivateKey.generate()
    with database.transaction() as session:
        register_recovery_key(session, private)
    return private


@pytest.fixture
def lead(make_reviewer) -> ReviewerAccount:
    return make_reviewer("lead", "lead")


@pytest.fixture
def reporter_app(settings_overrides, database, lead, recovery_key):
    app = create_app("reporter", settings_overrides)
    app.config["TESTING"] = True
    yield app
    app.extensions["portal.db"].dispose()


def _screens_first(app, request) -> None:
    """Triage apps stand in for the screening worker (triage_support.stand_in_for_screening), except
    in tests of screening itself, marked no_auto_screen, which run the worker themselves."""
    if request.node.get_closest_marker("no_auto_screen") is None:
        from triage_support import stand_in_for_screening

        stand_in_for_screening(app)


@pytest.fixture
def app_of_kind(settings_overrides, database, request):
    """Build apps of either kind with settings overridden (limits, timeouts); disposed after the test."""
    apps = []

    def make(kind: str, **extra):
        app = create_app(kind, {**settings_overrides, **extra})
        app.config["TESTING"] = True
        if kind == "triage":
            _screens_first(app, request)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["portal.db"].dispose()


@pytest.fixture
def make_app(app_of_kind, lead, recovery_key):
    """Reporter apps with extra settings (a reviewer and the recovery key exist to receive reports)."""
    return lambda **extra: app_of_kind("reporter", **extra)


@pytest.fixture
def build_triage(app_of_kind):
    """Triage apps with extra settings."""
    return lambda **extra: app_of_kind("triage", **extra)


@pytest.fixture
def reporter_client(reporter_app):
    return reporter_app.test_client()


@pytest.fixture
def triage_app(settings_overrides, database, request):
    app = create_app("triage", settings_overrides)
    app.config["TESTING"] = True
    _screens_first(app, request)
    yield app
    app.extensions["portal.db"].dispose()


@pytest.fixture
def triage_client(triage_app):
    return triage_app.test_client()
