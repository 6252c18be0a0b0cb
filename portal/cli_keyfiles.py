"""What `portal bodies`, `portal keys` and `portal referral` share about key files: generating a
pair offline, the passphrase that may protect the private half, and reading it back.

Nothing here needs an instance: a receiving body or the recovery-key holders run it on their
own machine, and only the public half ever travels to the portal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click

from portal.crypto import CryptoError
from portal.crypto.keyfile import (
    PassphraseRequired,
    export_private_key,
    export_public_key,
    format_fingerprint,
    import_private_key,
    import_public_key,
    private_key_needs_passphrase,
    same_fingerprint,
)
from portal.crypto.keys import RecipientPrivateKey, RecipientPublicKey
from portal.instance import write_private_file

MIN_PASSPHRASE_CHARS = 12
MAX_PASSPHRASE_CHARS = 1024
MAX_KEY_FILE_BYTES = 8192


def passphrase_options(command: Callable) -> Callable:
    """--passphrase-file / --prompt / --no-passphrase: how a new private key file is protected."""
    @click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Protect the private key with the passphrase on the first line of this file.")
    @click.option("--prompt", "prompt", is_flag=True, help="Protect the private key with a passphrase typed twice.")
    @click.option("--no-passphrase", is_flag=True, help="Write the private key unprotected (keep it on encrypted media).")
    @functools.wraps(command)
    def wrapper(*args, passphrase_file: Path | None, prompt: bool, no_passphrase: bool, **kwargs):
        if sum((passphrase_file is not None, prompt, no_passphrase)) != 1:
            raise click.UsageError("choose exactly one of --passphrase-file, --prompt or --no-passphrase")
        passphrase = None if no_passphrase else new_passphrase(passphrase_file)
        return command(*args, passphrase=passphrase, **kwargs)
    return wrapper


def _first_line(path: Path) -> str:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read the passphrase file {path}: {exc}") from exc
    return text.splitlines()[0] if text else ""


def new_passphrase(passphrase_file: Path | None) -> str:
    passphrase = _first_line(passphrase_file) if passphrase_file else click.prompt(
        "Passphrase for the private key", hide_input=True, confirmation_prompt=True)
    if not MIN_PASSPHRASE_CHARS <= len(passphrase) <= MAX_PASSPHRASE_CHARS:
        raise click.ClickException(f"the passphrase must have {MIN_PASSPHRASE_CHARS} to {MAX_PASSPHRASE_CHARS} characters")
    return passphrase


def key_file_paths(out: Path, name: str) -> tuple[Path, Path]:
    return out / f"{name}.key", out / f"{name}.pub"


def write_key_pair(out: Path, name: str, passphrase: str | None) -> RecipientPublicKey:
    """Generate a pair in this process and write NAME.key (0600) and NAME.pub into `out`."""
    private_path, public_path = key_file_paths(out, name)
    for path in (private_path, public_path):
        if path.exists():
            raise click.ClickException(f"{path} exists: refusing to overwrite a key file")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = RecipientPrivateKey.generate()
    public = private.public_key()
    write_private_file(private_path, export_private_key(private, passphrase))
    public_path.write_text(export_public_key(public), "utf-8")
    return public


def _read_key_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise click.ClickException(f"{path} is too large to be a key file")
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc


def read_public_key_file(path: Path) -> RecipientPublicKey:
    try:
        return import_public_key(_read_key_text(path))
    except CryptoError as exc:
        raise click.ClickException(f"{path} is not a usable public key file: {exc}") from exc


def read_private_key_file(path: Path, passphrase_file: Path | None = None) -> RecipientPrivateKey:
    """The private key in `path`, asking for its passphrase (or reading --passphrase-file) if it has one."""
    text = _read_key_text(path)
    passphrase = None
    if private_key_needs_passphrase(text):
        passphrase = _first_line(passphrase_file) if passphrase_file else click.prompt(
            f"Passphrase for {path.name}", hide_input=True)
    try:
        return import_private_key(text, passphrase)
    except PassphraseRequired as exc:  # pragma: no cover - the prompt above always gives one
        raise click.ClickException(str(exc)) from exc
    except CryptoError as exc:
        raise click.ClickException(f"cannot open the key file {path}: wrong passphrase or damaged file ({exc})") from exc


def confirm_fingerprint(public: RecipientPublicKey, expected: str | None, holder: str) -> None:
    """Show the key's fingerprint; go on only when it equals --fingerprint or the operator confirms
    that `holder` read out the same one (over the telephone, in person: not in the same e-mail)."""
    click.echo(f"Fingerprint: {format_fingerprint(public.fingerprint)}")
    if expected is not None:
        if not same_fingerprint(public.fingerprint, expected):
            raise click.ClickException("the key's fingerprint is not the one given with --fingerprint: nothing registered")
        return
    if not click.confirm(f"Has {holder} confirmed this exact fingerprint, read from their own machine?", default=False):
        raise click.ClickException("not confirmed: nothing registered")
