"""The `portal` command: init, serve, db, backup, restore, retention, digest, reviewer, keys, audit.

Every command that changes who can read what (a reviewer added to the intake pool, a recovery
key that every new report is wrapped to, a report opened with the recovery key) writes an audit
entry with the actor "cli"; docs/operations.md lists them.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import click
from sqlalchemy import func, select

from portal.config import load_settings
from portal.db import Database
from portal.instance import SECRETS, SecretError, ensure_instance, read_secret, write_private_file
from portal.storage import open_database

DEV_CREDENTIALS = "dev-credentials.txt"
DEV_RECOVERY_KEY = "dev-recovery-key.txt"
CLI_ACTOR = "cli"  # the audit log's actor for changes made with this command on a host


def _settings(instance: str | None):
    return load_settings({"instance_dir": instance} if instance else None)


def _database(settings) -> Database:
    return open_database(settings)


def _audit(session, settings, action: str, report_ref: str | None = None, **detail) -> None:
    from portal.triage.audit import record

    record(session, read_secret(settings.instance_dir, "audit_key"), CLI_ACTOR, action, report_ref, **detail)


def _refresh_deadlines(settings) -> None:
    """Bring every stored deadline in line with the configured number of days (they may have changed)."""
    from portal.deadlines import Deadlines

    db = _database(settings)
    try:
        with db.transaction() as session:
            Deadlines.from_settings(settings).refresh_all(session)
    finally:
        db.dispose()


instance_option = click.option("--instance", "instance", default=None, help="Instance directory (default ./instance or PORTAL_INSTANCE_DIR).")


class _PortalGroup(click.Group):
    """Operators get one clear line for a missing or damaged instance secret, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SecretError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_PortalGroup)
@click.version_option(package_name="portal", prog_name="portal", message="%(prog)s %(version)s")
def main() -> None:
    """Confidential reporting portal."""


@main.command()
@instance_option
@click.option("--app", "app_kind", type=click.Choice(["reporter", "triage"]), default=None,
              help="Create only the secrets this host's application needs (production). Without it: all of them (development).")
@click.option("--dev", is_flag=True, help="Also create development key material and a first reviewer, and print their credentials.")
def init(instance: str | None, app_kind: str | None, dev: bool) -> None:
    """Create the instance directory: database, secrets (mode 0600), and with --dev a first reviewer."""
    settings = _settings(instance)
    from portal.migrate import upgrade

    if dev and app_kind:
        raise click.UsageError("--dev makes a development instance with every secret: use it without --app")
    names = [name for name, kind in SECRETS.items() if app_kind in (None, kind)]
    created = ensure_instance(settings.instance_dir, names)
    upgrade(settings.database_url)
    db = _database(settings)
    db.blob_store.prepare()  # the blob directory (0700) when blob_store = "filesystem"
    db_file = settings.instance_dir / "portal.sqlite3"
    if db_file.exists():
        db_file.chmod(0o600)
    if created:
        click.echo(f"Instance initialised in {settings.instance_dir} ({len(created)} new secrets).")
    if dev:
        _init_dev(settings, db)
    db.dispose()


def _init_dev(settings, db: Database) -> None:
    from portal.crypto.keys import RecipientPrivateKey, export_recovery_private_key
    from portal.triage.accounts import create_reviewer, generate_passphrase, register_recovery_key
    from portal.triage.models import RecoveryKey, Reviewer, Role

    credentials_file = settings.instance_dir / DEV_CREDENTIALS
    with db.transaction() as session:
        if not session.scalar(select(func.count()).select_from(RecoveryKey)):
            recovery = RecipientPrivateKey.generate()
            key = register_recovery_key(session, recovery)
            write_private_file(settings.instance_dir / DEV_RECOVERY_KEY, export_recovery_private_key(recovery))
            _audit(session, settings, "recovery-key.registered", fingerprint=key.fingerprint, dev=True)
        if not session.scalar(select(func.count()).select_from(Reviewer)):
            passphrase = generate_passphrase()
            new = create_reviewer(
                session, read_secret(settings.instance_dir, "totp_key"),
                login="lead", display_name="First lead reviewer", role=Role.LEAD, passphrase=passphrase,
                blind_index_key=read_secret(settings.instance_dir, "blind_index_key"),
            )
            _audit(session, settings, "reviewer.created", reviewer=new.reviewer.login, role=new.reviewer.role,
                   intake=new.reviewer.receives_new_reports, dev=True)
            text = f"Reviewer login: {new.reviewer.login}\nPassphrase: {passphrase}\nTOTP secret: {new.totp_secret}\n"
            write_private_file(credentials_file, text)
    click.echo("Development instance: these credentials are for this machine only (kept in "
               f"{credentials_file.name}, mode 0600).")
    click.echo(credentials_file.read_text("utf-8").rstrip("\n"))


