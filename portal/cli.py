"""The `portal` command: init, serve, screen, db, backup, restore, retention, digest, reviewer, keys, audit.

Every command that changes who can read what (a reviewer added to the intake pool, a recovery
key that every new report is wrapped to, a report opened with the recovery key) writes an audit
entry with the actor "cli"; docs/operations.md lists them.

`--instance DIR` belongs to the `portal` group and reaches each command through the click
context (`Instance`). The guide writes it after the command (`portal keys recover --instance
/tmp/bg ...`), so the group also accepts it there.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import click
from sqlalchemy import func, select
from werkzeug.serving import WSGIRequestHandler, make_server

from portal import state
from portal.app import create_app
from portal.backup import BackupError, RollbackRefused, read_header, restore_backup, write_backup
from portal.blobs import purge_abandoned_drafts
from portal.cli_audit import audit
from portal.cli_bodies import bodies
from portal.cli_instance import Instance, instance_database, pass_instance, record_cli_action, refresh_deadlines
from portal.cli_keys import keys, signer_instructions
from portal.cli_referral import referral
from portal.config import CONFIG_DIR, PROJECT_ROOT, Settings, SettingsError
from portal.crypto.keys import RecipientPrivateKey, export_recovery_private_key
from portal.db import Database
from portal.instance import (
    SECRETS,
    SecretError,
    ensure_instance,
    pin_local_signer,
    read_secret,
    secure_instance_files,
    write_private_file,
)
from portal.migrate import upgrade
from portal.reports.integrity import unsigned_reports
from portal.sessions import purge_expired_sessions
from portal.triage import screener
from portal.triage.accounts import AccountError, create_reviewer, generate_passphrase, register_recovery_key
from portal.triage.checkpoints import SIGNING_SECRET, Checkpointer, checkpoint_footer, newest_checkpoint, prepare_checkpoint_file
from portal.triage.conflicts import apply_to_existing_reports
from portal.triage.context import Context
from portal.triage.models import RecoveryKey, Reviewer, Role
from portal.triage.oversight import purge_due, send_digests
from portal.triage.subjects import subject_values

DEV_CREDENTIALS = "dev-credentials.txt"
DEV_RECOVERY_KEY = "dev-recovery-key.txt"
INSTANCE_OPTION = "--instance"


def _instance_first(args: list[str]) -> list[str]:
    """`args` with every `--instance DIR` / `--instance=DIR` moved in front of the command
    (before a `--`, which ends the options), so the group reads it wherever it was written."""
    end = args.index("--") if "--" in args else len(args)
    moved: list[str] = []
    rest: list[str] = []
    i = 0
    while i < end:
        arg = args[i]
        if arg == INSTANCE_OPTION:
            if i + 1 >= end:
                raise click.UsageError(f"Option '{INSTANCE_OPTION}' requires an argument.")
            moved.extend(args[i:i + 2])
            i += 2
            continue
        if arg.startswith(INSTANCE_OPTION + "="):
            moved.append(arg)
        else:
            rest.append(arg)
        i += 1
    return moved + rest + args[end:]


class _PortalGroup(click.Group):
    """Takes --instance before or after the command; operators get one clear line for a missing
    or damaged instance secret or a bad setting, never a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _instance_first(args))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (SecretError, SettingsError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_PortalGroup)
@click.option(INSTANCE_OPTION, "instance", default=None, metavar="DIR",
              help="Instance directory (default ./instance or PORTAL_INSTANCE_DIR); may also follow the command.")
@click.version_option(package_name="portal", prog_name="portal", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context, instance: str | None) -> None:
    """Confidential reporting portal."""
    ctx.obj = Instance(instance)


main.add_command(audit)
main.add_command(keys)
main.add_command(bodies)
main.add_command(referral)


# -- init and serving -----------------------------------------------------------------------


@main.command()
@click.option("--app", "app_kind", type=click.Choice(["reporter", "triage"]), default=None,
              help="Create only the secrets this host's application needs (production). Without it: all of them (development).")
