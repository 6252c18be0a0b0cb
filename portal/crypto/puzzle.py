"""Proof-of-work puzzles for the reporter interface: signed, expiring, bound to one action.

The puzzle is ALTCHA's: the server picks a secret number n in [0, max] and a random
salt, and publishes target = SHA-256(salt_hex || decimal(n)). The client tries
0, 1, 2, ... until the hash matches: max/2 hashes on average and never more than
max + 1, so an honest client's wait has a hard ceiling (a leading-zeros puzzle has a
geometric tail instead). Checking a solution costs the server one SHA-256 and one
HMAC, so a flood of wrong solutions costs it nothing worth measuring.

Why SHA-256 and not a memory-hard puzzle (docs/threat-model.md, "Availability"):
verification must be cheaper than anything an attacker can make the server do, and
a memory-hard check (Argon2id) costs milliseconds of CPU and megabytes per wrong
answer. The price is that a GPU solves SHA-256 puzzles far faster than a phone.
The puzzle therefore only rations the cheap JavaScript path; the expensive
no-JavaScript path is protected by the concurrency gate (portal.admission).

Token (base64url, unpadded), all integers big-endian:

    version 0x01 | action (1) | expires (u64, unix seconds) | max (u32) | salt (16) | target (32) | mac (16)

mac = HMAC-SHA256(key, "portal/v1/pow:" || everything before it), first 16 bytes.
The salt doubles as the token's single-use id (the caller remembers spent salts
until the token expires: portal.admission).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
from dataclasses import dataclass

from portal.crypto.errors import CryptoError

VERSION = 0x01
ACTIONS = {"report": 1, "sign-in": 2, "reply": 3}
SALT_LEN = 16
MAC_LEN = 16
MAX_NUMBER_LIMIT = 2**32 - 1
_HEADER = struct.Struct(">BBQI")  # version, action, expires, max
_PAYLOAD_LEN = _HEADER.size + SALT_LEN + 32
_TOKEN_LEN = _PAYLOAD_LEN + MAC_LEN
_MAC_DOMAIN = b"portal/v1/pow:"


class PuzzleError(CryptoError):
    """The solution does not hold; the message says why (never shown to reporters)."""


@dataclass(frozen=True)
class Challenge:
    token: str
    salt_hex: str
    target: bytes
    max_number: int
    expires: int
    action: str

    def to_json(self) -> dict:
        return {"algorithm": "SHA-256", "challenge": self.token, "salt": self.salt_hex, "target": self.target.hex(),
                "max": self.max_number, "expires": self.expires}


@dataclass(frozen=True)
class Solved:
    """What a verified solution tells its caller: the single-use id, and the price it was issued at."""

    salt: bytes
    max_number: int


def puzzle_hash(salt_hex: str, number: int) -> bytes:
    """SHA-256 over the ASCII of the salt's hex followed by the number in decimal."""
    return hashlib.sha256(f"{salt_hex}{number}".encode("ascii")).digest()


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _MAC_DOMAIN + payload, hashlib.sha256).digest()[:MAC_LEN]


def issue(key: bytes, action: str, max_number: int, expires: int, *, salt: bytes | None = None,
          number: int | None = None) -> Challenge:
    """A new challenge. `salt` and `number` are fixed only by test vectors."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not 1 <= max_number <= MAX_NUMBER_LIMIT:
        raise ValueError("max_number out of range")
    salt = os.urandom(SALT_LEN) if salt is None else salt
    if len(salt) != SALT_LEN:
        raise ValueError("salt must be 16 bytes")
    number = secrets.randbelow(max_number + 1) if number is None else number
    salt_hex = salt.hex()
    target = puzzle_hash(salt_hex, number)
    payload = _HEADER.pack(VERSION, ACTIONS[action], expires, max_number) + salt + target
    token = base64.urlsafe_b64encode(payload + _mac(key, payload)).rstrip(b"=").decode("ascii")
    return Challenge(token, salt_hex, target, max_number, expires, action)


def solve(salt_hex: str, target: bytes, max_number: int) -> int | None:
    """Find the number (what a client does); None if there is none up to max_number."""
    prefix = hashlib.sha256(salt_hex.encode("ascii"))
    for number in range(max_number + 1):
        attempt = prefix.copy()
        attempt.update(str(number).encode("ascii"))
        if attempt.digest() == target:
            return number
    return None


def _decode(token: str) -> bytes:
    if not isinstance(token, str) or len(token) > 2 * _TOKEN_LEN:
        raise PuzzleError("token malformed")
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise PuzzleError("token malformed") from None
    if len(raw) != _TOKEN_LEN:
        raise PuzzleError("token malformed")
    return raw


def verify(key: bytes, token: str, solution: str, action: str, now: int) -> Solved:
    """Check a solution; returns its salt (the token's single-use id) and price, or raises PuzzleError.

    Cheapest checks first: shape, MAC (constant time), action, expiry, then one SHA-256.
    Whether the token was already spent is the caller's to check, after this.
    """
    raw = _decode(token)
    payload, mac = raw[:_PAYLOAD_LEN], raw[_PAYLOAD_LEN:]
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise PuzzleError("token not issued here")
    version, action_id, expires, max_number = _HEADER.unpack(payload[: _HEADER.size])
    salt = payload[_HEADER.size : _HEADER.size + SALT_LEN]
    target = payload[_HEADER.size + SALT_LEN :]
    if version != VERSION:
        raise PuzzleError("unknown token version")
    if action_id != ACTIONS.get(action):
        raise PuzzleError("token issued for another action")
    if expires <= now:
        raise PuzzleError("token expired")
    if not isinstance(solution, str) or not solution.isascii() or not solution.isdigit() or len(solution) > 10:
        raise PuzzleError("solution malformed")
    number = int(solution)
    if number > max_number or solution != str(number):  # no leading zeros: one spelling per number
        raise PuzzleError("solution out of range")
    if not hmac.compare_digest(puzzle_hash(salt.hex(), number), target):
        raise PuzzleError("wrong solution")
    return Solved(salt, max_number)
