"""Issue 13: deleting the newest audit entries, or all of them, passed `portal audit verify`.

Signed checkpoints of the chain's head, written outside the database (portal/triage/checkpoints.py),
now reveal a log cut short, emptied, or rolled back to an older copy, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update
from support import json_log_lines
from web.conftest import CliEnvironment

from portal.config import load_settings
from portal.crypto import checkpoint as signed
from portal.instance import read_secret
from portal.triage import audit
from portal.triage.audit import AuditEntry
from portal.triage.checkpoints import Checkpointer, CheckpointFile, checkpoint_path, read_checkpoints, verify


@pytest.fixture
def settings(settings_overrides):
    return load_settings(settings_overrides)


@pytest.fixture
def checkpointer(settings, database) -> Checkpointer:
    """The database's commits checkpointed, as in the triage app and the `portal` command."""
    checkpointer = Checkpointer.from_settings(settings)
    checkpointer.install(database)
    return checkpointer


@pytest.fixture
def cli(cli_environment: CliEnvironment):
    def run(*args: str, instance=cli_environment.instance_dir):
        return cli_environment.invoke(["--instance", str(instance), *args])

    return run


def append(database, instance_dir, count: int = 1, actor: str = "lead") -> None:
    """`count` audit entries, each in its own committed transaction (as reviewers' requests are)."""
    key = read_secret(instance_dir, "audit_key")
    for _ in range(count):
        with database.transaction() as session:
            audit.record(session, key, actor, "report.viewed", "R-AAAA-BBBB")


def lines(settings) -> list[dict]:
    path = checkpoint_path(settings)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check(database, settings, checkpointer, external=None):
    with database.transaction() as session:
        return verify(session, read_secret(settings.instance_dir, "audit_key"), checkpointer.file, external)


def delete_from(database, seq: int) -> None:
    with database.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= seq))


# -- written without a cron job ---------------------------------------------------------------


def test_checkpoints_are_written_on_append_every_n_entries(database, settings_overrides, instance_dir):
    settings = load_settings({**settings_overrides, "audit_checkpoint_entries": 3, "audit_checkpoint_minutes": 600})
    Checkpointer.from_settings(settings).install(database)
    append(database, instance_dir, 7)
    assert [line["seq"] for line in lines(settings)] == [1, 4, 7]  # the first entry ever, then every 3rd
    assert checkpoint_path(settings).stat().st_mode & 0o777 == 0o600
    assert checkpoint_path(settings) == instance_dir / "audit-checkpoints.jsonl"


def test_a_checkpoint_is_written_at_the_first_entry_after_the_interval(database, settings_overrides, instance_dir):
    settings = load_settings({**settings_overrides, "audit_checkpoint_entries": 1000, "audit_checkpoint_minutes": 5})
    checkpointer = Checkpointer.from_settings(settings)
    checkpointer.install(database)
    append(database, instance_dir, 3)
    assert [line["seq"] for line in lines(settings)] == [1]
    # Six minutes later (the last line says so), the next entry is checkpointed at once.
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)).strftime("%Y%m%dT%H%M%SZ")
    with database.transaction() as session:
        seq, head = audit.head(session)
    with checkpoint_path(settings).open("a") as handle:
        handle.write(signed.sign(checkpointer.seed, "checkpoint", seq, head, old).to_line() + "\n")
    checkpointer._known = None  # a fresh worker process
    append(database, instance_dir, 1)
    assert [line["seq"] for line in lines(settings)] == [1, 3, 4]


def test_a_rolled_back_entry_is_never_checkpointed(database, settings, checkpointer, instance_dir):
    with pytest.raises(RuntimeError), database.transaction() as session:
        audit.record(session, read_secret(instance_dir, "audit_key"), "lead", "report.viewed", None)
        raise RuntimeError("the request failed")
    assert lines(settings) == []
    append(database, instance_dir)
    assert [line["seq"] for line in lines(settings)] == [1]
    assert check(database, settings, checkpointer).ok


def test_every_checkpoint_goes_to_the_structured_log(database, settings, checkpointer, instance_dir, json_log):
    append(database, instance_dir)
    logged = [entry for entry in json_log_lines(json_log.getvalue()) if entry["logger"] == "portal.audit.checkpoints"]
    assert len(logged) == 1 and logged[0]["level"] == "info"
    line = logged[0]["event"].removeprefix("audit checkpoint ")
    assert signed.parse(line, checkpointer.file.public).seq == 1  # verifiable from the log alone


def test_the_triage_app_checkpoints_its_reviewers_actions(app_of_kind, settings, lead):
    from triage_support import signed_in_client

    signed_in_client(app_of_kind("triage"), lead)  # "reviewer.signed-in"
    assert [line["seq"] for line in lines(settings)] == [1]


