"""`portal audit`: check the audit log's hash chain against its signed checkpoints, and sign one now."""

from __future__ import annotations

import sys

import click

from portal.cli_instance import Instance, instance_database, pass_instance
from portal.crypto.checkpoint import fingerprint, public_key_text
from portal.instance import read_secret
from portal.triage.checkpoints import Checkpointer
from portal.triage.checkpoints import verify as verify_audit


@click.group()
def audit() -> None:
    """The reviewer audit log."""


@audit.command("verify")
@click.option("--expect", default=None, metavar="SEQ:HASH", help="A head recorded outside the portal (from `verify` or a digest e-mail).")
@pass_instance
def audit_verify(instance: Instance, expect: str | None) -> None:
    """Check the hash chain and the signed checkpoints: exits 1 if an entry was edited, deleted, reordered,
    or cut from the end, or the database was rolled back. Prints the head to record elsewhere."""
    settings = instance.settings
    external = _parse_head(expect) if expect else None
    checkpointer = Checkpointer.from_settings(settings)
    with instance_database(settings) as database:
        result = verify_audit(database.session, read_secret(settings.instance_dir, "audit_key"), checkpointer.file, external)
    for restore_line in result.restores:
        click.echo(f"Restored from a backup at {restore_line.at} to entry {restore_line.seq} (signed restore line).")
    if not result.ok:
        click.echo(f"Audit log BROKEN after {result.entries} entries: {result.problem}", err=True)
        click.echo("Do not write to the portal until this is explained: docs/operations.md, Audit checkpoints.", err=True)
        sys.exit(1)
    latest = result.latest
    click.echo(f"Audit log intact: {result.entries} entries.")
    if latest is not None:
        click.echo(f"Latest checkpoint: entry {latest.seq}, signed {latest.at}.")
    click.echo(f"Head: {result.head_seq}:{result.head_hash.hex()}")
    click.echo(f"Signing key: {fingerprint(checkpointer.file.public)} ({public_key_text(checkpointer.file.public)})")


def _parse_head(text: str) -> tuple[int, bytes]:
    seq, _, digest_hex = text.strip().partition(":")
    try:
        head = (int(seq), bytes.fromhex(digest_hex))
    except ValueError:
        head = (-1, b"")
    if head[0] < 1 or len(head[1]) != 32:
        raise click.BadParameter("expected SEQ:HASH as `portal audit verify` prints it", param_hint="--expect")
    return head


@audit.command("checkpoint")
@pass_instance
def audit_checkpoint(instance: Instance) -> None:
    """Sign and append a checkpoint of the current head now (cron, before a backup, after an upgrade)."""
    settings = instance.settings
    with instance_database(settings) as database:
        line = Checkpointer.from_settings(settings).checkpoint_now(database.session)
    click.echo(line.to_line())
