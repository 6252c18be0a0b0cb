"""The instance directory: database (SQLite by default), blobs and secret files.

Secrets are separate files (mode 0600 in a 0700 directory) so each host can be
given only its own: the reporter host needs the receipt pepper and its own
session key; the triage host needs its session key, the TOTP key and the blind
index key. No secret is ever stored in the database.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from portal.crypto.integrity import signer_public_key

# name -> which application needs it
SECRETS: dict[str, str] = {
    "receipt_pepper": "reporter",  # HMAC key turning a receipt secret into a lookup id
    "receipt_salt": "reporter",  # install-wide Argon2id salt for receipt codes (also published to browsers)
    "reporter_secret_key": "reporter",  # form tokens, draft tokens
    "report_signing_key": "reporter",  # Ed25519 seed signing every report and message the reporter host accepts
    "triage_secret_key": "triage",  # reviewer cookie signing, CSRF
    "totp_key": "triage",  # seals reviewers' TOTP secrets
    "blind_index_key": "triage",  # keyed blind index of subject identifiers
    "audit_key": "triage",  # keys the audit log's hash chain
    "audit_signing_key": "triage",  # Ed25519 seed signing the audit chain's checkpoints
    "backup_key": "triage",  # encrypts `portal backup` archives
    "screening_key": "triage",  # reads the subject list of new reports (names, numbers; no content)
}

SECRET_LEN = 32


class SecretError(RuntimeError):
    """An instance secret is missing or damaged (the `portal` command reports it without a traceback)."""


def secrets_dir(instance_dir: Path) -> Path:
    return instance_dir / "secrets"


def blobs_dir(instance_dir: Path) -> Path:
    return instance_dir / "blobs"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_instance(instance_dir: Path, names: list[str] | None = None) -> list[str]:
    """Create the directory layout and any missing secret among `names` (default: all of them);
    returns the names created. A production host passes only its own application's secrets
    (`portal init --app reporter|triage`), so the other host's are never created there."""
    instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(instance_dir, 0o700)
    for sub in (secrets_dir(instance_dir), blobs_dir(instance_dir)):
        sub.mkdir(mode=0o700, exist_ok=True)
        os.chmod(sub, 0o700)
    created = []
    for name in SECRETS if names is None else names:
        path = secrets_dir(instance_dir) / name
        if not path.exists():
            _write_private(path, secrets.token_bytes(SECRET_LEN))
            created.append(name)
    return created


SQLITE_FILES = ("portal.sqlite3", "portal.sqlite3-wal", "portal.sqlite3-shm", "portal.sqlite3-journal")
SIGNER_PIN = "report-signer.pin"  # the triage host's pinned copy of the reporter host's public signing key
PRIVATE_FILES = ("audit-checkpoints.jsonl", "dev-credentials.txt", "dev-recovery-key.txt", SIGNER_PIN)


def secure_instance_files(instance_dir: Path) -> None:
    """Give the instance's files the modes `portal init` gives them: 0700 directories, 0600 files
    (secrets, the SQLite database and its journal files, the checkpoint file, development credentials).
    `portal restore` runs it last, since SQLite creates its files with the process's umask."""
    for directory in (instance_dir, secrets_dir(instance_dir), blobs_dir(instance_dir)):
        if directory.is_dir():
            os.chmod(directory, 0o700)
    for path in [*secrets_dir(instance_dir).glob("*"), *(instance_dir / name for name in SQLITE_FILES + PRIVATE_FILES)]:
        if path.is_file() and not path.is_symlink():
            os.chmod(path, 0o600)


def read_secret(instance_dir: Path, name: str) -> bytes:
    if name not in SECRETS:
        raise KeyError(name)
    path = secrets_dir(instance_dir) / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        # Never suggest `portal init` here: it would create a NEW random value, and on a host
        # where the secret was removed on purpose (it belongs to the other host) or lost (a
        # receipt pepper, a TOTP key) a new value silently breaks codes, sign-ins and links.
        raise SecretError(
            f"instance secret {name!r} missing from {secrets_dir(instance_dir)}: it belongs to the {SECRETS[name]} host. "
            "If this is that host, restore the file from the offline secrets backup; a new value would not "
            "match the existing data (docs/operations.md, Secrets: what lives where)") from None
    if len(data) != SECRET_LEN:
        raise SecretError(f"instance secret {name!r} in {secrets_dir(instance_dir)} is damaged (not {SECRET_LEN} bytes): "
                          "restore it from the offline secrets backup")
    return data


def write_private_file(path: Path, text: str) -> None:
    """Write a new file readable only by its owner (recovery keys, dev credentials)."""
    _write_private(path, text.encode("utf-8"))


# -- the pinned reporter signing key (triage host) ---------------------------------------

PIN_HEADER = "PORTAL-REPORT-SIGNER-V1"


@dataclass(frozen=True)
class SignerPin:
    """What the triage host trusts about the reporter host's signatures: its Ed25519 public key, and
    the reports that were received before signatures (each with the last message position stored
    then), which alone may lack a signature. Everything else must verify."""

    public_key: bytes
    before_signatures: dict[bytes, int] = field(default_factory=dict)  # report public id -> last unsigned seq

    def to_text(self) -> str:
        lines = [PIN_HEADER, base64.b64encode(self.public_key).decode("ascii")]
        lines += [f"{rid.hex()} {seq}" for rid, seq in sorted(self.before_signatures.items())]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_text(cls, text: str) -> SignerPin:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        try:
            if len(lines) < 2 or lines[0] != PIN_HEADER:
                raise ValueError
            public = base64.b64decode(lines[1], validate=True)
            legacy = {}
            for line in lines[2:]:
                rid, seq = line.split(" ")
                legacy[bytes.fromhex(rid)] = int(seq)
            if len(public) != 32 or any(len(r) != 16 for r in legacy):
                raise ValueError
        except (ValueError, binascii.Error):
            raise SecretError(f"{SIGNER_PIN} is damaged: pin the reporter host's key again "
                              "(docs/operations.md, Secrets: what lives where)") from None
        return cls(public, legacy)


def write_signer_pin(instance_dir: Path, pin: SignerPin, replace: bool = False) -> None:
    path = instance_dir / SIGNER_PIN
    if replace:
        path.unlink(missing_ok=True)
    _write_private(path, pin.to_text().encode("ascii"))


def pin_local_signer(instance_dir: Path, before_signatures: dict[bytes, int] | None = None) -> SignerPin:
    """Development (both hosts' secrets in one instance): pin this instance's own reporter signing key."""
    pin = SignerPin(signer_public_key(read_secret(instance_dir, "report_signing_key")), before_signatures or {})
    write_signer_pin(instance_dir, pin, replace=True)
    return pin


def read_signer_pin(instance_dir: Path) -> SignerPin | None:
    """The triage host's pin, or None where none was made (every signed report then shows as unverifiable)."""
    try:
        return SignerPin.from_text((instance_dir / SIGNER_PIN).read_text("ascii"))
    except FileNotFoundError:
        return None
