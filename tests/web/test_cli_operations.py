"""The `portal` command as docs/operations.md uses it (issue #20): break-glass recovery on a live
host and offline, audit entries for every command that changes who can read what, upgrades that
keep the instance's deadlines, a clear error for a missing backup directory, secrets hints that
never say "run portal init", `portal init --app`, and `portal --version`."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import shutil
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import select
from support import submit_report

from portal.cli import main
from portal.crypto.keys import export_recovery_private_key
from portal.instance import SECRETS, read_secret
from portal.migrate import alembic_config
from portal.reports.models import Report
from portal.triage.audit import AuditEntry, verify_chain

pytestmark = pytest.mark.fresh_schema


@pytest.fixture
def cli(cli_environment):
    """`portal COMMAND ... --instance DIR`: the option after the command, as docs/operations.md writes it."""

    def run(*args: str, instance: bool = True, input: str | None = None):  # noqa: A002
        argv = [*args, "--instance", cli_environment.instance_dir] if instance else list(args)
        return cli_environment.invoke(argv, input)

    return run


def _entries(database) -> list[AuditEntry]:
    with database.transaction() as session:
        return [(e.actor, e.action, e.report_ref, json.loads(e.detail)) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def _reference(database) -> str:
    with database.transaction() as session:
        return session.scalar(select(Report.reference))


def _key_file(tmp_path: Path, private) -> Path:
    path = tmp_path / "recovery.key"
    path.write_text(export_recovery_private_key(private))
    return path


def test_keys_recover_on_the_live_triage_host_prints_the_report_and_audits_it(cli, reporter_client, recovery_key, database,
                                                                            instance_dir, tmp_path):
    submit_report(reporter_client, what_happened="BREAK-GLASS-LIVE")
    reference = _reference(database)
    result = cli("keys", "recover", "--key-file", str(_key_file(tmp_path, recovery_key)), reference)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "BREAK-GLASS-LIVE" in result.output
    assert ("cli", "report.recovered", reference, {"fingerprint": recovery_key.public_key().fingerprint}) in _entries(database)
    assert verify_chain(database.session, read_secret(instance_dir, "audit_key")).ok


def test_keys_recover_offline_with_only_backup_key(cli, reporter_client, recovery_key, database, instance_dir, tmp_path,
                                                   monkeypatch):
    """The guide's offline recipe: an archive and a copy of backup_key, restored into SQLite on another machine."""
    submit_report(reporter_client, what_happened="BREAK-GLASS-OFFLINE")
    reference = _reference(database)
    archive = tmp_path / "portal.bin"
    assert cli("backup", "--out", str(archive)).exit_code == 0
    offline = tmp_path / "bg"
    (offline / "secrets").mkdir(parents=True, mode=0o700)
    shutil.copy(instance_dir / "secrets" / "backup_key", offline / "secrets" / "backup_key")
    for name in ("PORTAL_DATABASE_URL", "PORTAL_BLOB_STORE", "PORTAL_BLOB_DIR"):
        monkeypatch.delenv(name)
    result = cli("restore", "--instance", str(offline), str(archive), instance=False)
    assert result.exit_code == 0, (result.output, result.exception)
    result = cli("keys", "recover", "--instance", str(offline), "--key-file", str(_key_file(tmp_path, recovery_key)), reference,
                 instance=False)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "BREAK-GLASS-OFFLINE" in result.output
    assert "No audit entry written" in result.output
    assert sorted(p.name for p in (offline / "secrets").iterdir()) == ["backup_key"]  # nothing was created there


def test_keys_upgrade_internal_moves_old_notes_off_the_reporters_key_and_is_audited(cli, reporter_client, recovery_key, lead,
                                                                                    database, instance_dir, tmp_path):
    import os

    from sqlalchemy import select

    from portal.crypto import CryptoError
    from portal.crypto.envelope import open_record, seal_record
    from portal.crypto.keys import unwrap_dek
    from portal.reports.models import InternalNote, KeyWrap, Report

    submit_report(reporter_client, what_happened="UPGRADE-INTERNAL")
    with database.transaction() as session:  # a note as the previous version sealed it: under the DEK
        report = session.scalars(select(Report)).one()
        wrap = session.scalar(select(KeyWrap.wrap).where(KeyWrap.recipient_fingerprint == recovery_key.public_key().fingerprint))
        dek = unwrap_dek(wrap, recovery_key, report.public_id)
        note_id = os.urandom(16)
        report.notes.append(InternalNote(public_id=note_id, author_id=lead.id,
                                         sealed_body=seal_record(dek, report.public_id, "note", b'{"v":1,"text":"old"}', note_id)))
    result = cli("keys", "upgrade-internal", "--key-file", str(_key_file(tmp_path, recovery_key)))
    assert result.exit_code == 0, (result.output, result.exception)
    assert "1 report(s) given an internal key" in result.output
    with database.transaction() as session:
        session.expire_all()  # what the command wrote, not this session's copy
        note = session.scalars(select(InternalNote)).one()
        with pytest.raises(CryptoError):
            open_record(dek, note.report.public_id, "note", note.sealed_body, note.public_id)
    assert ("cli", "internal-keys.upgraded", None, {"fingerprint": recovery_key.public_key().fingerprint, "reports": 1}) in _entries(database)
    again = cli("keys", "upgrade-internal", "--key-file", str(_key_file(tmp_path, recovery_key)))
    assert again.exit_code == 0 and "0 report(s)" in again.output