@click.option("--dev", is_flag=True, help="Also create development key material and a first reviewer, and print their credentials.")
@pass_instance
def init(instance: Instance, app_kind: str | None, dev: bool) -> None:
    """Create the instance directory: database, secrets (mode 0600), and with --dev a first reviewer."""
    settings = instance.settings
    if dev and app_kind:
        raise click.UsageError("--dev makes a development instance with every secret: use it without --app")
    names = [name for name, kind in SECRETS.items() if app_kind in (None, kind)]
    created = ensure_instance(settings.instance_dir, names)
    if SIGNING_SECRET in names:  # the triage host: the file its service may write (portal-triage.service)
        prepare_checkpoint_file(settings)
    upgrade(settings.database_url)
    with instance_database(settings) as database:
        database.blob_store.prepare()  # the blob directory (0700) when blob_store = "filesystem"
        secure_instance_files(settings.instance_dir)  # the database (0600) and every other file
        if created:
            click.echo(f"Instance initialised in {settings.instance_dir} ({len(created)} new secrets).")
        if app_kind is None and "report_signing_key" in created:  # development: both hosts in one instance
            with database.transaction() as session:
                pin_local_signer(settings.instance_dir, unsigned_reports(session))
        if app_kind == "reporter":
            click.echo(signer_instructions(settings))
        if app_kind != "reporter":  # the triage host publishes its screening key for the reporter host
            click.echo(f"Screening key published: {screener.publish(database, screener.load_secrets(settings))}")
        if dev:
            _init_dev(settings, database)


def _init_dev(settings: Settings, database: Database) -> None:
    credentials_file = settings.instance_dir / DEV_CREDENTIALS
    with database.transaction() as session:
        if not session.scalar(select(func.count()).select_from(RecoveryKey)):
            recovery = RecipientPrivateKey.generate()
            key = register_recovery_key(session, recovery)
            write_private_file(settings.instance_dir / DEV_RECOVERY_KEY, export_recovery_private_key(recovery))
            record_cli_action(session, settings, "recovery-key.registered", fingerprint=key.fingerprint, dev=True)
        if not session.scalar(select(func.count()).select_from(Reviewer)):
            passphrase = generate_passphrase()
            new = create_reviewer(
                session, read_secret(settings.instance_dir, "totp_key"),
                login="lead", display_name="First lead reviewer", role=Role.LEAD, passphrase=passphrase,
                blind_index_key=read_secret(settings.instance_dir, "blind_index_key"),
            )
            record_cli_action(session, settings, "reviewer.created", reviewer=new.reviewer.login, role=new.reviewer.role,
                   intake=new.reviewer.receives_new_reports, dev=True)
            text = f"Reviewer login: {new.reviewer.login}\nPassphrase: {passphrase}\nTOTP secret: {new.totp_secret}\n"
            write_private_file(credentials_file, text)
    click.echo("Development instance: these credentials are for this machine only (kept in "
               f"{credentials_file.name}, mode 0600).")
    click.echo(credentials_file.read_text("utf-8").rstrip("\n"))


class _QuietHandler(WSGIRequestHandler):
    """The development server's request handler: never logs client addresses."""

    def log_request(self, *args, **kwargs) -> None:
        pass

    def log(self, type: str, message: str, *args) -> None:  # noqa: A002
        if type == "error":  # a JSON line like every other (portal/logs.py), without the message
            logging.getLogger("portal.serve_dev").error("request error")


