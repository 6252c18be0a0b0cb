"""Key pairs and DEK wrapping with HPKE (RFC 9180).

Every recipient (reviewer, organisation recovery key) holds two key pairs:

* a post-quantum hybrid pair for HPKE KEM MLKEM768_X25519, and
* a classical X25519 "intake" pair, to which a reporter's browser can wrap with
  WebCrypto (browsers have no ML-KEM yet).

A DEK wrap for a recipient is nested (docs/crypto.md, "DEK wraps"):

    inner = HPKE(X25519, HKDF-SHA256, AES-256-GCM) to the intake key   (browser or server)
    wrap  = 0x01 | 0x11 | HPKE(MLKEM768_X25519, HKDF-SHA256, AES-256-GCM)(inner) to the PQ key (server)

so a stored wrap needs both the classical and the post-quantum key to open; a
"harvest now, decrypt later" attacker must break ML-KEM-768 as well as X25519.
The reporter's wrap puts the inner HPKE wrap (to the X25519 key derived from the
receipt code) under AES-256-GCM with a symmetric key derived from the same code.

Reviewer private keys are stored only locked under Argon2id(passphrase), and at
login are re-sealed under a random per-session key that lives in the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from portal.crypto import kdf
from portal.crypto.envelope import REPORT_ID_LEN, VERSION, open_with_key, seal_with_key
from portal.crypto.errors import CryptoError, FormatError, IntegrityError
from portal.crypto.kdf import KEY_LEN, Argon2Params, argon2id
from portal.crypto.receipt import (
    reporter_private_key,
    reporter_private_key_v2,
    reporter_root,
    reporter_wrap_key,
    reporter_wrap_key_v2,
)

ALG_WRAP_RECIPIENT = 0x11
ALG_WRAP_REPORTER = 0x12
ALG_WRAP_REPORTER_V2 = 0x15
ALG_LOCKED_KEY = 0x21
KEY_FORMAT = 0x01

PQ_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
X25519_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

INNER_INFO = b"portal/v1/wrap-inner"
OUTER_INFO = b"portal/v1/wrap-outer"
INNER_WRAP_LEN = 32 + KEY_LEN + 16  # enc || ciphertext || tag

MLKEM_SEED_LEN = 64
MLKEM_PUBLIC_LEN = 1184
X25519_LEN = 32
PRIVATE_LEN = 1 + MLKEM_SEED_LEN + 2 * X25519_LEN
PUBLIC_LEN = 1 + MLKEM_PUBLIC_LEN + 2 * X25519_LEN


def _x25519_raw(key: x25519.X25519PrivateKey | x25519.X25519PublicKey) -> bytes:
    if isinstance(key, x25519.X25519PrivateKey):
        return key.private_bytes_raw()
    return key.public_bytes_raw()


@dataclass(frozen=True)
class RecipientPublicKey:
    mlkem: bytes  # ML-KEM-768 encapsulation key, 1184 bytes
    pq_x25519: bytes  # X25519 half of the hybrid KEM
    intake_x25519: bytes  # classical key the browser wraps to

    def to_bytes(self) -> bytes:
        return bytes([KEY_FORMAT]) + self.mlkem + self.pq_x25519 + self.intake_x25519

    @classmethod
    def from_bytes(cls, data: bytes) -> RecipientPublicKey:
        if len(data) != PUBLIC_LEN or data[0] != KEY_FORMAT:
            raise FormatError("malformed recipient public key")
        a, b = 1 + MLKEM_PUBLIC_LEN, 1 + MLKEM_PUBLIC_LEN + X25519_LEN
        return cls(data[1:a], data[a:b], data[b:])

    @property
    def fingerprint(self) -> str:
        """32 hex characters identifying this key (SHA-256 of its encoding)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:32]

    def _pq(self) -> hpke.MLKEM768X25519PublicKey:
        try:
            return hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(self.mlkem),
                x25519.X25519PublicKey.from_public_bytes(self.pq_x25519),
            )
        except ValueError as exc:
            raise FormatError("malformed recipient public key") from exc

    def _intake(self) -> x25519.X25519PublicKey:
        return x25519.X25519PublicKey.from_public_bytes(self.intake_x25519)


