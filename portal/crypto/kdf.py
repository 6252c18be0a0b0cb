"""Key derivation: Argon2id for human secrets, HKDF-SHA256 for everything else.

Argon2id parameters are fixed per format version because a receipt lookup must
recompute the same derivation without knowing which report it is looking for.
t=5, m=64 MiB, p=1 takes about 0.25 s on the 2-core reference machine
(bench/crypto_bench.py prints the figure); see docs/crypto.md for the reasoning.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.crypto.errors import CryptoError, FormatError

KEY_LEN = 32


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int
    memory_kib: int
    parallelism: int

    def encode(self) -> bytes:
        """12 bytes: time cost, memory in KiB, parallelism, each big-endian u32."""
        return b"".join(v.to_bytes(4, "big") for v in (self.time_cost, self.memory_kib, self.parallelism))

    @classmethod
    def decode(cls, data: bytes) -> Argon2Params:
        if len(data) != 12:
            raise FormatError("argon2 parameters must be 12 bytes")
        t, m, p = (int.from_bytes(data[i : i + 4], "big") for i in (0, 4, 8))
        params = cls(t, m, p)
        params.check()
        return params

    def check(self) -> None:
        # Refuse absurd parameters read from storage (a tampered record must not
        # make the server allocate gigabytes or accept a trivially cheap KDF).
        if not (1 <= self.time_cost <= 64 and 8 * 1024 <= self.memory_kib <= 4 * 1024 * 1024 and 1 <= self.parallelism <= 16):
            raise FormatError("argon2 parameters out of range")


# Receipt codes and reviewer passphrases. >= 64 MiB, >= 0.2 s on the reference machine.
RECEIPT_ARGON2 = Argon2Params(time_cost=5, memory_kib=64 * 1024, parallelism=1)
PASSPHRASE_ARGON2 = Argon2Params(time_cost=5, memory_kib=64 * 1024, parallelism=1)


def argon2id(secret: bytes, salt: bytes, params: Argon2Params, length: int = KEY_LEN) -> bytes:
    """Raw Argon2id output (no encoded hash string)."""
    if len(salt) < 16:
        raise FormatError("argon2 salt must be at least 16 bytes")
    try:
        return hash_secret_raw(
            secret=secret,
            salt=salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=length,
            type=Type.ID,
        )
    except HashingError as exc:  # pragma: no cover - only on absurd inputs
        raise CryptoError("argon2id failed") from exc


def hkdf(ikm: bytes, info: bytes, length: int = KEY_LEN, salt: bytes | None = None) -> bytes:
    """HKDF-SHA256 (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()