@main.command("serve-dev")
@instance_option
@click.option("--host", default="127.0.0.1", show_default=True)
def serve_dev(instance: str | None, host: str) -> None:
    """Serve both interfaces on loopback for development (no access log)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from portal import create_app

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:  # never log client addresses
            pass

        def log(self, type: str, message: str, *args) -> None:  # noqa: A002
            if type == "error":  # a JSON line like every other (portal/logs.py), without the message
                import logging

                logging.getLogger("portal.serve_dev").error("request error")

    settings = _settings(instance)
    _refresh_deadlines(settings)
    overrides = {"instance_dir": str(settings.instance_dir)}
    servers = []
    for kind, port in (("reporter", settings.reporter_port), ("triage", settings.triage_port)):
        app = create_app(kind, overrides)
        servers.append((kind, make_server(host, int(port), app, threaded=True, request_handler=QuietHandler)))
    for kind, server in servers:
        label = "Reporter interface" if kind == "reporter" else "Triage interface"
        click.echo(f"{label}: http://{host}:{server.server_port}/")
    sys.stdout.flush()
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for _, s in servers]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        for _, server in servers:
            server.shutdown()


@main.command()
@instance_option
@click.argument("kind", type=click.Choice(["reporter", "triage"]))
def serve(instance: str | None, kind: str) -> None:
    """Serve one interface with gunicorn (config/gunicorn.conf.py); production hosts run one each."""
    import os

    from portal.config import CONFIG_DIR, PROJECT_ROOT

    if kind == "triage":
        _refresh_deadlines(_settings(instance))
    env = dict(os.environ, PORTAL_APP_KIND=kind)
    if instance:
        env["PORTAL_INSTANCE_DIR"] = str(Path(instance).resolve())
    gunicorn = Path(sys.executable).with_name("gunicorn")
    args = [str(gunicorn), "--config", str(CONFIG_DIR / "gunicorn.conf.py"), "--chdir", str(PROJECT_ROOT), f"wsgi:{kind}_app"]
    os.execve(args[0], args, env)  # noqa: S606 (replace this process with gunicorn)


@main.group()
def audit() -> None:
    """The reviewer audit log."""


@audit.command("verify")
@instance_option
def audit_verify(instance: str | None) -> None:
    """Check the audit log's hash chain: exits 1 if an entry was edited, deleted or reordered."""
    from portal.triage.audit import verify_chain

    settings = _settings(instance)
    db = _database(settings)
    try:
        result = verify_chain(db.session, read_secret(settings.instance_dir, "audit_key"))
    finally:
        db.dispose()
    if not result.ok:
        click.echo(f"Audit log BROKEN after {result.entries} entries: {result.problem}", err=True)
        sys.exit(1)
    click.echo(f"Audit log intact: {result.entries} entries.")


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@instance_option
def db_upgrade(instance: str | None) -> None:
    """Apply schema migrations (Alembic) up to the newest; safe to run on every deploy.

    Then recompute stored deadlines with the triage instance's settings (acknowledge_days,
    feedback_days), which is why it needs the triage host's instance directory (--instance or
    PORTAL_INSTANCE_DIR). Without one it leaves the deadlines alone: the defaults are not the
    instance's settings, and `portal serve triage` recomputes them when it starts.
    """
    from portal.migrate import upgrade

    settings = _settings(instance)
    upgrade(settings.database_url)
    click.echo("Database schema is up to date.")
    if (settings.instance_dir / "portal.toml").is_file() or (settings.instance_dir / "secrets" / "audit_key").is_file():
        _refresh_deadlines(settings)
        click.echo(f"Deadlines recomputed with the settings of {settings.instance_dir}.")
    else:
        click.echo(f"Deadlines NOT recomputed: {settings.instance_dir} is not a triage instance directory (no portal.toml, "
                   "no audit_key). Pass --instance or set PORTAL_INSTANCE_DIR (docs/operations.md, Upgrades); "
                   "`portal serve triage` recomputes them when it starts.", err=True)