def test_keys_ceremony_is_audited(cli, database, instance_dir, tmp_path):
    media = tmp_path / "media"
    made = cli("keys", "keygen", "--out", str(media), "--no-passphrase", instance=False)
    assert made.exit_code == 0, (made.output, made.exception)
    fingerprint = (media / "portal-recovery.pub").read_text().splitlines()[1]
    result = cli("keys", "ceremony", str(media / "portal-recovery.pub"), input="y\n")
    assert result.exit_code == 0, (result.output, result.exception)
    assert ("cli", "recovery-key.registered", None, {"fingerprint": fingerprint}) in _entries(database)
    assert verify_chain(database.session, read_secret(instance_dir, "audit_key")).ok


def test_reviewer_add_is_audited(cli, database, instance_dir):
    passphrase = "an-intake-reviewer-first-passphrase-42"
    result = cli("reviewer", "add", "ivy", "--name", "Ivy Intake", "--role", "reviewer", input=f"{passphrase}\n{passphrase}\n")
    assert result.exit_code == 0, (result.output, result.exception)
    assert ("cli", "reviewer.created", None, {"reviewer": "ivy", "role": "reviewer", "intake": True}) in _entries(database)
    assert verify_chain(database.session, read_secret(instance_dir, "audit_key")).ok


def test_db_upgrade_keeps_the_instance_deadlines(cli, reporter_client, database, database_url, instance_dir):
    command.stamp(alembic_config(database_url), "head")  # the fixture built the tables from the models
    (instance_dir / "portal.toml").write_text("acknowledge_days = 3\n")
    submit_report(reporter_client)
    result = cli("db", "upgrade")
    assert result.exit_code == 0, (result.output, result.exception)
    with database.transaction() as session:
        report = session.scalar(select(Report))
        assert report.due_on == report.received_on + dt.timedelta(days=3)
    # The owner's command run without the triage instance (the defaults say 7 days): deadlines untouched.
    result = cli("db", "upgrade", instance=False)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "NOT recomputed" in result.output
    with database.transaction() as session:
        report = session.scalar(select(Report))
        assert report.due_on == report.received_on + dt.timedelta(days=3)


def test_backup_into_a_missing_directory_is_a_clear_error(cli, database, tmp_path):
    out = tmp_path / "var" / "backups" / "portal" / "portal.bin"
    result = cli("backup", "--out", str(out))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a traceback
    assert "does not exist" in result.output and "install -d" in result.output
    assert not out.exists()


def test_a_missing_secret_is_never_answered_with_portal_init(tmp_path):
    (tmp_path / "secrets").mkdir()
    with pytest.raises(RuntimeError) as caught:
        read_secret(tmp_path, "audit_key")
    message = str(caught.value)
    assert "portal init" not in message
    assert "offline secrets backup" in message and "triage host" in message


@pytest.mark.parametrize("app_kind", ["reporter", "triage"])
def test_init_for_one_host_creates_only_its_secrets(cli, tmp_path, app_kind):
    instance = tmp_path / f"{app_kind}-instance"
    result = cli("init", "--instance", str(instance), "--app", app_kind, instance=False)
    assert result.exit_code == 0, (result.output, result.exception)
    assert sorted(p.name for p in (instance / "secrets").iterdir()) == sorted(n for n, k in SECRETS.items() if k == app_kind)
    # Run again (the guide's hint for nothing; a re-run is harmless): still only this host's secrets.
    assert cli("init", "--instance", str(instance), "--app", app_kind, instance=False).exit_code == 0
    assert len(list((instance / "secrets").iterdir())) == sum(1 for k in SECRETS.values() if k == app_kind)
    # The triage host gets the (empty) audit checkpoint file its service may write; the reporter host none.
    checkpoints = instance / "audit-checkpoints.jsonl"
    if app_kind == "triage":
        assert checkpoints.read_bytes() == b"" and checkpoints.stat().st_mode & 0o777 == 0o600
    else:
        assert not checkpoints.exists()


def test_version_comes_from_the_package_metadata():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"portal {importlib.metadata.version('portal')}"


def test_a_command_on_the_wrong_host_is_a_clear_error(cli, database, instance_dir):
    """`portal audit verify` where audit_key is absent (the reporter host): one line, no traceback."""
    (instance_dir / "secrets" / "audit_key").unlink()
    result = cli("audit", "verify")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "instance secret 'audit_key' missing" in result.output and "triage host" in result.output
    assert "Traceback" not in result.output
