"""Every `portal` command run through click's CliRunner, each checked by what it does: the rows it
writes or removes, the files it makes, what it prints. `--instance` is given where the group takes
it (`portal --instance DIR COMMAND`); tests/web/test_cli_operations.py writes it after the
command, as docs/operations.md does."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, update
from triage_support import seed_report

from portal import cli as cli_module
from portal import state
from portal.clock import today
from portal.config import load_settings
from portal.crypto.keyfile import format_fingerprint, import_private_key
from portal.crypto.keys import RecipientPrivateKey, export_recovery_private_key, import_recovery_private_key
from portal.instance import SECRETS, read_secret
from portal.reports.models import KeyWrap, Report
from portal.storage import open_database
from portal.triage.accounts import open_totp_secret, verify_passphrase
from portal.triage.audit import AuditEntry, verify_chain
from portal.triage.models import Conflict, RecoveryKey, Reviewer

pytestmark = pytest.mark.fresh_schema

MARKER = "CLI-BREAK-GLASS-MARKER"


@pytest.fixture
def cli(cli_environment):
    """`portal --instance DIR COMMAND ...` (the group's option); instance=None leaves it out."""

    def run(*args: str, instance: Path | str | None = cli_environment.instance_dir, input: str | None = None):  # noqa: A002
        return cli_environment.invoke((["--instance", str(instance)] if instance is not None else []) + list(args), input)

    return run


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def audit_entries(database) -> list[tuple]:
    with database.transaction() as session:
        return [(e.actor, e.action, e.report_ref, json.loads(e.detail))
                for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def count(database, model, *where) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def days_to_acknowledge(database) -> int:
    """The stored deadline of the only report, in days from receipt (columns: never a cached object)."""
    with database.transaction() as session:
        received_on, due_on = session.execute(select(Report.received_on, Report.due_on)).one()
        return (due_on - received_on).days


def key_file(tmp_path: Path, private: RecipientPrivateKey, name: str = "recovery.key") -> Path:
    path = tmp_path / name
    path.write_text(export_recovery_private_key(private))
    return path


# -- init, serve, serve-dev -------------------------------------------------------------------


def test_init_dev_makes_an_instance_with_a_first_lead_and_a_recovery_key(cli, tmp_path, database_url, monkeypatch):
    instance = tmp_path / "dev-instance"
    if database_url.startswith("sqlite"):
        monkeypatch.delenv("PORTAL_DATABASE_URL")  # the default: SQLite inside the new instance
    output = ok(cli("init", "--dev", instance=instance))
    assert f"Instance initialised in {instance.resolve()} ({len(SECRETS)} new secrets)." in output
    assert sorted(p.name for p in (instance / "secrets").iterdir()) == sorted(SECRETS)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (instance / "secrets").iterdir())
    assert instance.stat().st_mode & 0o777 == 0o700
    credentials = (instance / cli_module.DEV_CREDENTIALS).read_text()
    assert (instance / cli_module.DEV_CREDENTIALS).stat().st_mode & 0o777 == 0o600
    assert credentials.rstrip("\n") in output
    found = dict(re.findall(r"^(Reviewer login|Passphrase|TOTP secret): (.+)$", credentials, re.M))
    recovery = import_recovery_private_key((instance / cli_module.DEV_RECOVERY_KEY).read_text())
    if database_url.startswith("sqlite"):
        assert (instance / "portal.sqlite3").stat().st_mode & 0o777 == 0o600
    database = open_database(load_settings({"instance_dir": str(instance)}))
    try:
        with database.transaction() as session:
            [lead] = session.scalars(select(Reviewer)).all()
            assert (lead.login, lead.role) == (found["Reviewer login"], "lead")
            assert verify_passphrase(lead, found["Passphrase"])
            assert open_totp_secret(read_secret(instance, "totp_key"), lead) == found["TOTP secret"]
            assert session.scalar(select(RecoveryKey.fingerprint)) == recovery.public_key().fingerprint
        assert [a for _, a, _, _ in audit_entries(database)] == ["recovery-key.registered", "reviewer.created"]
        assert verify_chain(database.session, read_secret(instance, "audit_key")).ok
        # Run again: nothing new (no secret, reviewer or recovery key is replaced).
        output = ok(cli("init", "--dev", instance=instance))
        assert "Instance initialised" not in output
        assert count(database, Reviewer) == 1 and count(database, RecoveryKey) == 1
    finally:
        database.dispose()


@pytest.mark.parametrize("kind", ["reporter", "triage"])
def test_serve_hands_over_to_gunicorn_and_the_triage_host_refreshes_deadlines(cli, database, instance_dir, monkeypatch, lead,
                                                                             kind):
    seed_report(database, instance_dir)  # acknowledge within 7 days
    (instance_dir / "portal.toml").write_text("acknowledge_days = 3\n")
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, args, env: calls.append((path, args, env)))
    ok(cli("serve", kind))
    [(path, args, env)] = calls
    assert path == args[0] and Path(path).name == "gunicorn"
    assert args[-1] == f"wsgi:{kind}_app" and args[args.index("--config") + 1].endswith("config/gunicorn.conf.py")
    assert env["PORTAL_APP_KIND"] == kind and env["PORTAL_INSTANCE_DIR"] == str(instance_dir.resolve())
    assert days_to_acknowledge(database) == (3 if kind == "triage" else 7)


