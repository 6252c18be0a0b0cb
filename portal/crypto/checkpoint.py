"""Signed checkpoints of the audit chain's head (Ed25519), one JSON line each.

A checkpoint says "entry `seq` of this instance's audit log had the hash `head`
at time `at`", signed with the instance's Ed25519 key (a 32-byte seed in
secrets/audit_signing_key). Written outside the database, it lets `portal audit
verify` notice a log cut short or a database rolled back: someone who can write
the database but not read the key cannot make a checkpoint that agrees with a
shorter chain. The format is in docs/crypto.md, "Audit checkpoints".

Signed message (ASCII): "portal/v1/audit-checkpoint\\n" kind "\\n" seq "\\n" head
"\\n" at "\\n", where kind is "checkpoint" or "restore" (a deliberate restore from
a backup, which starts a new epoch), seq a decimal integer, head 64 lower-case
hex digits and at UTC as YYYYMMDDTHHMMSSZ.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from portal.crypto.errors import FormatError, IntegrityError

VERSION = 1
KINDS = ("checkpoint", "restore")
_DOMAIN = b"portal/v1/audit-checkpoint\n"
_AT = re.compile(r"^\d{8}T\d{6}Z$")
_HEAD = re.compile(r"^[0-9a-f]{64}$")
MAX_LINE = 1024


@dataclass(frozen=True)
class Checkpoint:
    kind: str
    seq: int
    head: bytes  # the entry_hash of entry `seq` (32 zero bytes for an empty log)
    at: str  # UTC, YYYYMMDDTHHMMSSZ
    key: str  # fingerprint of the signing key
    signature: bytes

    def to_line(self) -> str:
        """The JSON line written to the checkpoint file, the log and the digest (no newline)."""
        return json.dumps({"v": VERSION, "kind": self.kind, "seq": self.seq, "head": self.head.hex(), "at": self.at,
                           "key": self.key, "sig": base64.b64encode(self.signature).decode("ascii")},
                          separators=(",", ":"))


def _message(kind: str, seq: int, head: bytes, at: str) -> bytes:
    return _DOMAIN + f"{kind}\n{seq}\n{head.hex()}\n{at}\n".encode("ascii")


def public_key(seed: bytes) -> Ed25519PublicKey:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key()


def fingerprint(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def public_key_text(public: Ed25519PublicKey) -> str:
    """The raw public key in base64, for an operator to keep beside the recorded heads."""
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def sign(seed: bytes, kind: str, seq: int, head: bytes, at: str) -> Checkpoint:
    if kind not in KINDS or seq < 0 or len(head) != 32 or not _AT.match(at):
        raise FormatError("not a valid checkpoint")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    return Checkpoint(kind, seq, head, at, fingerprint(private.public_key()), private.sign(_message(kind, seq, head, at)))


def parse(line: str, public: Ed25519PublicKey) -> Checkpoint:
    """One line of the checkpoint file, its signature checked; FormatError or IntegrityError otherwise."""
    if len(line) > MAX_LINE:
        raise FormatError("checkpoint line too long")
    try:
        data = json.loads(line)
        kind, seq, head, at, key, sig = (data["kind"], data["seq"], data["head"], data["at"], data["key"], data["sig"])
        valid = (data.get("v") == VERSION and kind in KINDS and isinstance(seq, int) and not isinstance(seq, bool)
                 and seq >= 0 and isinstance(head, str) and _HEAD.match(head) and isinstance(at, str) and _AT.match(at)
                 and isinstance(key, str) and isinstance(sig, str))
        if not valid:
            raise FormatError("not a checkpoint line")
        signature = base64.b64decode(sig, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise FormatError("not a checkpoint line") from exc
    if key != fingerprint(public):
        raise IntegrityError("checkpoint signed with another key")
    try:
        public.verify(signature, _message(kind, seq, bytes.fromhex(head), at))
    except InvalidSignature as exc:
        raise IntegrityError("checkpoint signature does not verify") from exc
    return Checkpoint(kind, seq, bytes.fromhex(head), at, key, signature)
