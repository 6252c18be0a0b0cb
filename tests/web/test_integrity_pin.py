"""Pinning the reporter host's signing key on the triage host (`portal keys pin-report-signer`), and
what `portal init --app reporter` prints for it (docs/operations.md)."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select
from triage_support import seed_report

from portal.crypto.integrity import signer_public_key
from portal.instance import SIGNER_PIN, read_secret, read_signer_pin
from portal.reports.models import Report

pytestmark = pytest.mark.fresh_schema


@pytest.fixture
def cli(cli_environment):
    def run(*args: str, instance=cli_environment.instance_dir):
        return cli_environment.invoke(["--instance", str(instance), *args])

    return run


def test_reporter_init_prints_the_key_to_pin_and_the_triage_host_pins_it(cli, database, instance_dir, tmp_path, lead,
                                                                         recovery_key, monkeypatch):
    reporter = tmp_path / "reporter-host"
    with monkeypatch.context() as env:
        for name in ("PORTAL_DATABASE_URL", "PORTAL_BLOB_STORE", "PORTAL_BLOB_DIR"):
            env.delenv(name)  # the reporter host's own (SQLite) database in its instance directory
        result = cli("init", "--app", "reporter", instance=reporter)
    assert result.exit_code == 0, result.output
    printed = re.search(r"portal keys pin-report-signer (\S+)", result.output).group(1)
    assert base64.b64decode(printed) == signer_public_key(read_secret(reporter, "report_signing_key"))
    assert not (reporter / SIGNER_PIN).exists()  # the reporter host never holds the pin

    reference, _ = seed_report(database, instance_dir)
    with database.transaction() as session:  # a report stored before signatures
        old = session.scalars(select(Report).where(Report.reference == reference)).one()
        old.signature = old.key_commitment = None
        old_id = old.public_id
    assert cli("keys", "pin-report-signer", printed).exit_code == 1  # a pin exists: not replaced silently
    assert cli("keys", "pin-report-signer", "not-a-key", "--replace").exit_code == 1
    result = cli("keys", "pin-report-signer", printed, "--replace")
    assert result.exit_code == 0, result.output
    assert "1 report(s) listed as received before signatures" in result.output
    pin = read_signer_pin(instance_dir)
    assert pin.public_key == base64.b64decode(printed) and pin.before_signatures == {old_id: 0}
    assert (instance_dir / SIGNER_PIN).stat().st_mode & 0o777 == 0o600


def test_the_0010_upgrade_numbers_existing_messages_in_the_order_they_were_stored(database_url, instance_dir):
    """Messages stored before positions existed get 1, 2, ... per report, so new ones continue the sequence."""
    import datetime as dt

    from sqlalchemy import text

    from portal.db import Database
    from portal.migrate import upgrade

    upgrade(database_url, "0001")
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            for n in (1, 2):
                connection.execute(text(
                    "INSERT INTO reports (id, public_id, reference, lookup_id, received_on, reporter_urgent, "
                    "encrypted_in_browser, sealed_report, reporter_wrap, stage, risk_flags, priority, subjects_indexed, "
                    "names_reviewer, rule_reasons) VALUES (:id, :pid, :ref, :lookup, :day, false, false, :s, :w, 'new', '', "
                    "'normal', true, false, '')"),
                    {"id": n, "pid": bytes([n]) * 16, "ref": f"R-MSG-{n}", "lookup": bytes([n]) * 32,
                     "day": dt.date(2026, 1, 1), "s": b"\x01\x01s", "w": b"w"})
            for message_id, report_id in ((10, 1), (11, 2), (12, 1), (13, 1)):
                connection.execute(text(
                    "INSERT INTO messages (id, report_id, public_id, from_reporter, sent_on, sealed_body) "
                    "VALUES (:id, :report, :pid, true, :day, :body)"),
                    {"id": message_id, "report": report_id, "pid": bytes([message_id]) * 16, "day": dt.date(2026, 1, 2),
                     "body": b"\x01\x01m"})
        upgrade(database_url)
        with db.engine.connect() as connection:
            found = dict(connection.execute(text("SELECT id, seq FROM messages")).all())
            signed = connection.execute(text("SELECT COUNT(*) FROM reports WHERE signature IS NULL")).scalar()
        assert found == {10: 1, 12: 2, 13: 3, 11: 1} and signed == 2
    finally:
        db.dispose()