@main.command("serve-dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@pass_instance
def serve_dev(instance: Instance, host: str) -> None:
    """Serve both interfaces on loopback for development (no access log)."""
    settings = instance.settings
    refresh_deadlines(settings)
    overrides = {"instance_dir": str(settings.instance_dir)}
    servers = []
    stop_screening = None
    for kind, port in (("reporter", settings.reporter_port), ("triage", settings.triage_port)):
        app = create_app(kind, overrides)
        servers.append((kind, make_server(host, port, app, threaded=True, request_handler=_QuietHandler)))
        if kind == "triage":  # screens new reports as they arrive, until the servers stop
            stop_screening = screener.start_thread(state.DATABASE.get(app), settings)
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
    finally:
        if stop_screening is not None:
            stop_screening.set()


def gunicorn_command(kind: str, instance: str | None) -> tuple[list[str], dict[str, str]]:
    """The argv and environment `portal serve KIND` replaces itself with."""
    env = dict(os.environ, PORTAL_APP_KIND=kind)
    if instance:
        env["PORTAL_INSTANCE_DIR"] = str(Path(instance).resolve())
    gunicorn = Path(sys.executable).with_name("gunicorn")
    args = [str(gunicorn), "--config", str(CONFIG_DIR / "gunicorn.conf.py"), "--chdir", str(PROJECT_ROOT), f"wsgi:{kind}_app"]
    return args, env


@main.command()
@click.argument("kind", type=click.Choice(["reporter", "triage"]))
@pass_instance
def serve(instance: Instance, kind: str) -> None:
    """Serve one interface with gunicorn (config/gunicorn.conf.py); production hosts run one each."""
    if kind == "triage":
        refresh_deadlines(instance.settings)
    args, env = gunicorn_command(kind, instance.directory)
    os.execve(args[0], args, env)  # noqa: S606 (replace this process with gunicorn)


@main.command()
@click.option("--once", is_flag=True, help="Screen what is waiting now and exit (default: keep screening as reports arrive).")
@click.option("--poll", default=screener.POLL_SECONDS, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds between polls.")
@pass_instance
def screen(instance: Instance, once: bool, poll: float) -> None:
    """Screen new reports (triage host): index who they name, hide them from conflicted reviewers,
    then release their key to the others. Runs as portal-screen.service; needs the screening_key secret."""
    settings = instance.settings
    keys = screener.load_secrets(settings)
    with instance_database(settings) as database:
        click.echo(f"Screening key: {screener.publish(database, keys)}")
        if once:
            run = screener.screen_pending(database, settings, keys, limit=10**9)
            click.echo(f"Screened {run.screened}, quarantined {run.quarantined + run.failed}.")
            return
        stop = threading.Event()
        try:
            screener.run_until(database, settings, keys, stop, poll)
        except KeyboardInterrupt:
            stop.set()


# -- audit log, schema, backups ----------------------------------------------------------------


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@pass_instance
def db_upgrade(instance: Instance) -> None:
    """Apply schema migrations (Alembic) up to the newest; safe to run on every deploy.

    Then recompute stored deadlines with the triage instance's settings (acknowledge_days,
    feedback_days), which is why it needs the triage host's instance directory (--instance or
    PORTAL_INSTANCE_DIR). Without one it leaves the deadlines alone: the defaults are not the
    instance's settings, and `portal serve triage` recomputes them when it starts.
    """
    settings = instance.settings
    upgrade(settings.database_url)
    click.echo("Database schema is up to date.")
    if (settings.instance_dir / "portal.toml").is_file() or (settings.instance_dir / "secrets" / "audit_key").is_file():
        refresh_deadlines(settings)
        click.echo(f"Deadlines recomputed with the settings of {settings.instance_dir}.")
    else:
        click.echo(f"Deadlines NOT recomputed: {settings.instance_dir} is not a triage instance directory (no portal.toml, "
                   "no audit_key). Pass --instance or set PORTAL_INSTANCE_DIR (docs/operations.md, Upgrades); "
                   "`portal serve triage` recomputes them when it starts.", err=True)


@main.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_instance
def backup(instance: Instance, out: Path) -> None:
    """Write one encrypted, integrity-checked archive of the database and of every attachment's content.

    The instance secrets are NOT in it: back them up separately, offline.
    """
    if out.exists():
        raise click.ClickException(f"{out} exists: refusing to overwrite")
    if not out.parent.is_dir():
        raise click.ClickException(f"the directory {out.parent} does not exist: create it for the service user, e.g. "
                                   f"`install -d -o portal -g portal -m 0700 {out.parent}` (docs/operations.md, Backup and restore)")
    settings = instance.settings
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot create {out}: {exc.strerror} (the directory must be writable by the user "
                                   "running the backup; docs/operations.md, Backup and restore)") from exc
    with instance_database(settings) as database:
        try:
            with os.fdopen(fd, "wb") as handle:
                counts = write_backup(database.engine, read_secret(settings.instance_dir, "backup_key"), handle,
                                      database.blob_store)
        except BackupError as exc:
            out.unlink()
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Backup written to {out}: {sum(counts.values())} rows in {len(counts)} tables.")


@main.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--allow-rollback", is_flag=True,
              help="Restore an archive older than the newest audit checkpoint (it brings back revoked access and cuts the log).")
@pass_instance
def restore(instance: Instance, archive: Path, allow_rollback: bool) -> None:
    """Restore an archive into an empty database and blob store (the instance must hold the same secrets).

    Prints the archive's authenticated header first, and refuses an archive older than the newest
    audit checkpoint unless --allow-rollback is given.
    """
    settings = instance.settings
    backup_key = read_secret(settings.instance_dir, "backup_key")
    try:
        with archive.open("rb") as handle:
            click.echo(read_header(backup_key, handle)[0].describe())
        newest = None if allow_rollback else newest_checkpoint(settings)
    except (BackupError, SecretError) as exc:
        raise click.ClickException(str(exc)) from exc
    if newest is None and not allow_rollback:
        click.echo("No audit checkpoint on this instance: nothing to compare the archive's age with.")
    upgrade(settings.database_url)
    with instance_database(settings) as database:
        try:
            with archive.open("rb") as handle:
                counts = restore_backup(database.engine, backup_key, handle, database.blob_store, not_older_than=newest)
        except RollbackRefused as exc:
            raise click.ClickException(f"{exc}. Nothing was restored. If this is deliberate, run again with "
                                       "--allow-rollback (docs/operations.md, Backup and restore).") from exc
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        if (settings.instance_dir / "secrets" / SIGNING_SECRET).is_file():
            marker = Checkpointer.from_settings(settings).checkpoint_now(database.session, kind="restore")
            click.echo(f"Signed restore line written to the checkpoint file: entry {marker.seq}.")
    secure_instance_files(settings.instance_dir)
    click.echo(f"Restored {sum(counts.values())} rows. Run `portal audit verify` next.")


# -- oversight ------------------------------------------------------------------------------------


@main.command()
@pass_instance
def digest(instance: Instance) -> None:
    """Send each reviewer a content-free summary (counts only); prints it when SMTP is not configured."""
    settings = instance.settings
    refresh_deadlines(settings)
    with instance_database(settings) as database:
        footer = None
        if (settings.instance_dir / "secrets" / SIGNING_SECRET).is_file():
            footer = checkpoint_footer(Checkpointer.from_settings(settings).checkpoint_now(database.session))
        sent = send_digests(database.session, settings, click.echo, footer)
    if settings.smtp_host:
        click.echo(f"Digest sent to {sent} reviewers.")


@main.group()
def retention() -> None:
    """Deleting closed reports after the retention period."""


@retention.command("run")
@pass_instance
def retention_run(instance: Instance) -> None:
    """Purge closed reports older than `retention_days` (safe to run from cron)."""
    settings = instance.settings
    with instance_database(settings) as database, database.transaction() as session:
        purged = purge_due(session, settings, read_secret(settings.instance_dir, "audit_key"))
        drafts = purge_abandoned_drafts(session)
        sessions = purge_expired_sessions(session)
    click.echo(f"Purged {len(purged)} report(s){': ' + ', '.join(purged) if purged else ''}; "
               f"{drafts} abandoned or orphaned attachment file(s); {sessions} expired session(s).")


# -- reviewers ------------------------------------------------------------------------------------


@main.group()
def reviewer() -> None:
    """Reviewer accounts."""


@reviewer.command("add")
@click.argument("login")
@click.option("--name", "display_name", required=True)
@click.option("--role", type=click.Choice(["reviewer", "lead", "administrator"]), default="reviewer", show_default=True)
@pass_instance
def reviewer_add(instance: Instance, login: str, display_name: str, role: str) -> None:
    """Create a reviewer; asks for the passphrase and prints the TOTP secret once."""
    settings = instance.settings
    passphrase = click.prompt("Passphrase", hide_input=True, confirmation_prompt=True)
    with instance_database(settings) as database:
        try:
            with database.transaction() as session:
                new = create_reviewer(session, read_secret(settings.instance_dir, "totp_key"), login=login,
                                      display_name=display_name, role=Role(role), passphrase=passphrase,
                                      blind_index_key=read_secret(settings.instance_dir, "blind_index_key"),
                                      must_change_passphrase=True)
                record_cli_action(session, settings, "reviewer.created", reviewer=new.reviewer.login, role=new.reviewer.role,
                       intake=new.reviewer.receives_new_reports)
                # Reports already stored that name the new reviewer go to leads only (as from the admin page).
                blind = read_secret(settings.instance_dir, "blind_index_key")
                context = Context(session, settings, read_secret(settings.instance_dir, "audit_key"), blind)
                apply_to_existing_reports(context, subject_values(blind, new.reviewer.display_name, ""))
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Reviewer login: {new.reviewer.login}")
    click.echo(f"TOTP secret: {new.totp_secret}")
    click.echo("At first sign-in they enrol the TOTP secret and choose their own passphrase (with a new key pair).")
    click.echo("New reviewers read existing reports only after a lead grants access.")


if __name__ == "__main__":  # pragma: no cover
    main()