# -- what verify now detects ------------------------------------------------------------------------


def test_intact_log_verifies(database, settings, checkpointer, instance_dir):
    append(database, instance_dir, 25)
    result = check(database, settings, checkpointer)
    assert result.ok and result.entries == 25 and result.head_seq == 25
    assert result.latest is not None and result.latest.seq == 21  # 1, 11, 21 with the default of 10


def test_truncating_the_newest_entries_is_detected(database, settings, checkpointer, instance_dir):
    append(database, instance_dir, 12)  # checkpoints at 1 and 11
    delete_from(database, 10)
    result = check(database, settings, checkpointer)
    assert not result.ok
    assert "ends at entry 9, but entry 11 was checkpointed" in result.problem


def test_deleting_every_entry_is_detected(database, settings, checkpointer, instance_dir):
    append(database, instance_dir, 3)
    delete_from(database, 1)
    result = check(database, settings, checkpointer)
    assert not result.ok and result.entries == 0
    assert "ends at entry 0" in result.problem


def test_rolling_the_database_back_is_detected_even_after_new_entries(database, settings, checkpointer, instance_dir):
    append(database, instance_dir, 5)
    with database.transaction() as session:  # the "backup": the log as it was after 5 entries
        backup = [{c.name: getattr(e, c.name) for c in AuditEntry.__table__.columns}
                  for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    append(database, instance_dir, 10)  # checkpoint at 11
    # The database is put back to the older copy; the checkpoint file stays current.
    delete_from(database, 1)
    with database.transaction() as session:
        session.execute(insert(AuditEntry), backup)
    assert "ends at entry 5, but entry 11 was checkpointed" in check(database, settings, checkpointer).problem
    # Activity after the rollback takes the sequence past the checkpoint: the hashes differ.
    append(database, instance_dir, 8, actor="reviewer2")
    result = check(database, settings, checkpointer)
    assert not result.ok and "entry 11 is not the entry 11 that was checkpointed" in result.problem


def test_an_edited_checkpoint_file_is_detected(database, settings, checkpointer, instance_dir):
    append(database, instance_dir, 12)
    path = checkpoint_path(settings)
    text = path.read_text().splitlines()
    record = json.loads(text[-1])
    record["seq"] = 9  # someone without the signing key moves the checkpoint back before truncating
    path.write_text("\n".join([*text[:-1], json.dumps(record)]) + "\n")
    delete_from(database, 10)
    result = check(database, settings, checkpointer)
    assert not result.ok and "line 2" in result.problem and "not a valid checkpoint" in result.problem


def test_an_external_head_catches_an_attacker_who_also_holds_the_signing_key(database, settings, checkpointer,
                                                                             instance_dir):
    append(database, instance_dir, 12)
    with database.transaction() as session:
        recorded = audit.head(session)  # what the operator wrote down (or the digest e-mail holds)
    delete_from(database, 12)
    checkpoint_path(settings).unlink()  # database and secrets: the file is rewritten to match
    with database.transaction() as session:
        checkpointer._known = None
        checkpointer.checkpoint_now(session)
    assert check(database, settings, checkpointer).ok  # the limit the threat model states
    result = check(database, settings, checkpointer, external=recorded)
    assert not result.ok and "entry 12 was checkpointed" in result.problem


def test_a_log_without_any_checkpoint_is_not_called_intact(database, settings, checkpointer, instance_dir):
    append(database, instance_dir, 2)
    checkpoint_path(settings).unlink()
    result = check(database, settings, checkpointer)
    assert not result.ok and "no checkpoint" in result.problem


# -- the command --------------------------------------------------------------------------------


def test_audit_verify_prints_the_head_and_fails_on_truncation(cli, database, settings, checkpointer, instance_dir):
    append(database, instance_dir, 12)
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    with database.transaction() as session:
        seq, head = audit.head(session)
    assert f"Head: {seq}:{head.hex()}" in result.output
    assert "Audit log intact: 12 entries." in result.output and "Latest checkpoint: entry 11" in result.output
    assert cli("audit", "verify", "--expect", f"{seq}:{head.hex()}").exit_code == 0
    assert cli("audit", "verify", "--expect", "12:zz").exit_code == 2
    delete_from(database, 11)
    result = cli("audit", "verify")
    assert result.exit_code == 1 and "BROKEN" in result.output and "entry 11 was checkpointed" in result.output


def test_audit_checkpoint_command_and_the_digest_carry_the_head(cli, database, settings, checkpointer, instance_dir, lead):
    append(database, instance_dir, 3)  # checkpoint at 1 only
    result = cli("audit", "checkpoint")
    assert result.exit_code == 0 and json.loads(result.output)["seq"] == 3
    append(database, instance_dir, 2)
    output = cli("digest").output
    with database.transaction() as session:
        seq, head = audit.head(session)
    assert f"portal audit verify --expect {seq}:{head.hex()}" in output
    line = re.search(r"Signed checkpoint: (\{.*\})", output).group(1)
    assert signed.parse(line, checkpointer.file.public).seq == 5
    assert lines(settings)[-1]["seq"] == 5  # and the file holds the same head


def test_a_restore_writes_a_signed_restore_line_and_verify_accepts_it(cli, database, settings, checkpointer, instance_dir,
                                                                      tmp_path, monkeypatch):
    append(database, instance_dir, 3)
    archive = tmp_path / "backups" / "portal.bin"
    archive.parent.mkdir()
    assert cli("backup", "--out", str(archive)).exit_code == 0
    append(database, instance_dir, 10)  # checkpointed at 11: newer than the backup
    # The host is rebuilt: same secrets, same checkpoint file, the database restored from the archive.
    target = tmp_path / "restored"
    shutil.copytree(instance_dir / "secrets", target / "secrets")
    shutil.copy(checkpoint_path(settings), target / "audit-checkpoints.jsonl")
    for name in ("PORTAL_DATABASE_URL", "PORTAL_BLOB_STORE", "PORTAL_BLOB_DIR"):
        monkeypatch.delenv(name)
    (target / "audit-checkpoints.jsonl").chmod(0o644)  # copied carelessly
    old_umask = os.umask(0o022)  # an operator's usual umask: new files 0644, new directories 0755
    try:
        refused = cli("restore", str(archive), instance=target)  # issue 19: older than the checkpoint at 11
        assert refused.exit_code != 0 and "--allow-rollback" in refused.output
        result = cli("restore", str(archive), "--allow-rollback", instance=target)
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    assert "Signed restore line written to the checkpoint file: entry 3." in result.output
    verified = cli("audit", "verify", instance=target)
    assert verified.exit_code == 0, verified.output
    assert "Restored from a backup at" in verified.output and "to entry 3" in verified.output
    # Issue 13: `portal restore` wrote the database world-readable (0644); `init` makes it 0600.
    modes = {path.relative_to(target).as_posix(): path.stat().st_mode & 0o777 for path in [target, *target.rglob("*")]}
    assert modes["portal.sqlite3"] == 0o600 and modes["audit-checkpoints.jsonl"] == 0o600
    assert {mode for name, mode in modes.items() if name.startswith("secrets/")} == {0o600}
    assert modes["."] == modes["secrets"] == 0o700
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes


# -- many writers --------------------------------------------------------------------------------


def _hammer(path: str, seed: bytes, start: int) -> None:
    file_checkpointer = Checkpointer(seed, CheckpointFile(Path(path), signed.public_key(seed)), 1, 1)
    for seq in range(start, start + 200, 4):
        file_checkpointer.after_append(seq, bytes([seq % 256]) * 32)


def test_concurrent_writers_never_corrupt_the_file(settings, checkpointer):
    """Four processes (gunicorn workers) with two threads each append at once: every line is whole,
    signed, and the sequence numbers never go back."""
    path = str(checkpoint_path(settings))
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_hammer, args=(path, checkpointer.seed, start)) for start in range(1, 5)]
    threads = [threading.Thread(target=_hammer, args=(path, checkpointer.seed, start)) for start in range(1, 5)]
    for worker in workers + threads:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    for thread in threads:
        thread.join(60)
    epoch, problem = read_checkpoints(checkpointer.file)
    assert problem == "" and len(epoch) >= 50
    seqs = [cp.seq for cp in epoch]
    assert seqs == sorted(set(seqs)) and seqs[-1] == 200
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_twenty_concurrent_audited_appends_checkpoint_a_verifiable_chain(database, settings, checkpointer, instance_dir):
    errors = []

    def worker() -> None:
        try:
            append(database, instance_dir, 3)
        except Exception as exc:  # noqa: BLE001 - what this test looks for
            errors.append(repr(exc))
        finally:
            database.remove()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    result = check(database, settings, checkpointer)
    assert result.ok and result.entries == 60, result.problem
    assert [cp["seq"] for cp in lines(settings)] == sorted({cp["seq"] for cp in lines(settings)})


def test_editing_an_entry_is_still_detected(database, settings, checkpointer, instance_dir):
    append(database, instance_dir, 3)
    with database.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone-else"))
    assert "entry 2 was altered" in check(database, settings, checkpointer).problem
