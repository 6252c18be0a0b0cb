"""`portal referral open`: what a receiving body runs on its own machine, with no portal instance,
to verify a case bundle with its private key file and write out what it holds."""

from __future__ import annotations

from pathlib import Path

import click

from portal.cli_keyfiles import key_input_options, read_private_key_file
from portal.crypto import CryptoError
from portal.referrals.opening import OpenError, open_bundle_file


@click.group()
def referral() -> None:
    """Case bundles received from the portal."""


@referral.command("open")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your private key file (from `portal bodies keygen`); its passphrase is asked for if it has one.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A new directory for the contents (default: BUNDLE's name without its extension, here).")
@key_input_options
def open_command(bundle: Path, key_file: Path, out: Path | None, passphrase_file: Path | None, share_files: tuple[Path, ...]) -> None:
    """Verify BUNDLE (every chunk and every manifest hash) and write its contents to a new directory."""
    private = read_private_key_file(key_file, passphrase_file, share_files)
    destination = out or Path(bundle.stem + "-opened")
    try:
        summary = open_bundle_file(bundle, private, destination)
    except CryptoError as exc:
        raise click.ClickException(f"the bundle did not open: {exc}. Nothing was written. "
                                   "Check that you used your own key file and ask the sender for a fresh copy.") from exc
    except (OpenError, OSError) as exc:
        raise click.ClickException(f"nothing was written: {exc}") from exc
    details = summary.details
    click.echo(f"Verified {summary.kind} bundle for report {details.get('reference', '?')} "
               f"(made on {details.get('created_on', '?')}).")
    click.echo(f"Bundle SHA-256: {summary.sha256} (compare it with the one the sender gave you).")
    click.echo(f"Written to {destination}:")
    for name in summary.files:
        click.echo(f"  {name}")