@dataclass(frozen=True, repr=False)
class RecipientPrivateKey:
    mlkem_seed: bytes
    pq_x25519: bytes
    intake_x25519: bytes

    def __repr__(self) -> str:  # never print key material
        return "RecipientPrivateKey(<secret>)"

    @classmethod
    def generate(cls) -> RecipientPrivateKey:
        return cls(os.urandom(MLKEM_SEED_LEN), _x25519_raw(x25519.X25519PrivateKey.generate()), _x25519_raw(x25519.X25519PrivateKey.generate()))

    def to_bytes(self) -> bytes:
        return bytes([KEY_FORMAT]) + self.mlkem_seed + self.pq_x25519 + self.intake_x25519

    @classmethod
    def from_bytes(cls, data: bytes) -> RecipientPrivateKey:
        if len(data) != PRIVATE_LEN or data[0] != KEY_FORMAT:
            raise FormatError("malformed recipient private key")
        a, b = 1 + MLKEM_SEED_LEN, 1 + MLKEM_SEED_LEN + X25519_LEN
        return cls(bytes(data[1:a]), bytes(data[a:b]), bytes(data[b:]))

    def public_key(self) -> RecipientPublicKey:
        ml = mlkem.MLKEM768PrivateKey.from_seed_bytes(self.mlkem_seed).public_key()
        return RecipientPublicKey(
            ml.public_bytes_raw(),
            _x25519_raw(x25519.X25519PrivateKey.from_private_bytes(self.pq_x25519).public_key()),
            _x25519_raw(x25519.X25519PrivateKey.from_private_bytes(self.intake_x25519).public_key()),
        )

    def _pq(self) -> hpke.MLKEM768X25519PrivateKey:
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(self.mlkem_seed),
            x25519.X25519PrivateKey.from_private_bytes(self.pq_x25519),
        )

    def _intake(self) -> x25519.X25519PrivateKey:
        return x25519.X25519PrivateKey.from_private_bytes(self.intake_x25519)


def _check_report_id(report_id: bytes) -> None:
    if len(report_id) != REPORT_ID_LEN:
        raise FormatError("report id must be 16 bytes")


# -- the inner, classical layer (what a browser produces with WebCrypto) ---------


def seal_inner(dek: bytes, x25519_public: bytes, report_id: bytes) -> bytes:
    """HPKE base mode, X25519/HKDF-SHA256/AES-256-GCM, info = INNER_INFO || report_id."""
    _check_report_id(report_id)
    if len(dek) != KEY_LEN:
        raise FormatError("DEK must be 32 bytes")
    try:
        public = x25519.X25519PublicKey.from_public_bytes(x25519_public)
    except ValueError as exc:
        raise FormatError("malformed X25519 public key") from exc
    try:
        return X25519_SUITE.encrypt(dek, public, info=INNER_INFO + report_id)
    except ValueError as exc:  # e.g. a low-order point: the shared secret would be all zero
        raise FormatError("unusable X25519 public key") from exc


def open_inner(inner: bytes, private: x25519.X25519PrivateKey, report_id: bytes) -> bytes:
    _check_report_id(report_id)
    if len(inner) != INNER_WRAP_LEN:
        raise FormatError("inner wrap has the wrong length")
    try:
        dek = X25519_SUITE.decrypt(inner, private, info=INNER_INFO + report_id)
    except Exception:  # cryptography raises InvalidTag or ValueError; never leak which
        raise IntegrityError("inner wrap failed to open") from None
    if len(dek) != KEY_LEN:
        raise FormatError("wrapped DEK has the wrong length")
    return dek


# -- recipients: reviewers and the organisation recovery key ---------------------


def wrap_inner_for_recipient(inner: bytes, recipient: RecipientPublicKey, report_id: bytes) -> bytes:
    """Add the post-quantum outer layer to an inner wrap (the server does this)."""
    _check_report_id(report_id)
    if len(inner) != INNER_WRAP_LEN:
        raise FormatError("inner wrap has the wrong length")
    header = bytes([VERSION, ALG_WRAP_RECIPIENT])
    public = recipient._pq()
    try:
        return header + PQ_SUITE.encrypt(inner, public, info=OUTER_INFO + header + report_id)
    except ValueError as exc:  # e.g. a low-order X25519 half
        raise FormatError("unusable recipient public key") from exc