def test_serve_dev_serves_both_interfaces(cli, database, instance_dir, monkeypatch, lead, recovery_key):
    seed_report(database, instance_dir)
    (instance_dir / "portal.toml").write_text("acknowledge_days = 3\n")
    monkeypatch.setenv("PORTAL_REPORTER_PORT", "0")  # any free port
    monkeypatch.setenv("PORTAL_TRIAGE_PORT", "0")
    answered: dict[str, int] = {}
    real_make_server = cli_module.make_server

    def make_server_answering_once(host, port, app, **kwargs):
        """The real server, whose serve_forever answers one real request and then stops."""
        server = real_make_server(host, port, app, **kwargs)
        serve = server.serve_forever

        def serve_one_request() -> None:
            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            connection = http.client.HTTPConnection(host, server.server_port, timeout=30)
            connection.request("GET", "/")
            answered[app.config["PORTAL_KIND"]] = connection.getresponse().status
            connection.close()
            server.shutdown()
            thread.join()
            server.server_close()
            state.DATABASE.get(app).dispose()

        server.serve_forever = serve_one_request
        return server

    monkeypatch.setattr(cli_module, "make_server", make_server_answering_once)
    output = ok(cli("serve-dev"))
    assert re.search(r"^Reporter interface: http://127\.0\.0\.1:\d+/$", output, re.M)
    assert re.search(r"^Triage interface: http://127\.0\.0\.1:\d+/$", output, re.M)
    assert answered["reporter"] == 200 and answered["triage"] in (200, 302)
    assert days_to_acknowledge(database) == 3  # deadlines refreshed first
    # The screening thread stops with the servers: left running, it screened later tests' reports on
    # a shared PostgreSQL database with this instance's key, and quarantined them as unreadable.
    deadline = time.monotonic() + 10
    while any(t.name == "portal-screen" and t.is_alive() for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [t for t in threading.enumerate() if t.name == "portal-screen" and t.is_alive()]


# -- audit, db, backup, restore -------------------------------------------------------------------


def test_audit_verify_reports_an_intact_and_a_broken_chain(cli, database, tmp_path):
    for name in ("a", "b"):
        ok(cli("keys", "keygen", "--out", str(tmp_path), "--name", name, "--no-passphrase", instance=None))
        ok(cli("keys", "ceremony", str(tmp_path / f"{name}.pub"), input="y\n"))
    assert "Audit log intact: 2 entries." in ok(cli("audit", "verify"))
    with database.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(detail='{"fingerprint": "forged"}'))
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "Audit log BROKEN after" in result.output


