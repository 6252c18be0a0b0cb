"""A small, independent reference implementation of HPKE (RFC 9180), base mode only.

KEM DHKEM(X25519, HKDF-SHA256) (0x0020), KDF HKDF-SHA256 (0x0001), AEAD AES-128-GCM
(0x0001) or AES-256-GCM (0x0002). It exists so that the test vectors can be built
with a *fixed* ephemeral key (the `cryptography` HPKE API always draws a fresh one)
and so that the portal's use of `cryptography`'s HPKE is checked against code
written straight from the RFC text, not against itself.

Only `cryptography`'s X25519, HMAC-SHA256 and AES-GCM primitives are used; the
HPKE key schedule is written out here. It is checked against RFC 9180 A.1.1 in
tests/vectors/test_vectors.py. Not for production use: it does no input
validation beyond what the primitives do.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEM_X25519_HKDF_SHA256 = 0x0020
KDF_HKDF_SHA256 = 0x0001
AEAD_AES_128_GCM = 0x0001
AEAD_AES_256_GCM = 0x0002
MODE_BASE = 0x00

_NK = {AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 32}
_NN = 12
_NH = 32
_NSECRET = 32
_NSK = 32


def i2osp(n: int, length: int) -> bytes:
    return n.to_bytes(length, "big")


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or b"\x00" * _NH, ikm, hashlib.sha256).digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hkdf_extract(salt, b"HPKE-v1" + suite_id + label + ikm)


def labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return hkdf_expand(prk, i2osp(length, 2) + b"HPKE-v1" + suite_id + label + info, length)


KEM_SUITE_ID = b"KEM" + i2osp(KEM_X25519_HKDF_SHA256, 2)


def hpke_suite_id(aead_id: int) -> bytes:
    return b"HPKE" + i2osp(KEM_X25519_HKDF_SHA256, 2) + i2osp(KDF_HKDF_SHA256, 2) + i2osp(aead_id, 2)


# -- DHKEM(X25519, HKDF-SHA256) ---------------------------------------------------


def derive_key_pair(ikm: bytes) -> tuple[bytes, bytes]:
    """RFC 9180 7.1.3 DeriveKeyPair for X25519: returns (skX, pkX) raw."""
    dkp_prk = labeled_extract(KEM_SUITE_ID, b"", b"dkp_prk", ikm)
    sk = labeled_expand(KEM_SUITE_ID, dkp_prk, b"sk", b"", _NSK)
    return sk, public_from_private(sk)


def public_from_private(sk: bytes) -> bytes:
    return x25519.X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes_raw()


def _extract_and_expand(dh: bytes, kem_context: bytes) -> bytes:
    eae_prk = labeled_extract(KEM_SUITE_ID, b"", b"eae_prk", dh)
    return labeled_expand(KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, _NSECRET)


def encap(pk_r: bytes, sk_e: bytes) -> tuple[bytes, bytes]:
    """Deterministic Encap with a given ephemeral private key: (shared_secret, enc)."""
    eph = x25519.X25519PrivateKey.from_private_bytes(sk_e)
    dh = eph.exchange(x25519.X25519PublicKey.from_public_bytes(pk_r))
    enc = eph.public_key().public_bytes_raw()
    return _extract_and_expand(dh, enc + pk_r), enc


def decap(enc: bytes, sk_r: bytes) -> bytes:
    priv = x25519.X25519PrivateKey.from_private_bytes(sk_r)
    dh = priv.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
    return _extract_and_expand(dh, enc + public_from_private(sk_r))


# -- key schedule and context -----------------------------------------------------


class Context:
    def __init__(self, aead_id: int, key: bytes, base_nonce: bytes, exporter_secret: bytes) -> None:
        self.aead_id = aead_id
        self.key = key
        self.base_nonce = base_nonce
        self.exporter_secret = exporter_secret
        self.seq = 0

    def _nonce(self) -> bytes:
        return bytes(a ^ b for a, b in zip(self.base_nonce, i2osp(self.seq, _NN), strict=True))

    def seal(self, aad: bytes, pt: bytes) -> bytes:
        ct = AESGCM(self.key).encrypt(self._nonce(), pt, aad)
        self.seq += 1
        return ct

    def open(self, aad: bytes, ct: bytes) -> bytes:
        pt = AESGCM(self.key).decrypt(self._nonce(), ct, aad)
        self.seq += 1
        return pt


def key_schedule(aead_id: int, shared_secret: bytes, info: bytes) -> Context:
    """Base mode (no PSK) KeySchedule, RFC 9180 5.1."""
    sid = hpke_suite_id(aead_id)
    psk_id_hash = labeled_extract(sid, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(sid, b"", b"info_hash", info)
    ks_context = bytes([MODE_BASE]) + psk_id_hash + info_hash
    secret = labeled_extract(sid, shared_secret, b"secret", b"")
    key = labeled_expand(sid, secret, b"key", ks_context, _NK[aead_id])
    base_nonce = labeled_expand(sid, secret, b"base_nonce", ks_context, _NN)
    exporter_secret = labeled_expand(sid, secret, b"exp", ks_context, _NH)
    return Context(aead_id, key, base_nonce, exporter_secret)


def setup_base_s(pk_r: bytes, info: bytes, sk_e: bytes, aead_id: int = AEAD_AES_256_GCM) -> tuple[bytes, Context]:
    shared_secret, enc = encap(pk_r, sk_e)
    return enc, key_schedule(aead_id, shared_secret, info)


def setup_base_r(enc: bytes, sk_r: bytes, info: bytes, aead_id: int = AEAD_AES_256_GCM) -> Context:
    return key_schedule(aead_id, decap(enc, sk_r), info)


# -- single shot, in the same framing as cryptography's hpke.Suite -----------------
# cryptography's Suite.encrypt(plaintext, public_key, info) returns enc || ciphertext,
# sealing once (seq 0) with empty associated data.


def seal_single_shot(
    pk_r: bytes, info: bytes, pt: bytes, sk_e: bytes, aead_id: int = AEAD_AES_256_GCM, aad: bytes = b""
) -> bytes:
    enc, ctx = setup_base_s(pk_r, info, sk_e, aead_id)
    return enc + ctx.seal(aad, pt)


def open_single_shot(sk_r: bytes, info: bytes, data: bytes, aead_id: int = AEAD_AES_256_GCM, aad: bytes = b"") -> bytes:
    enc, ct = data[:32], data[32:]
    return setup_base_r(enc, sk_r, info, aead_id).open(aad, ct)