def wrap_dek(dek: bytes, recipient: RecipientPublicKey, report_id: bytes) -> bytes:
    return wrap_inner_for_recipient(seal_inner(dek, recipient.intake_x25519, report_id), recipient, report_id)


def unwrap_dek(wrap: bytes, recipient: RecipientPrivateKey, report_id: bytes) -> bytes:
    _check_report_id(report_id)
    if len(wrap) < 2 or wrap[0] != VERSION:
        raise FormatError("unknown wrap version")
    if wrap[1] != ALG_WRAP_RECIPIENT:
        raise FormatError("unexpected wrap algorithm")
    header = wrap[:2]
    try:
        inner = PQ_SUITE.decrypt(wrap[2:], recipient._pq(), info=OUTER_INFO + header + report_id)
    except Exception:
        raise IntegrityError("wrap failed to open") from None
    return open_inner(inner, recipient._intake(), report_id)


# -- the reporter: keys derived from the receipt secret --------------------------


def reporter_public_key(receipt_secret: bytes) -> bytes:
    return _x25519_raw(reporter_private_key(receipt_secret).public_key())


def wrap_inner_for_reporter(inner: bytes, receipt_secret: bytes, report_id: bytes) -> bytes:
    _check_report_id(report_id)
    if len(inner) != INNER_WRAP_LEN:
        raise FormatError("inner wrap has the wrong length")
    sealed = seal_with_key(reporter_wrap_key(receipt_secret), inner, bytes([ALG_WRAP_REPORTER]) + report_id)
    return bytes([VERSION, ALG_WRAP_REPORTER]) + sealed


def wrap_dek_for_reporter(dek: bytes, receipt_secret: bytes, report_id: bytes) -> bytes:
    inner = seal_inner(dek, reporter_public_key(receipt_secret), report_id)
    return wrap_inner_for_reporter(inner, receipt_secret, report_id)


def unwrap_dek_for_reporter(wrap: bytes, receipt_secret: bytes, report_id: bytes) -> bytes:
    """Open a reporter wrap of either format with the receipt secret (the no-JavaScript path)."""
    if len(wrap) >= 2 and wrap[1] == ALG_WRAP_REPORTER_V2:
        return unwrap_dek_for_reporter_root(wrap, reporter_root(receipt_secret), report_id)
    _check_report_id(report_id)
    if len(wrap) < 2 or wrap[0] != VERSION:
        raise FormatError("unknown wrap version")
    if wrap[1] != ALG_WRAP_REPORTER:
        raise FormatError("unexpected wrap algorithm")
    inner = open_with_key(reporter_wrap_key(receipt_secret), wrap[2:], bytes([ALG_WRAP_REPORTER]) + report_id)
    return open_inner(inner, reporter_private_key(receipt_secret), report_id)


# -- the reporter, receipt format v2: keys derived from the reporter root ---------------


def reporter_public_key_v2(root: bytes) -> bytes:
    return _x25519_raw(reporter_private_key_v2(root).public_key())


def wrap_dek_for_reporter_root(dek: bytes, root: bytes, report_id: bytes) -> bytes:
    """version | 0x15 | DIRECT seal under the v2 wrap key of the inner wrap to the v2 X25519 key (112 bytes)."""
    return wrap_inner_for_reporter_root(seal_inner(dek, reporter_public_key_v2(root), report_id), root, report_id)


def wrap_inner_for_reporter_root(inner: bytes, root: bytes, report_id: bytes) -> bytes:
    _check_report_id(report_id)
    if len(inner) != INNER_WRAP_LEN:
        raise FormatError("inner wrap has the wrong length")
    sealed = seal_with_key(reporter_wrap_key_v2(root), inner, bytes([ALG_WRAP_REPORTER_V2]) + report_id)
    return bytes([VERSION, ALG_WRAP_REPORTER_V2]) + sealed