def test_db_upgrade_builds_the_schema_on_an_empty_database(cli, settings_overrides, tmp_path):
    output = ok(cli("db", "upgrade"))
    assert "Database schema is up to date." in output and "Deadlines recomputed" in output
    database = open_database(load_settings(settings_overrides))
    try:
        tables = set(inspect(database.engine).get_table_names())
        assert {"alembic_version", "reports", "reviewers", "audit_log", "blobs"} <= tables
    finally:
        database.dispose()
    assert "Database schema is up to date." in ok(cli("db", "upgrade"))  # safe to run again


def test_backup_then_restore_elsewhere_keeps_every_row_and_the_reports_readable(cli, database, instance_dir, lead,
                                                                               recovery_key, tmp_path, monkeypatch):
    reference, _ = seed_report(database, instance_dir, what_happened=MARKER)
    ok(cli("reviewer", "add", "ivy", "--name", "Ivy Intake", input="an-intake-reviewer-passphrase-42\n" * 2))
    archive = tmp_path / "backups" / "portal.bin"
    archive.parent.mkdir()
    output = ok(cli("backup", "--out", str(archive)))
    assert output.startswith(f"Backup written to {archive}: ")
    assert archive.stat().st_mode & 0o777 == 0o600
    assert MARKER.encode() not in archive.read_bytes() and b"Ivy Intake" not in archive.read_bytes()
    assert cli("backup", "--out", str(archive)).exit_code == 1  # never overwrites

    target = tmp_path / "restored"
    (target / "secrets").mkdir(parents=True, mode=0o700)
    for name in ("backup_key", "audit_key"):
        shutil.copy(instance_dir / "secrets" / name, target / "secrets" / name)
    shutil.copy(instance_dir / "report-signer.pin", target / "report-signer.pin")  # kept with the triage secrets
    for name in ("PORTAL_DATABASE_URL", "PORTAL_BLOB_STORE", "PORTAL_BLOB_DIR"):
        monkeypatch.delenv(name)  # SQLite and the database blob store in the target
    output = ok(cli("restore", str(archive), instance=target))
    assert output.startswith("Archive made ")  # the authenticated header first (issue 19)
    assert re.search(r"^Restored \d+ rows\.", output, re.M)
    restored = open_database(load_settings({"instance_dir": str(target)}))
    try:
        for model in (Report, KeyWrap, Reviewer, RecoveryKey, AuditEntry):
            assert count(restored, model) == count(database, model), model
        assert verify_chain(restored.session, read_secret(target, "audit_key")).ok
    finally:
        restored.dispose()
    assert MARKER in ok(cli("keys", "recover", "--key-file", str(key_file(tmp_path, recovery_key)), reference,
                            instance=target))
    assert cli("restore", str(archive), instance=target).exit_code == 1  # refuses a database that holds data


# -- oversight ------------------------------------------------------------------------------------


def test_digest_prints_content_free_counts_without_smtp(cli, database, instance_dir, lead):
    reference, _ = seed_report(database, instance_dir, what_happened=MARKER)
    with database.transaction() as session:  # received 10 days ago: overdue once deadlines are refreshed
        session.execute(update(Report).values(received_on=today() - dt.timedelta(days=10)))
    output = ok(cli("digest"))
    assert "summary for Lead" in output
    assert "Reports not yet acknowledged: 1" in output and "Overdue reports: 1" in output
    assert MARKER not in output and reference not in output and "Digest sent" not in output


def test_retention_run_purges_closed_reports_past_retention(cli, database, instance_dir, lead):
    old, _ = seed_report(database, instance_dir, what_happened="old")
    recent, _ = seed_report(database, instance_dir, what_happened="recent")
    with database.transaction() as session:
        session.execute(update(Report).where(Report.reference == old).values(
            stage="closed", closed_on=today() - dt.timedelta(days=400)))
    output = ok(cli("retention", "run"))
    assert f"Purged 1 report(s): {old};" in output
    with database.transaction() as session:
        assert list(session.scalars(select(Report.reference))) == [recent]
    assert [e[2] for e in audit_entries(database) if e[1] == "report.purged"] == [old]  # the tombstone
    assert "Purged 0 report(s);" in ok(cli("retention", "run"))  # cron-safe


