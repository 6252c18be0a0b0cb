"""What makes stored content impossible to swap unnoticed: a key commitment and signed statements.

* The **key commitment** (32 bytes, stored beside the report) says which data key a report was
  sealed under: AES-GCM is not key-committing, so without it a database writer could re-seal a
  report under a key of its own choosing and wrap that key to every public key.
* A **statement** lists, byte for byte, what one accepted item was: the report (its id, the day
  received, the commitment, the hash of the sealed report and of each attachment's sealed
  details) or one message (its id, position, author, day, hashes, the files sent with it), or a
  reviewer's note. The reporter host signs the statements of what it accepts (Ed25519, its own
  key); the triage host binds what reviewers write with an HMAC under a key only it holds.

Layouts: docs/crypto.md, "Integrity". Every function is pure; a failed check is an IntegrityError.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from portal.crypto.errors import FormatError, IntegrityError
from portal.crypto.kdf import hkdf

VERSION = 0x01
ALG_REPORT = 0x16  # statement of an accepted report
ALG_MESSAGE = 0x17  # statement of a message (and the files sent with it)
ALG_NOTE = 0x18  # statement of a reviewer's internal note
COMMITMENT_LABEL = b"portal/v1/key-commitment"
COMMITMENT_LEN = 32
SIGNATURE_LEN = 64  # Ed25519
BINDING_LEN = 32  # HMAC-SHA256
PUBLIC_KEY_LEN = 32
MAX_FILES = 0xFFFF
REPORTER = "reporter"


def key_commitment(dek: bytes, report_id: bytes) -> bytes:
    """HMAC-SHA256(key = DEK, "portal/v1/key-commitment" || report_id): one key per report id."""
    if len(dek) != 32 or len(report_id) != 16:
        raise FormatError("a data key is 32 bytes and a report id 16")
    return hmac.new(dek, COMMITMENT_LABEL + report_id, hashlib.sha256).digest()


def check_commitment(dek: bytes, report_id: bytes, commitment: bytes) -> None:
    """IntegrityError unless `dek` is the key the report was committed to (constant time)."""
    if not hmac.compare_digest(key_commitment(dek, report_id), commitment):
        raise IntegrityError("the data key does not match the report's key commitment")


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class FileEntry:
    """One attachment in a statement: its id and the SHA-256 of its sealed details."""

    attachment_id: bytes
    meta_hash: bytes

    @classmethod
    def of(cls, attachment_id: bytes, sealed_meta: bytes) -> FileEntry:
        return cls(attachment_id, digest(sealed_meta))


def _files(entries: Iterable[FileEntry]) -> bytes:
    """Sorted by id, so that the order rows come back from the database in never matters."""
    ordered = sorted(entries, key=lambda e: e.attachment_id)
    if len(ordered) > MAX_FILES or any(len(e.attachment_id) != 16 or len(e.meta_hash) != 32 for e in ordered):
        raise FormatError("malformed file list")
    return len(ordered).to_bytes(2, "big") + b"".join(e.attachment_id + e.meta_hash for e in ordered)


def _day(day: dt.date) -> bytes:
    return day.strftime("%Y%m%d").encode("ascii")


def _author(author: str) -> bytes:
    raw = author.encode("ascii")
    if not 1 <= len(raw) <= 64:
        raise FormatError("an author is 1 to 64 ASCII characters")
    return len(raw).to_bytes(1, "big") + raw


def _id16(value: bytes) -> bytes:
    if len(value) != 16:
        raise FormatError("an id is 16 bytes")
    return value


def report_statement(report_id: bytes, received_on: dt.date, commitment: bytes, sealed_report: bytes,
                     files: Iterable[FileEntry]) -> bytes:
    """0x01 || 0x16 || report_id || day (8 ASCII, YYYYMMDD) || commitment || SHA-256(sealed report) || files."""
    if len(commitment) != COMMITMENT_LEN:
        raise FormatError("a key commitment is 32 bytes")
    return (bytes([VERSION, ALG_REPORT]) + _id16(report_id) + _day(received_on) + commitment + digest(sealed_report)
            + _files(files))


def message_statement(report_id: bytes, message_id: bytes, seq: int, author: str, sent_on: dt.date, commitment: bytes,
                      sealed_body: bytes, files: Iterable[FileEntry]) -> bytes:
    """0x01 || 0x17 || report_id || message_id || seq (4) || author (len 1 + ASCII) || day || commitment
    || SHA-256(sealed body) || files. `author` is "reporter" or "reviewer:<id>"."""
    if not 1 <= seq < 2**32 or len(commitment) != COMMITMENT_LEN:
        raise FormatError("a position is 1 to 2^32 - 1 and a commitment 32 bytes")
    return (bytes([VERSION, ALG_MESSAGE]) + _id16(report_id) + _id16(message_id) + seq.to_bytes(4, "big")
            + _author(author) + _day(sent_on) + commitment + digest(sealed_body) + _files(files))


def note_statement(report_id: bytes, note_id: bytes, author: str, written_on: dt.date, sealed_body: bytes) -> bytes:
    """0x01 || 0x18 || report_id || note_id || author || day || SHA-256(sealed body)."""
    return (bytes([VERSION, ALG_NOTE]) + _id16(report_id) + _id16(note_id) + _author(author) + _day(written_on)
            + digest(sealed_body))


def reviewer_author(reviewer_id: int) -> str:
    return f"reviewer:{int(reviewer_id)}"


# -- Ed25519: the reporter host's signature ------------------------------------------


def signer_public_key(seed: bytes) -> bytes:
    """The raw 32-byte public key of the Ed25519 seed (what the triage host pins)."""
    if len(seed) != 32:
        raise FormatError("an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def signer_fingerprint(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def sign(seed: bytes, statement: bytes) -> bytes:
    if len(seed) != 32:
        raise FormatError("an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed).sign(statement)


def verify(public: bytes, statement: bytes, signature: bytes) -> None:
    if len(public) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        raise IntegrityError("missing or malformed signature")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, statement)
    except (InvalidSignature, ValueError):
        raise IntegrityError("signature does not verify") from None


# -- HMAC: the triage host's binding of what reviewers write -------------------------


def bind(key: bytes, statement: bytes) -> bytes:
    return hmac.new(key, statement, hashlib.sha256).digest()


def check_binding(key: bytes, statement: bytes, binding: bytes) -> None:
    if not hmac.compare_digest(bind(key, statement), binding):
        raise IntegrityError("binding does not verify")


def triage_binding_key(audit_key: bytes) -> bytes:
    """The triage host's binding key, derived from its audit key (same host, same trust, separate use)."""
    return hkdf(audit_key, b"portal/v1/triage-binding")
