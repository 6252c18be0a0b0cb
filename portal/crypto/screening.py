"""The screening key: reads who a report names, never what it says.

The triage host holds one 32-byte instance secret ("screening_key"); the key pair below is
derived from it, and only its public half is published (in the database) for the reporter host
and browsers. Two envelopes are sealed to it at intake (docs/crypto.md, "Screening"):

* the subject list, alg 0x13: the names and collar/staff numbers the reporter gave, and nothing
  else. Inner layer HPKE X25519 to the key's intake half (browser or server), outer layer
  HPKE ML-KEM-768/X25519 added by the server, as for DEK wraps;
* a held wrap, alg 0x14: one reviewer's ordinary DEK wrap (alg 0x11) sealed again to the
  screening key. Until screening releases it, the reviewer holds nothing they can open; the
  screening key alone opens no content (a held wrap still needs that reviewer's private key).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import x25519

from portal.crypto.envelope import VERSION
from portal.crypto.errors import FormatError, IntegrityError
from portal.crypto.kdf import KEY_LEN, hkdf
from portal.crypto.keys import (
    MLKEM_SEED_LEN,
    PQ_SUITE,
    X25519_LEN,
    X25519_SUITE,
    RecipientPrivateKey,
    RecipientPublicKey,
    _check_report_id,
    _x25519_raw,
)

ALG_SUBJECTS = 0x13
ALG_HELD_WRAP = 0x14
SUBJECTS_INNER_INFO = b"portal/v1/subjects-inner"
SUBJECTS_OUTER_INFO = b"portal/v1/subjects-outer"
HELD_INFO = b"portal/v1/held-wrap"
MAX_SUBJECTS_BYTES = 16 * 1024  # plaintext of the subject list: ten people's names and numbers fit many times
FINGERPRINT_LEN = 32


def screening_private_key(secret: bytes) -> RecipientPrivateKey:
    """The screening key pair, derived from the triage host's 32-byte instance secret."""
    if len(secret) != KEY_LEN:
        raise FormatError("screening secret must be 32 bytes")
    seed = hkdf(secret, b"portal/v1/screening/mlkem-seed", MLKEM_SEED_LEN)
    pq = hkdf(secret, b"portal/v1/screening/pq-x25519", X25519_LEN)
    intake = hkdf(secret, b"portal/v1/screening/intake-x25519", X25519_LEN)
    # Raw X25519 private keys are clamped on use; store them as the library round-trips them.
    return RecipientPrivateKey(seed, _x25519_raw(x25519.X25519PrivateKey.from_private_bytes(pq)),
                               _x25519_raw(x25519.X25519PrivateKey.from_private_bytes(intake)))


# -- the subject list -------------------------------------------------------------


def seal_subjects_inner(document: bytes, x25519_public: bytes, report_id: bytes) -> bytes:
    """HPKE base mode X25519/HKDF-SHA256/AES-256-GCM, info = SUBJECTS_INNER_INFO || report_id."""
    _check_report_id(report_id)
    if len(document) > MAX_SUBJECTS_BYTES:
        raise FormatError("subject list too long")
    try:
        public = x25519.X25519PublicKey.from_public_bytes(x25519_public)
        return X25519_SUITE.encrypt(document, public, info=SUBJECTS_INNER_INFO + report_id)
    except ValueError as exc:
        raise FormatError("unusable X25519 public key") from exc


def seal_subjects_outer(inner: bytes, screening: RecipientPublicKey, report_id: bytes) -> bytes:
    """0x01 | 0x13 | HPKE(MLKEM768_X25519)(inner), info = SUBJECTS_OUTER_INFO || header || report_id."""
    _check_report_id(report_id)
    if not 32 + 16 <= len(inner) <= 32 + MAX_SUBJECTS_BYTES + 16:
        raise FormatError("sealed subject list has the wrong length")
    header = bytes([VERSION, ALG_SUBJECTS])
    return header + PQ_SUITE.encrypt(inner, screening._pq(), info=SUBJECTS_OUTER_INFO + header + report_id)


def seal_subjects(document: bytes, screening: RecipientPublicKey, report_id: bytes) -> bytes:
    """Both layers at once (the no-JavaScript path)."""
    return seal_subjects_outer(seal_subjects_inner(document, screening.intake_x25519, report_id), screening, report_id)


def open_subjects(sealed: bytes, screening: RecipientPrivateKey, report_id: bytes) -> bytes:
    """The subject list's plaintext; IntegrityError / FormatError if it was not sealed to this key for this report."""
    _check_report_id(report_id)
    if len(sealed) < 2 or sealed[0] != VERSION or sealed[1] != ALG_SUBJECTS:
        raise FormatError("not a sealed subject list")
    header = sealed[:2]
    try:
        inner = PQ_SUITE.decrypt(sealed[2:], screening._pq(), info=SUBJECTS_OUTER_INFO + header + report_id)
        return X25519_SUITE.decrypt(inner, screening._intake(), info=SUBJECTS_INNER_INFO + report_id)
    except Exception:  # InvalidTag or ValueError from the library: never say which layer failed
        raise IntegrityError("subject list failed to open") from None


# -- held wraps -------------------------------------------------------------------


def _held_info(header: bytes, report_id: bytes, fingerprint: str) -> bytes:
    label = fingerprint.encode("ascii")
    if len(label) != FINGERPRINT_LEN:
        raise FormatError("recipient fingerprint must be 32 characters")
    return HELD_INFO + header + report_id + label


def hold_wrap(wrap: bytes, screening: RecipientPublicKey, report_id: bytes, fingerprint: str) -> bytes:
    """0x01 | 0x14 | HPKE(MLKEM768_X25519)(wrap), bound to the report and the recipient's fingerprint."""
    _check_report_id(report_id)
    header = bytes([VERSION, ALG_HELD_WRAP])
    return header + PQ_SUITE.encrypt(wrap, screening._pq(), info=_held_info(header, report_id, fingerprint))


def release_wrap(held: bytes, screening: RecipientPrivateKey, report_id: bytes, fingerprint: str) -> bytes:
    """The recipient's DEK wrap (alg 0x11) inside a held wrap."""
    _check_report_id(report_id)
    if len(held) < 2 or held[0] != VERSION or held[1] != ALG_HELD_WRAP:
        raise FormatError("not a held wrap")
    try:
        return PQ_SUITE.decrypt(held[2:], screening._pq(), info=_held_info(held[:2], report_id, fingerprint))
    except FormatError:
        raise
    except Exception:
        raise IntegrityError("held wrap failed to open") from None