@main.command()
@instance_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def backup(instance: str | None, out: Path) -> None:
    """Write one encrypted, integrity-checked archive of the database and of every attachment's content.

    The instance secrets are NOT in it: back them up separately, offline.
    """
    from portal.backup import BackupError, write_backup

    if out.exists():
        raise click.ClickException(f"{out} exists: refusing to overwrite")
    if not out.parent.is_dir():
        raise click.ClickException(f"the directory {out.parent} does not exist: create it for the service user, e.g. "
                                   f"`install -d -o portal -g portal -m 0700 {out.parent}` (docs/operations.md, Backup and restore)")
    settings = _settings(instance)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot create {out}: {exc.strerror} (the directory must be writable by the user "
                                   "running the backup; docs/operations.md, Backup and restore)") from exc
    db = _database(settings)
    try:
        with os.fdopen(fd, "wb") as handle:
            counts = write_backup(db.engine, read_secret(settings.instance_dir, "backup_key"), handle, db.blob_store)
    except BackupError as exc:
        out.unlink()
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"Backup written to {out}: {sum(counts.values())} rows in {len(counts)} tables.")


@main.command()
@instance_option
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(instance: str | None, archive: Path) -> None:
    """Restore an archive into an empty database and blob store (the instance must hold the same secrets)."""
    from portal.backup import BackupError, restore_backup
    from portal.migrate import upgrade

    settings = _settings(instance)
    upgrade(settings.database_url)
    db = _database(settings)
    try:
        with archive.open("rb") as handle:
            counts = restore_backup(db.engine, read_secret(settings.instance_dir, "backup_key"), handle, db.blob_store)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"Restored {sum(counts.values())} rows. Run `portal audit verify` next.")


@main.command()
@instance_option
def digest(instance: str | None) -> None:
    """Send each reviewer a content-free summary (counts only); prints it when SMTP is not configured."""
    from portal.triage.oversight import send_digests

    settings = _settings(instance)
    _refresh_deadlines(settings)
    db = _database(settings)
    try:
        sent = send_digests(db.session, settings, click.echo)
    finally:
        db.dispose()
    if settings.smtp_host:
        click.echo(f"Digest sent to {sent} reviewers.")


@main.group()
def retention() -> None:
    """Deleting closed reports after the retention period."""


@retention.command("run")
@instance_option
def retention_run(instance: str | None) -> None:
    """Purge closed reports older than `retention_days` (safe to run from cron)."""
    from portal.blobs import purge_abandoned_drafts
    from portal.sessions import purge_expired_sessions
    from portal.triage.oversight import purge_due

    settings = _settings(instance)
    db = _database(settings)
    try:
        with db.transaction() as session:
            purged = purge_due(session, settings, read_secret(settings.instance_dir, "audit_key"))
            drafts = purge_abandoned_drafts(session)
            sessions = purge_expired_sessions(session)
    finally:
        db.dispose()
    click.echo(f"Purged {len(purged)} report(s){': ' + ', '.join(purged) if purged else ''}; "
               f"{drafts} abandoned or orphaned attachment file(s); {sessions} expired session(s).")


@main.group()
def keys() -> None:
    """Organisation recovery key."""


