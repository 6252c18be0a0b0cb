"""Receipt codes: eight words from a bundled 2,048-word list (88 bits).

Every word in the list has a unique four-letter prefix, so a reporter may type
only the first four letters of each word. Input is normalised: case, spaces,
hyphens, dots, commas and a trailing newline do not matter.

From a code the portal derives one 32-byte *receipt secret*
(Argon2id over the canonical code with the install salt). Everything else comes
from that secret with HKDF or HMAC. Format v2 (every new report): a lookup token
(all a browser sends; the server keeps HMAC(pepper, token) as the lookup id) and,
separately, the reporter root behind the reporter's X25519 key and wrap key.
Format v1 (older reports, until their first follow-up upgrades them) keyed all
three on the secret itself. The code itself is never stored.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from importlib import resources

from cryptography.hazmat.primitives.asymmetric import x25519

from portal.crypto import kdf
from portal.crypto.errors import ReceiptCodeError
from portal.crypto.kdf import Argon2Params, argon2id, hkdf, hmac_sha256

WORD_COUNT = 8
PREFIX_LEN = 4
RECEIPT_SECRET_LEN = 32
_CODE_DOMAIN = b"portal/v1/receipt-code:"
_SEPARATORS = re.compile(r"[\s\-_.,;:/]+")


@lru_cache(maxsize=1)
def wordlist() -> tuple[str, ...]:
    text = resources.files("portal.crypto").joinpath("wordlist.txt").read_text("ascii")
    words = tuple(w for w in text.split() if w)
    assert len(words) == 2048 and len({w[:PREFIX_LEN] for w in words}) == 2048
    return words


@lru_cache(maxsize=1)
def _by_prefix() -> dict[str, str]:
    return {w[:PREFIX_LEN]: w for w in wordlist()}


def entropy_bits() -> float:
    return WORD_COUNT * 11.0


def generate_receipt_code() -> str:
    """A new code from `secrets`, words separated by single spaces."""
    words = wordlist()
    return " ".join(secrets.choice(words) for _ in range(WORD_COUNT))


def normalise_receipt_code(raw: str) -> str:
    """Canonical form of what a reporter typed, or ReceiptCodeError.

    Each token may be the whole word or at least its first four letters.
    """
    if not isinstance(raw, str) or len(raw) > 200:
        raise ReceiptCodeError("receipt code malformed")
    tokens = [t for t in _SEPARATORS.split(raw.strip().lower()) if t]
    if len(tokens) != WORD_COUNT:
        raise ReceiptCodeError("receipt code malformed")
    index = _by_prefix()
    canonical = []
    for token in tokens:
        word = index.get(token[:PREFIX_LEN]) if len(token) >= PREFIX_LEN else None
        if word is None or not word.startswith(token):
            raise ReceiptCodeError("receipt code malformed")
        canonical.append(word)
    return " ".join(canonical)


def receipt_secret(code: str, install_salt: bytes, params: Argon2Params | None = None) -> bytes:
    """Argon2id(canonical code, install salt): the only slow step."""
    canonical = normalise_receipt_code(code)
    return argon2id(_CODE_DOMAIN + canonical.encode("ascii"), install_salt, params or kdf.RECEIPT_ARGON2)


def _check(secret: bytes) -> None:
    if not isinstance(secret, (bytes, bytearray)) or len(secret) != RECEIPT_SECRET_LEN:
        raise ReceiptCodeError("receipt secret must be 32 bytes")


def lookup_id(secret: bytes, pepper: bytes) -> bytes:
    """HMAC-SHA256(pepper, receipt secret): the only thing stored that relates to the code."""
    _check(secret)
    return hmac_sha256(pepper, b"portal/v1/lookup:" + bytes(secret))


def reporter_private_key(secret: bytes) -> x25519.X25519PrivateKey:
    _check(secret)
    return x25519.X25519PrivateKey.from_private_bytes(hkdf(bytes(secret), b"portal/v1/reporter-x25519"))


def reporter_wrap_key(secret: bytes) -> bytes:
    """Symmetric key for the outer layer of the reporter's DEK wrap (quantum-safe)."""
    _check(secret)
    return hkdf(bytes(secret), b"portal/v1/reporter-wrap")


# -- receipt format v2: the server gets a lookup token, never the receipt secret ------
#
# The browser derives two independent values from the receipt secret (docs/crypto.md,
# "Receipt format v2"): the lookup token, which is all it ever sends, and the reporter
# root, from which the reporter's X25519 key and wrap key come. HKDF is one-way, so the
# holder of a lookup token (the reporter host) cannot compute the reporter root.

RECEIPT_FORMAT_V1 = 1
RECEIPT_FORMAT_V2 = 2
LOOKUP_TOKEN_LEN = 32


def lookup_token(secret: bytes) -> bytes:
    """HKDF(receipt secret, info "portal/v2/lookup-token"): what the browser sends to sign in."""
    _check(secret)
    return hkdf(bytes(secret), b"portal/v2/lookup-token")


def reporter_root(secret: bytes) -> bytes:
    """HKDF(receipt secret, info "portal/v2/reporter-root"): everything the reporter's keys need."""
    _check(secret)
    return hkdf(bytes(secret), b"portal/v2/reporter-root")


def check_lookup_token(token: bytes) -> None:
    if not isinstance(token, (bytes, bytearray)) or len(token) != LOOKUP_TOKEN_LEN:
        raise ReceiptCodeError("lookup token must be 32 bytes")


def lookup_id_v2(token: bytes, pepper: bytes) -> bytes:
    """HMAC-SHA256(pepper, "portal/v2/lookup:" || lookup token): the stored lookup id of a v2 report."""
    check_lookup_token(token)
    return hmac_sha256(pepper, b"portal/v2/lookup:" + bytes(token))


def reporter_private_key_v2(root: bytes) -> x25519.X25519PrivateKey:
    _check(root)
    return x25519.X25519PrivateKey.from_private_bytes(hkdf(bytes(root), b"portal/v2/reporter-x25519"))


def reporter_wrap_key_v2(root: bytes) -> bytes:
    _check(root)
    return hkdf(bytes(root), b"portal/v2/reporter-wrap")
