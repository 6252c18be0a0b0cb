"""`portal bodies`: the receiving bodies of config/bodies.toml and their keys.

`keygen` runs on the body's own machine with no instance and writes both halves; `add` registers
only the public half on the triage host, after the body confirmed its fingerprint (audited)."""

from __future__ import annotations

from pathlib import Path

import click

from portal.cli_instance import CLI_ACTOR, Instance, instance_database, pass_instance, record_cli_action
from portal.cli_keyfiles import (
    Protection,
    confirm_fingerprint,
    key_file_paths,
    protection_options,
    read_public_key_file,
    share_paths,
    write_key_pair,
)
from portal.crypto.keyfile import format_fingerprint
from portal.referrals.bodies import BodiesError, body_key, load_bodies, register_body_key


@click.group()
def bodies() -> None:
    """Receiving bodies (config/bodies.toml) and their public keys."""


@bodies.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for NAME.key (private, 0600) and NAME.pub (public, to send to the portal).")
@click.option("--name", default="body-key", show_default=True, help="File name for the two halves.")
@protection_options
def keygen(out: Path, name: str, protection: Protection) -> None:
    """Generate a key pair HERE, on the body's own machine (no portal instance needed)."""
    public = write_key_pair(out, name, protection)
    private_path, public_path = key_file_paths(out, name)
    click.echo(f"Private key: {private_path} ({protection.describe()}). "
               "Keep it here; it opens every bundle sent to you.")
    for share in share_paths(out, name, protection.split[1] if protection.split else 0):
        click.echo(f"Share for one holder: {share}")
    click.echo(f"Public key:  {public_path}. Send it to the portal's operator.")
    click.echo(f"Fingerprint: {format_fingerprint(public.fingerprint)}")
    click.echo("Read this fingerprint to the operator when they register your key (portal bodies add).")


@bodies.command()
@click.argument("slug")
@click.argument("public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fingerprint", default=None, help="The fingerprint the body read out (else you are asked to confirm).")
@click.option("--replace", is_flag=True, help="Replace the body's active key (every later referral and routed report is "
              "sealed to the new one): only after confirming the new fingerprint with the body by another channel.")
@pass_instance
def add(instance: Instance, slug: str, public_key_file: Path, fingerprint: str | None, replace: bool) -> None:
    """Register a body's PUBLIC key (from its keygen) after confirming its fingerprint with the body.

    Replacing a body's active key needs --replace and is audited with both fingerprints: a key
    swapped in by someone on this host would receive every later referral (an attacker review
    replaced the independent body's key with a bare "y")."""
    settings = instance.settings
    try:
        configured = load_bodies(settings)
    except BodiesError as exc:
        raise click.ClickException(str(exc)) from exc
    if slug not in configured:
        raise click.ClickException(f"no body {slug!r} in the bodies file (known: {', '.join(configured) or 'none'})")
    public = read_public_key_file(public_key_file)
    with instance_database(settings) as database, database.transaction() as session:
        current = body_key(session, slug)
    if current is not None and current.fingerprint != public.fingerprint and not replace:
        raise click.ClickException(
            f"{slug} already has an active key ({format_fingerprint(current.fingerprint)}). Replacing it sends every later "
            "referral and routed report to the new key: confirm the new fingerprint with the body by another channel, "
            "then run this again with --replace.")
    click.echo(f"Body: {configured[slug].name} ({slug})")
    if current is not None and replace:
        click.echo(f"Replacing the active key {format_fingerprint(current.fingerprint)}.")
    confirm_fingerprint(public, fingerprint, "the body")
    with instance_database(settings) as database:
        try:
            with database.transaction() as session:
                key = register_body_key(session, slug, public, CLI_ACTOR)
                if current is None:
                    record_cli_action(session, settings, "body-key.registered", body=slug, fingerprint=key.fingerprint)
                else:
                    record_cli_action(session, settings, "body-key.registered", body=slug, fingerprint=key.fingerprint,
                                      replaced=current.fingerprint)
        except BodiesError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Registered key {format_fingerprint(key.fingerprint)} for {slug}; referrals to it are sealed to this key.")


@bodies.command("list")
@pass_instance
def list_bodies(instance: Instance) -> None:
    """Each body: routes, whether it is the independent one, and its registered key."""
    settings = instance.settings
    try:
        configured = load_bodies(settings)
    except BodiesError as exc:
        raise click.ClickException(str(exc)) from exc
    with instance_database(settings) as database, database.transaction() as session:
        keys = {slug: body_key(session, slug) for slug in configured}
    for slug, body in configured.items():
        key = keys[slug]
        click.echo(f"{slug}: {body.name}{' [independent]' if body.independent else ''}")
        click.echo(f"  routes: {', '.join(body.routes)}")
        click.echo(f"  contact: {body.contact}")
        click.echo(f"  key: {format_fingerprint(key.fingerprint) if key else 'none registered (portal bodies add)'}")
