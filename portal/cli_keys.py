"""`portal keys`: the organisation recovery key (offline keygen, the ceremony that registers its
public half, break-glass recovery of one report) and the upgrade that gives every report its
internal key. Each command on an instance writes an audit entry on the triage host; keygen runs
on an offline machine with no instance, so the private half never exists on a server."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from portal.cli_instance import Instance, instance_database, pass_instance, record_cli_action
from portal.cli_keyfiles import (
    Protection,
    confirm_fingerprint,
    key_file_paths,
    key_input_options,
    protection_options,
    read_private_key_file,
    read_public_key_file,
    share_paths,
    write_key_pair,
)
from portal.crypto import CryptoError
from portal.crypto.keyfile import format_fingerprint
from portal.instance import read_secret
from portal.reports.recovery import recover_report
from portal.triage.accounts import register_recovery_key
from portal.triage.internal import upgrade_with_recovery_key
from portal.triage.models import RecoveryKey


@click.group()
def keys() -> None:
    """Organisation recovery key."""


@keys.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Removable medium for NAME.key (private, 0600) and NAME.pub (public, for the ceremony).")
@click.option("--name", default="portal-recovery", show_default=True, help="File name for the two halves.")
@protection_options
def keygen(out: Path, name: str, protection: Protection) -> None:
    """Generate the recovery key pair HERE, on an offline machine (no portal instance needed)."""
    public = write_key_pair(out, name, protection)
    private_path, public_path = key_file_paths(out, name)
    click.echo(f"Private recovery key: {private_path} ({protection.describe()}).")
    for share in share_paths(out, name, protection.split[1] if protection.split else 0):
        click.echo(f"Share for one holder: {share}")
    click.echo(f"Public half: {public_path}: only this file goes to the triage host (portal keys ceremony).")
    click.echo(f"Fingerprint: {format_fingerprint(public.fingerprint)}")


@keys.command()
@click.argument("public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fingerprint", default=None, help="The fingerprint keygen printed on the offline machine (else you are asked to confirm).")
@pass_instance
def ceremony(instance: Instance, public_key_file: Path, fingerprint: str | None) -> None:
    """Register the recovery key's PUBLIC half (from `portal keys keygen`) after confirming its fingerprint."""
    settings = instance.settings
    read_secret(settings.instance_dir, "audit_key")  # only on the triage host: fail before registering anything
    public = read_public_key_file(public_key_file)
    confirm_fingerprint(public, fingerprint, "the key holders")
    with instance_database(settings) as database, database.transaction() as session:
        if session.scalar(select(RecoveryKey.id).where(RecoveryKey.fingerprint == public.fingerprint)) is not None:
            raise click.ClickException(f"recovery key {public.fingerprint} is already registered")
        key = register_recovery_key(session, public)
        record_cli_action(session, settings, "recovery-key.registered", fingerprint=key.fingerprint)
    click.echo(f"Recovery key {key.fingerprint} registered. New reports are wrapped to it from now on.")
    click.echo("The private half stays offline (two copies, two safes). See docs/operations.md, Key ceremony.")


@keys.command()
@click.option("--key-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@key_input_options
@click.argument("reference")
@pass_instance
def recover(instance: Instance, key_file: Path, passphrase_file: Path | None, share_files: tuple[Path, ...], reference: str) -> None:
    """Decrypt one report (by reference) with the offline recovery key and print it."""
    settings = instance.settings
    # On the live triage host the recovery is recorded in the audit log. Offline (an archive
    # restored with only backup_key, docs/operations.md "Break-glass recovery") there is no
    # audit_key and no log worth writing to: say so, and the lead records it on the live host.
    audited = (settings.instance_dir / "secrets" / "audit_key").is_file()
    with instance_database(settings) as database:
        try:
            private = read_private_key_file(key_file, passphrase_file, share_files)
            with database.transaction() as session:
                text = recover_report(session, private, reference)
                if audited:
                    record_cli_action(session, settings, "report.recovered", reference.strip().upper(),
                           fingerprint=private.public_key().fingerprint)
        except (CryptoError, LookupError, ValueError) as exc:
            raise click.ClickException(f"recovery failed: {exc}") from exc
    click.echo(text)
    if audited:
        click.echo("Recorded in the audit log as report.recovered.", err=True)
    else:
        click.echo("No audit entry written (no audit_key in this instance: an offline recovery). Record it on the live "
                   "triage host as docs/operations.md, Break-glass recovery, says.", err=True)


@keys.command("upgrade-internal")
@click.option("--key-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@key_input_options
@pass_instance
def upgrade_internal(instance: Instance, key_file: Path, passphrase_file: Path | None, share_files: tuple[Path, ...]) -> None:
    """Give every report its internal key, moving older notes and labels under it (recovery key)."""
    settings = instance.settings
    with instance_database(settings) as database:
        try:
            private = read_private_key_file(key_file, passphrase_file, share_files)
            with database.transaction() as session:
                done = upgrade_with_recovery_key(session, private)
                record_cli_action(session, settings, "internal-keys.upgraded", fingerprint=private.public_key().fingerprint, reports=done)
        except (CryptoError, ValueError) as exc:
            raise click.ClickException(f"upgrade failed: {exc}") from exc
    click.echo(f"{done} report(s) given an internal key; notes and reviewer labels are no longer under the reporter's key.")
