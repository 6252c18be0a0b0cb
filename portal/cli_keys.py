"""`portal keys`: the organisation recovery key (offline keygen, the ceremony that registers its
public half, break-glass recovery of one report) and the upgrade that gives every report its
internal key. Each command on an instance writes an audit entry on the triage host; keygen runs
on an offline machine with no instance, so the private half never exists on a server."""

from __future__ import annotations

import base64
import binascii
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
from portal.crypto.integrity import signer_fingerprint, signer_public_key, triage_binding_key
from portal.crypto.keyfile import format_fingerprint
from portal.instance import SIGNER_PIN, SignerPin, read_secret, read_signer_pin, write_signer_pin
from portal.reports.integrity import Checker, ReportAltered, unsigned_reports
from portal.reports.recovery import recover_report
from portal.triage.accounts import register_recovery_key
from portal.triage.integrity import describe
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
                try:
                    text = recover_report(session, private, reference, checker(settings, audited))
                except ReportAltered as altered:
                    _report_altered(session, settings, audited, altered)
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


def checker(settings, audited: bool) -> Checker:  # noqa: ANN001
    """The integrity check of a recovery: the pinned reporter key, and the triage binding key on the live host."""
    binding = triage_binding_key(read_secret(settings.instance_dir, "audit_key")) if audited else None
    pin = read_signer_pin(settings.instance_dir)
    if pin is None and not audited:  # offline, without the pin file: the commitment is checked, signatures are not
        click.echo("Warning: no report-signer.pin in this instance: the report's key commitment is checked, its "
                   "signatures are NOT (copy the triage host's report-signer.pin beside the archive).", err=True)
    return Checker(pin, binding, pin_required=audited)


def _report_altered(session, settings, audited: bool, altered: ReportAltered) -> None:  # noqa: ANN001
    """Print what failed (never the content), audit it on the live host, and stop."""
    problems = altered.verdict.problems
    if audited:
        record_cli_action(session, settings, "report.altered", altered.reference, via="recovery",
                          failed=sorted({p.code for p in problems}))
        session.commit()
    lines = "\n".join(f"  - {describe(p)}" for p in problems)
    raise click.ClickException(f"recovery failed: report {altered.reference} was altered after it was received. "
                               f"Nothing of it is printed. What failed:\n{lines}")


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


def signer_instructions(settings) -> str:  # noqa: ANN001
    """What `portal init --app reporter` prints: the public half of its signing key, to pin on the triage host."""
    public = signer_public_key(read_secret(settings.instance_dir, "report_signing_key"))
    return (f"Report signing key {signer_fingerprint(public)}. On the triage host run:\n"
            f"  portal keys pin-report-signer {base64.b64encode(public).decode('ascii')}\n"
            "(docs/operations.md, Pinning the reporter host's signing key)")


@keys.command("pin-report-signer")
@click.argument("public_key")
@click.option("--replace", is_flag=True, help="Replace a key pinned before (a new reporter host key).")
@pass_instance
def pin_report_signer(instance: Instance, public_key: str, replace: bool) -> None:
    """Triage host: pin the reporter host's report signing key (printed by `portal init --app reporter`).
    Reports stored without a signature now are listed as received before signatures; any other report
    must verify against this key, or it is shown as altered."""
    settings = instance.settings
    read_secret(settings.instance_dir, "audit_key")  # only on the triage host
    try:
        public = base64.b64decode(public_key.strip(), validate=True)
    except (binascii.Error, ValueError):
        public = b""
    if len(public) != 32:
        raise click.ClickException("that is not a signing key: paste the base64 line `portal init --app reporter` printed")
    path = settings.instance_dir / SIGNER_PIN
    if path.exists() and not replace:
        raise click.ClickException(f"{path} exists: pass --replace to pin another key (docs/operations.md)")
    with instance_database(settings) as database, database.transaction() as session:
        legacy = unsigned_reports(session)
        write_signer_pin(settings.instance_dir, SignerPin(public, legacy), replace=replace)
        record_cli_action(session, settings, "report-signer.pinned", fingerprint=signer_fingerprint(public),
                          before_signatures=len(legacy))
    click.echo(f"Pinned report signing key {signer_fingerprint(public)}; {len(legacy)} report(s) listed as received "
               "before signatures.")