# -- the recovery key -----------------------------------------------------------------------------


def test_keys_ceremony_registers_a_key_that_new_reports_are_wrapped_to(cli, database, instance_dir, tmp_path):
    media = tmp_path / "media"
    passphrase_file = tmp_path / "holders.txt"
    passphrase = "both holders know half of this"
    passphrase_file.write_text(passphrase + "\n")
    made = ok(cli("keys", "keygen", "--out", str(media), "--passphrase-file", str(passphrase_file), instance=None))
    private = import_private_key((media / "portal-recovery.key").read_text(), passphrase)
    fingerprint = private.public_key().fingerprint
    assert f"Fingerprint: {format_fingerprint(fingerprint)}" in made
    assert (media / "portal-recovery.key").stat().st_mode & 0o777 == 0o600
    output = ok(cli("keys", "ceremony", str(media / "portal-recovery.pub"), "--fingerprint", fingerprint))
    assert f"Fingerprint: {format_fingerprint(fingerprint)}" in output
    assert f"Recovery key {fingerprint} registered." in output
    assert count(database, RecoveryKey, RecoveryKey.fingerprint == fingerprint) == 1
    reference, _ = seed_report(database, instance_dir, what_happened=MARKER)
    assert count(database, KeyWrap, KeyWrap.recipient_fingerprint == fingerprint) == 1
    assert MARKER in ok(cli("keys", "recover", "--key-file", str(media / "portal-recovery.key"), reference, input=passphrase + "\n"))
    wrong = cli("keys", "recover", "--key-file", str(media / "portal-recovery.key"), reference, input="a wrong passphrase\n")
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output and MARKER not in wrong.output
    again = cli("keys", "ceremony", str(media / "portal-recovery.pub"), "--fingerprint", fingerprint)
    assert again.exit_code == 1 and "already registered" in again.output
    assert cli("keys", "keygen", "--out", str(media), "--no-passphrase", instance=None).exit_code == 1  # never overwrites a key
    assert count(database, RecoveryKey) == 1


def test_the_ceremony_never_makes_a_private_key_on_the_instance(cli, database, instance_dir, tmp_path, monkeypatch):
    """The private half is made by keygen on the holders' machine: the ceremony only reads a public
    key file, and nothing that could open a report appears in the instance directory."""
    ok(cli("keys", "keygen", "--out", str(tmp_path / "offline"), "--no-passphrase", instance=None))

    def no_generation(cls):
        raise AssertionError("the ceremony generated a key pair")

    monkeypatch.setattr(RecipientPrivateKey, "generate", classmethod(no_generation))
    refused = cli("keys", "ceremony", str(tmp_path / "offline" / "portal-recovery.key"), input="y\n")
    assert refused.exit_code == 1 and "not a usable public key file" in refused.output  # a private key file is refused
    declined = cli("keys", "ceremony", str(tmp_path / "offline" / "portal-recovery.pub"), input="n\n")
    assert declined.exit_code == 1 and "nothing registered" in declined.output
    assert count(database, RecoveryKey) == 0
    ok(cli("keys", "ceremony", str(tmp_path / "offline" / "portal-recovery.pub"), input="y\n"))
    assert count(database, RecoveryKey) == 1
    for path in instance_dir.rglob("*"):
        if path.is_file():
            assert b"PRIVATE-KEY" not in path.read_bytes() and b"RECOVERY-KEY" not in path.read_bytes(), path