def check_reporter_wrap_v2(wrap: bytes) -> None:
    """What the reporter host can check of a v2 wrap it cannot open: its header and length."""
    if len(wrap) != 2 + 2 + 12 + INNER_WRAP_LEN + 16 or wrap[:4] != bytes([VERSION, ALG_WRAP_REPORTER_V2, VERSION, 0x02]):
        raise FormatError("malformed reporter wrap")


def unwrap_dek_for_reporter_root(wrap: bytes, root: bytes, report_id: bytes) -> bytes:
    _check_report_id(report_id)
    if len(wrap) < 2 or wrap[0] != VERSION:
        raise FormatError("unknown wrap version")
    if wrap[1] != ALG_WRAP_REPORTER_V2:
        raise FormatError("unexpected wrap algorithm")
    inner = open_with_key(reporter_wrap_key_v2(root), wrap[2:], bytes([ALG_WRAP_REPORTER_V2]) + report_id)
    return open_inner(inner, reporter_private_key_v2(root), report_id)


# -- reviewer private keys at rest and in a session ------------------------------


def lock_private_key(private: RecipientPrivateKey, passphrase: str, params: Argon2Params | None = None) -> bytes:
    """version | 0x21 | argon2 params (12) | salt (16) | sealed private key."""
    params = params or kdf.PASSPHRASE_ARGON2
    params.check()
    salt = os.urandom(16)
    header = bytes([VERSION, ALG_LOCKED_KEY]) + params.encode() + salt
    kek = argon2id(passphrase.encode("utf-8"), salt, params)
    return header + seal_with_key(kek, private.to_bytes(), header)


def _locked_header(locked: bytes) -> bytes:
    if len(locked) < 30 or locked[0] != VERSION or locked[1] != ALG_LOCKED_KEY:
        raise FormatError("unknown locked key format")
    return locked[:30]


def locked_key_kek(locked: bytes, passphrase: str) -> bytes:
    """The key that opens `locked` (Argon2id of the passphrase with its salt), without opening it:
    sign-in derives it with the passphrase and opens the key only once the second factor passed."""
    header = _locked_header(locked)
    return argon2id(passphrase.encode("utf-8"), header[14:30], Argon2Params.decode(header[2:14]))


def unlock_private_key_with_kek(locked: bytes, kek: bytes) -> RecipientPrivateKey:
    """Raises IntegrityError for a wrong key, FormatError for a damaged blob."""
    return RecipientPrivateKey.from_bytes(open_with_key(kek, locked[30:], _locked_header(locked)))


def unlock_private_key(locked: bytes, passphrase: str) -> RecipientPrivateKey:
    """Raises IntegrityError for a wrong passphrase, FormatError for a damaged blob."""
    return unlock_private_key_with_kek(locked, locked_key_kek(locked, passphrase))


def change_passphrase(locked: bytes, old: str, new: str) -> bytes:
    """Re-lock the same private key: no report wrap changes."""
    return lock_private_key(unlock_private_key(locked, old), new)


def personal_key(private: RecipientPrivateKey) -> bytes:
    """A symmetric key only the holder of this private key can compute (for their own notes to self)."""
    return kdf.hkdf(private.to_bytes(), b"portal/v1/personal-key")


# -- recovery key files -----------------------------------------------------------

_RECOVERY_BANNER = "PORTAL-RECOVERY-KEY-V1"


def export_recovery_private_key(private: RecipientPrivateKey) -> str:
    body = base64.b64encode(private.to_bytes()).decode("ascii")
    return f"{_RECOVERY_BANNER}\n{private.public_key().fingerprint}\n{body}\n"


def import_recovery_private_key(text: str) -> RecipientPrivateKey:
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) != 3 or lines[0] != _RECOVERY_BANNER:
        raise FormatError("not a recovery key file")
    try:
        private = RecipientPrivateKey.from_bytes(base64.b64decode(lines[2], validate=True))
    except (ValueError, CryptoError) as exc:
        raise FormatError("recovery key file damaged") from exc
    if private.public_key().fingerprint != lines[1]:
        raise IntegrityError("recovery key file fingerprint does not match")
    return private
