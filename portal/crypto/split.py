"""Shamir secret sharing over GF(2^8): a secret split into N shares, any K of which rebuild it.

Used for the key that locks a private key file split between holders (portal.crypto.keyfile,
docs/crypto.md "Key files"). Each byte of the secret is the constant term of its own random
polynomial of degree K-1 over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1); share x (1..N)
holds the polynomials' values at x. Fewer than K shares say nothing about the secret. The field
arithmetic uses no tables and no secret-dependent branches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from portal.crypto.errors import FormatError

MAX_SHARES = 16


def _mul(a: int, b: int) -> int:
    """a * b in GF(2^8), in constant time (masks, no branches on the operands)."""
    product = 0
    for _ in range(8):
        product ^= -(b & 1) & a
        high = -(a >> 7) & 0x1B
        a = ((a << 1) & 0xFF) ^ high
        b >>= 1
    return product & 0xFF


def _inverse(a: int) -> int:
    """a^254 = a^-1 for a != 0 (square and multiply over a fixed exponent)."""
    result, power = 1, a
    for bit in range(8):
        if (254 >> bit) & 1:  # the exponent is public: this branch reveals nothing
            result = _mul(result, power)
        power = _mul(power, power)
    return result


def split_secret(secret: bytes, threshold: int, count: int, random: Callable[[int], bytes] = os.urandom) -> list[tuple[int, bytes]]:
    """`count` shares (x, y) of `secret`; any `threshold` of them rebuild it."""
    if not 2 <= threshold <= count <= MAX_SHARES:
        raise FormatError(f"a split needs 2 <= K <= N <= {MAX_SHARES}")
    coefficients = [random(len(secret)) for _ in range(threshold - 1)]
    shares = []
    for x in range(1, count + 1):
        y = bytearray(secret)
        power = 1
        for coefficient in coefficients:  # y += c_j * x^j
            power = _mul(power, x)
            for i, c in enumerate(coefficient):
                y[i] ^= _mul(c, power)
        shares.append((x, bytes(y)))
    return shares


def combine_shares(shares: Sequence[tuple[int, bytes]]) -> bytes:
    """The secret from `threshold` shares (Lagrange interpolation at 0). The caller passes exactly
    `threshold` distinct shares; a wrong share gives a wrong secret, which the AEAD it opens refuses."""
    xs = [x for x, _ in shares]
    if len(set(xs)) != len(xs) or not all(1 <= x <= 255 for x in xs) or len({len(y) for _, y in shares}) != 1:
        raise FormatError("shares must be distinct and of one length")
    secret = bytearray(len(shares[0][1]))
    for j, (xj, yj) in enumerate(shares):
        numerator, denominator = 1, 1
        for m, (xm, _) in enumerate(shares):
            if m != j:
                numerator = _mul(numerator, xm)
                denominator = _mul(denominator, xm ^ xj)
        weight = _mul(numerator, _inverse(denominator))
        for i, byte in enumerate(yj):
            secret[i] ^= _mul(byte, weight)
    return bytes(secret)