def test_keys_recover_decrypts_the_report_with_the_offline_key(cli, database, instance_dir, recovery_key, tmp_path):
    """Break-glass: the report's answers come back only by unwrapping its key with the recovery key."""
    reference, _ = seed_report(database, instance_dir, what_happened=MARKER,
                               people=[{"name": "Pat Subject", "role": "Sergeant"}], where="The depot")
    result = cli("keys", "recover", "--key-file", str(key_file(tmp_path, recovery_key)), reference.lower())
    output = ok(result)
    assert output.startswith(f"Report {reference}, received ")
    assert MARKER in output and "Person: Pat Subject | Sergeant" in output and "Where: The depot" in output
    assert "Recorded in the audit log as report.recovered." in result.output
    assert ("cli", "report.recovered", reference, {"fingerprint": recovery_key.public_key().fingerprint}) \
        in audit_entries(database)

    stranger = key_file(tmp_path, RecipientPrivateKey.generate(), "stranger.key")  # a key no report is wrapped to
    result = cli("keys", "recover", "--key-file", str(stranger), reference)
    assert result.exit_code == 1 and "recovery failed: this report was not wrapped to that recovery key" in result.output
    result = cli("keys", "recover", "--key-file", str(key_file(tmp_path, recovery_key, "again.key")), "R-NONE-XIST")
    assert result.exit_code == 1 and "recovery failed: no report with that reference" in result.output
    with database.transaction() as session:  # a damaged report does not decrypt to anything
        report = session.scalar(select(Report))
        report.sealed_report = report.sealed_report[:-1] + bytes([report.sealed_report[-1] ^ 1])
    result = cli("keys", "recover", "--key-file", str(key_file(tmp_path, recovery_key, "third.key")), reference)
    assert result.exit_code == 1 and "recovery failed" in result.output and MARKER not in result.output
    assert [e[1] for e in audit_entries(database)].count("report.recovered") == 1


# -- reviewers ------------------------------------------------------------------------------------


def test_reviewer_add_creates_an_account_that_must_choose_its_own_passphrase(cli, database, instance_dir):
    passphrase = "an-intake-reviewer-first-passphrase-42"
    output = ok(cli("reviewer", "add", "Ivy", "--name", "Ivy Intake", "--role", "lead", input=f"{passphrase}\n{passphrase}\n"))
    totp = re.search(r"^TOTP secret: (\w+)$", output, re.M).group(1)
    assert "Reviewer login: ivy" in output
    with database.transaction() as session:
        ivy = session.scalar(select(Reviewer).where(Reviewer.login == "ivy"))
        assert (ivy.display_name, ivy.role, ivy.receives_new_reports, ivy.must_change_passphrase) == ("Ivy Intake", "lead", True, True)
        assert verify_passphrase(ivy, passphrase)
        assert open_totp_secret(read_secret(instance_dir, "totp_key"), ivy) == totp
        assert session.scalar(select(func.count()).select_from(Conflict).where(Conflict.reviewer_id == ivy.id)) >= 1
    result = cli("reviewer", "add", "ivy", "--name", "Another Ivy", input=f"{passphrase}\n{passphrase}\n")
    assert result.exit_code == 1 and "That login is already in use." in result.output
    assert count(database, Reviewer) == 1


# -- the group ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["group", "group=", "command", "command="])
def test_instance_is_read_before_or_after_the_command(cli, database, settings_overrides, where):
    instance = settings_overrides["instance_dir"]
    option = ["--instance", instance] if not where.endswith("=") else [f"--instance={instance}"]
    argv = option + ["audit", "verify"] if where.startswith("group") else ["audit", "verify", *option]
    assert "Audit log intact: 0 entries." in ok(cli(*argv, instance=None))


def test_instance_without_a_directory_is_a_usage_error(cli):
    result = cli("audit", "verify", "--instance", instance=None)
    assert result.exit_code == 2 and "Option '--instance' requires an argument." in result.output


def test_a_malformed_setting_is_one_clear_line(cli, database, monkeypatch):
    monkeypatch.setenv("PORTAL_ARGON2_SLOTS", "abc")
    result = cli("audit", "verify")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "argon2_slots: expected an integer, got 'abc'" in result.output and "Traceback" not in result.output
