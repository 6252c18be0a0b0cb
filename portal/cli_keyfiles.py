"""What `portal bodies`, `portal keys` and `portal referral` share about key files: generating a
pair offline, the passphrase that may protect the private half, and reading it back.

Nothing here needs an instance: a receiving body or the recovery-key holders run it on their
own machine, and only the public half ever travels to the portal.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from portal.crypto import CryptoError
from portal.crypto.keyfile import (
    PassphraseRequired,
    SharesRequired,
    export_private_key,
    export_public_key,
    export_split_private_key,
    format_fingerprint,
    import_private_key,
    import_public_key,
    private_key_needs_passphrase,
    same_fingerprint,
)
from portal.crypto.keys import RecipientPrivateKey, RecipientPublicKey
from portal.crypto.split import MAX_SHARES
from portal.instance import write_private_file

MIN_PASSPHRASE_CHARS = 12
MAX_PASSPHRASE_CHARS = 1024
MAX_KEY_FILE_BYTES = 8192
KEY_FILE_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SPLIT = re.compile(r"(\d{1,2})-of-(\d{1,2})")


@dataclass(frozen=True)
class Protection:
    """How keygen protects a new private key file: a passphrase, a K-of-N split, or neither."""

    passphrase: str | None = field(default=None, repr=False)
    split: tuple[int, int] | None = None

    def describe(self) -> str:
        if self.split:
            return f"split between holders: any {self.split[0]} of the {self.split[1]} share files open it"
        return "passphrase-protected" if self.passphrase else "NOT protected by a passphrase"


def _parse_split(value: str) -> tuple[int, int]:
    match = SPLIT.fullmatch(value.strip())
    threshold, count = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not 2 <= threshold <= count <= MAX_SHARES:
        raise click.UsageError(f"--split: K-of-N with 2 <= K <= N <= {MAX_SHARES}, for example 2-of-3")
    return threshold, count


def protection_options(command: Callable) -> Callable:
    """--prompt / --passphrase-file / --split K-of-N / --no-passphrase: how a new private key file is protected."""
    @click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Protect the private key with the passphrase on the first line of this file.")
    @click.option("--prompt", "prompt", is_flag=True, help="Protect the private key with a passphrase typed twice.")
    @click.option("--split", "split", default=None, metavar="K-of-N",
                  help="Split the key that opens the private key file into N share files, any K of which open it.")
    @click.option("--no-passphrase", is_flag=True, help="Write the private key unprotected (keep it on encrypted media).")
    @functools.wraps(command)
    def wrapper(*args, passphrase_file: Path | None, prompt: bool, split: str | None, no_passphrase: bool, **kwargs):
        if sum((passphrase_file is not None, prompt, split is not None, no_passphrase)) != 1:
            raise click.UsageError("choose exactly one of --prompt, --passphrase-file, --split or --no-passphrase")
        if split is not None:
            protection = Protection(split=_parse_split(split))
        else:
            protection = Protection(passphrase=None if no_passphrase else new_passphrase(passphrase_file))
        return command(*args, protection=protection, **kwargs)
    return wrapper


def key_input_options(command: Callable) -> Callable:
    """--passphrase-file / --share: what opens an existing private key file (a passphrase is asked for when missing)."""
    command = click.option("--share", "share_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
                           help="A share file of a key split between holders (give K of them).")(command)
    return click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                        help="Read the key file's passphrase from the first line of this file instead of asking.")(command)


def _first_line(path: Path) -> str:
    """The passphrase on the first line of `path` (read no further than the longest passphrase allowed)."""
    try:
        with path.open(encoding="utf-8", newline="") as source:
            line = source.readline(MAX_PASSPHRASE_CHARS + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read the passphrase file {path}: {exc}") from exc
    return line.rstrip("\r\n")


def new_passphrase(passphrase_file: Path | None) -> str:
    passphrase = _first_line(passphrase_file) if passphrase_file else click.prompt(
        "Passphrase for the private key", hide_input=True, confirmation_prompt=True)
    if not MIN_PASSPHRASE_CHARS <= len(passphrase) <= MAX_PASSPHRASE_CHARS:
        raise click.ClickException(f"the passphrase must have {MIN_PASSPHRASE_CHARS} to {MAX_PASSPHRASE_CHARS} characters")
    return passphrase


def key_file_paths(out: Path, name: str) -> tuple[Path, Path]:
    return out / f"{name}.key", out / f"{name}.pub"


def share_paths(out: Path, name: str, count: int) -> list[Path]:
    return [out / f"{name}.share-{x}" for x in range(1, count + 1)]


def write_key_pair(out: Path, name: str, protection: Protection) -> RecipientPublicKey:
    """Generate a pair in this process and write NAME.key (0600), NAME.pub and, for a split, the
    share files NAME.share-1 .. NAME.share-N (0600) into `out`."""
    if len(name) > 64 or not KEY_FILE_NAME.fullmatch(name):
        raise click.UsageError("--name: lower-case letters, digits and hyphens")
    private_path, public_path = key_file_paths(out, name)
    shares = share_paths(out, name, protection.split[1]) if protection.split else []
    for path in (private_path, public_path, *shares):
        if path.exists():
            raise click.ClickException(f"{path} exists: refusing to overwrite a key file")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = RecipientPrivateKey.generate()
    public = private.public_key()
    if protection.split:
        text, share_texts = export_split_private_key(private, *protection.split)
        for path, share in zip(shares, share_texts, strict=True):
            write_private_file(path, share)
    else:
        text = export_private_key(private, protection.passphrase)
    write_private_file(private_path, text)
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


def read_private_key_file(path: Path, passphrase_file: Path | None = None, share_files: tuple[Path, ...] = ()) -> RecipientPrivateKey:
    """The private key in `path`, asking for its passphrase (or reading --passphrase-file) if it has
    one; a split file opens with K of its share files (--share)."""
    text = _read_key_text(path)
    passphrase = None
    if private_key_needs_passphrase(text):
        passphrase = _first_line(passphrase_file) if passphrase_file else click.prompt(
            f"Passphrase for {path.name}", hide_input=True)
    shares = [_read_key_text(share) for share in share_files]
    try:
        return import_private_key(text, passphrase, shares)
    except (PassphraseRequired, SharesRequired) as exc:
        raise click.ClickException(f"{exc} (--share FILE for each)" if isinstance(exc, SharesRequired) else str(exc)) from exc
    except CryptoError as exc:
        raise click.ClickException(f"cannot open the key file {path}: wrong passphrase or share, or a damaged file ({exc})") from exc


def confirm_fingerprint(public: RecipientPublicKey, expected: str | None, holder: str) -> None:
    """Show the key's fingerprint; go on only when it equals --fingerprint or the operator confirms
    that `holder` read out the same one (over the telephone, in person: not in the same e-mail)."""
    click.echo(f"Fingerprint: {format_fingerprint(public.fingerprint)}")
    if expected is not None:
        if not same_fingerprint(public.fingerprint, expected):
            raise click.ClickException("the key's fingerprint is not the one given with --fingerprint: nothing registered")
        return
    if not click.confirm(f"Did {holder} confirm this exact fingerprint, read from their own machine?", default=False):
        raise click.ClickException("not confirmed: nothing registered")
