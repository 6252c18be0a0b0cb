"""Sealed records: AES-256-GCM with a versioned header and bound context.

Format (docs/crypto.md, "Record envelope"):

    version (1) = 0x01 | alg (1) | nonce (12) | ciphertext || tag (16)

alg 0x01 RECORD: key = HKDF-SHA256(DEK, info="portal/v1/record/" + purpose)
alg 0x02 DIRECT: key given by the caller (passphrase KEK, session key, draft key)

The associated data is header || context, where for records the context is
report_id (16) || len(purpose) (1) || purpose || record_id. A ciphertext moved
to another report, another purpose or another record therefore fails to open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.errors import FormatError, IntegrityError
from portal.crypto.kdf import KEY_LEN, hkdf

VERSION = 0x01
ALG_RECORD = 0x01
ALG_DIRECT = 0x02
NONCE_LEN = 12
TAG_LEN = 16
HEADER_LEN = 2
OVERHEAD = HEADER_LEN + NONCE_LEN + TAG_LEN
REPORT_ID_LEN = 16

PURPOSES = frozenset({"report", "message", "note", "attachment-meta", "subject", "safe-copy-meta",
                      "internal-note", "internal-subject"})  # internal-*: under the internal key (portal.triage.internal)


def new_data_key() -> bytes:
    """A fresh random 256-bit report data key (DEK)."""
    return os.urandom(KEY_LEN)


def record_context(report_id: bytes, purpose: str, record_id: bytes = b"") -> bytes:
    if len(report_id) != REPORT_ID_LEN:
        raise FormatError("report id must be 16 bytes")
    if purpose not in PURPOSES:
        raise FormatError("unknown record purpose")
    label = purpose.encode("ascii")
    return report_id + bytes([len(label)]) + label + record_id


def record_key(dek: bytes, purpose: str) -> bytes:
    _check_key(dek)
    return hkdf(dek, b"portal/v1/record/" + purpose.encode("ascii"))


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_LEN:
        raise FormatError("key must be 32 bytes")


def _seal(alg: int, key: bytes, plaintext: bytes, context: bytes) -> bytes:
    header = bytes([VERSION, alg])
    nonce = os.urandom(NONCE_LEN)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + context)


def _open(alg: int, key: bytes, sealed: bytes, context: bytes) -> bytes:
    if not isinstance(sealed, (bytes, bytearray, memoryview)) or len(sealed) < OVERHEAD:
        raise FormatError("sealed record too short")
    sealed = bytes(sealed)
    if sealed[0] != VERSION:
        raise FormatError("unknown record version")
    if sealed[1] != alg:
        raise FormatError("unexpected record algorithm")
    header, nonce, body = sealed[:HEADER_LEN], sealed[HEADER_LEN : HEADER_LEN + NONCE_LEN], sealed[HEADER_LEN + NONCE_LEN :]
    try:
        return AESGCM(key).decrypt(nonce, body, header + context)
    except InvalidTag:
        raise IntegrityError("record failed to authenticate") from None


def seal_record(dek: bytes, report_id: bytes, purpose: str, plaintext: bytes, record_id: bytes = b"") -> bytes:
    """Seal one piece of report content under a key derived from the report's DEK."""
    context = record_context(report_id, purpose, record_id)
    return _seal(ALG_RECORD, record_key(dek, purpose), plaintext, context)


def open_record(dek: bytes, report_id: bytes, purpose: str, sealed: bytes, record_id: bytes = b"") -> bytes:
    context = record_context(report_id, purpose, record_id)
    return _open(ALG_RECORD, record_key(dek, purpose), sealed, context)


def seal_with_key(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Seal under a caller-held key (KEK, session key); context is bound as associated data."""
    _check_key(key)
    return _seal(ALG_DIRECT, key, plaintext, context)


def open_with_key(key: bytes, sealed: bytes, context: bytes) -> bytes:
    _check_key(key)
    return _open(ALG_DIRECT, key, sealed, context)