@keys.command()
@instance_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the PRIVATE recovery key (removable media you take offline).")
def ceremony(instance: str | None, out: Path) -> None:
    """Generate the organisation recovery key: private half to --out, public half into the database."""
    from portal.crypto.keys import RecipientPrivateKey, export_recovery_private_key
    from portal.triage.accounts import register_recovery_key

    if out.exists():
        raise click.ClickException(f"{out} exists: refusing to overwrite a recovery key")
    settings = _settings(instance)
    read_secret(settings.instance_dir, "audit_key")  # only on the triage host: fail before writing any key
    db = _database(settings)
    private = RecipientPrivateKey.generate()
    write_private_file(out, export_recovery_private_key(private))
    with db.transaction() as session:
        key = register_recovery_key(session, private)
        _audit(session, settings, "recovery-key.registered", fingerprint=key.fingerprint)
    click.echo(f"Recovery key {key.fingerprint} written to {out}. New reports are wrapped to it from now on.")
    click.echo("Take the file offline now (two copies, two safes) and delete any other copy. See docs/operations.md.")
    db.dispose()


@keys.command()
@instance_option
@click.option("--key-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("reference")
def recover(instance: str | None, key_file: Path, reference: str) -> None:
    """Decrypt one report (by reference) with the offline recovery key and print it."""
    from portal.crypto import CryptoError
    from portal.crypto.keys import import_recovery_private_key
    from portal.reports.recovery import recover_report

    settings = _settings(instance)
    # On the live triage host the recovery is recorded in the audit log. Offline (an archive
    # restored with only backup_key, docs/operations.md "Break-glass recovery") there is no
    # audit_key and no log worth writing to: say so, and the lead records it on the live host.
    audited = (settings.instance_dir / "secrets" / "audit_key").is_file()
    db = _database(settings)
    try:
        private = import_recovery_private_key(key_file.read_text("utf-8"))
        with db.transaction() as session:
            text = recover_report(session, private, reference)
            if audited:
                _audit(session, settings, "report.recovered", reference.strip().upper(),
                       fingerprint=private.public_key().fingerprint)
    except (CryptoError, LookupError, ValueError) as exc:
        raise click.ClickException(f"recovery failed: {exc}") from exc
    finally:
        db.dispose()
    click.echo(text)
    if audited:
        click.echo("Recorded in the audit log as report.recovered.", err=True)
    else:
        click.echo("No audit entry written (no audit_key in this instance: an offline recovery). Record it on the live "
                   "triage host as docs/operations.md, Break-glass recovery, says.", err=True)


@main.group()
def reviewer() -> None:
    """Reviewer accounts."""


@reviewer.command("add")
@instance_option
@click.argument("login")
@click.option("--name", "display_name", required=True)
@click.option("--role", type=click.Choice(["reviewer", "lead", "administrator"]), default="reviewer", show_default=True)
def reviewer_add(instance: str | None, login: str, display_name: str, role: str) -> None:
    """Create a reviewer; asks for the passphrase and prints the TOTP secret once."""
    from portal.triage.accounts import AccountError, create_reviewer
    from portal.triage.models import Role

    settings = _settings(instance)
    passphrase = click.prompt("Passphrase", hide_input=True, confirmation_prompt=True)
    db = _database(settings)
    try:
        with db.transaction() as session:
            new = create_reviewer(session, read_secret(settings.instance_dir, "totp_key"), login=login,
                                  display_name=display_name, role=Role(role), passphrase=passphrase,
                                  blind_index_key=read_secret(settings.instance_dir, "blind_index_key"),
                                  must_change_passphrase=True)
            _audit(session, settings, "reviewer.created", reviewer=new.reviewer.login, role=new.reviewer.role,
                   intake=new.reviewer.receives_new_reports)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"Reviewer login: {new.reviewer.login}")
    click.echo(f"TOTP secret: {new.totp_secret}")
    click.echo("At first sign-in they enrol the TOTP secret and choose their own passphrase (with a new key pair).")
    click.echo("New reviewers read existing reports only after a lead grants access.")


if __name__ == "__main__":  # pragma: no cover
    main()
