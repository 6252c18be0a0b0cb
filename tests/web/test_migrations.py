"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

import portal.models  # noqa: F401
from portal.db import Base, Database
from portal.migrate import upgrade

pytestmark = pytest.mark.fresh_schema


def test_upgrade_from_empty_matches_models(database_url, instance_dir):
    upgrade(database_url)
    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        upgrade(database_url)  # idempotent: a second deploy changes nothing
    finally:
        db.dispose()


def test_audit_log_is_append_only_on_postgresql(database_url, instance_dir):
    if not database_url.startswith("postgresql"):
        pytest.skip("the append-only trigger is PostgreSQL's (SQLite relies on the application and the hash chain)")
    upgrade(database_url)
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO audit_log (seq, occurred_at, actor, action, detail, prev_hash, entry_hash) "
                "VALUES (1, now(), 'x', 'y', '{}', '\\x00', '\\x00')"))
        for statement in ("UPDATE audit_log SET action = 'z'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(Exception, match="append-only"):
                with db.engine.begin() as connection:
                    connection.execute(text(statement))
    finally:
        db.dispose()
