"""Shamir sharing over GF(2^8) (portal.crypto.split) and key files split between holders."""

from __future__ import annotations

import base64
import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto import FormatError, IntegrityError
from portal.crypto.keyfile import SharesRequired, export_split_private_key, import_private_key, private_key_shares_needed
from portal.crypto.keys import RecipientPrivateKey
from portal.crypto.split import _inverse, _mul, combine_shares, split_secret


def _reference_mul(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


def test_the_field():
    assert all(_mul(a, b) == _reference_mul(a, b) for a in range(256) for b in range(256))
    assert all(_mul(a, _inverse(a)) == 1 for a in range(1, 256))


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=1, max_size=48), st.integers(2, 6), st.integers(0, 4))
def test_property_every_k_subset_rebuilds_the_secret(secret, threshold, extra):
    shares = split_secret(secret, threshold, threshold + extra)
    for subset in itertools.combinations(shares, threshold):
        assert combine_shares(list(subset)) == secret


def test_fewer_than_k_shares_fit_every_secret():
    """With K-1 shares fixed, every value of a secret byte is still possible (K = 2: one share)."""
    secret = os.urandom(1)
    (x, y), _ = split_secret(secret, 2, 2)
    candidates = {y[0] ^ _mul(c, x) for c in range(256)}  # the secret byte for each possible coefficient
    assert candidates == set(range(256))


@pytest.mark.parametrize("threshold, count", [(1, 3), (3, 2), (2, 17)])
def test_impossible_splits_are_refused(threshold, count):
    with pytest.raises(FormatError):
        split_secret(bytes(32), threshold, count)


def test_a_split_key_file():
    private = RecipientPrivateKey.generate()
    text, shares = export_split_private_key(private, 2, 3)
    assert private_key_shares_needed(text) == 2 and len(shares) == 3
    for pair in itertools.combinations(shares, 2):
        assert import_private_key(text, shares=list(pair)).to_bytes() == private.to_bytes()
    with pytest.raises(SharesRequired):
        import_private_key(text, shares=shares[:1])
    with pytest.raises(SharesRequired):
        import_private_key(text, shares=[shares[0], shares[0]])  # the same share twice counts once
    lines = shares[1].splitlines()
    damaged = bytearray(base64.b64decode(lines[2]))
    damaged[-1] ^= 1
    forged = "\n".join([lines[0], lines[1], base64.b64encode(bytes(damaged)).decode()])
    with pytest.raises(IntegrityError):
        import_private_key(text, shares=[shares[0], forged])
    _, strangers = export_split_private_key(private, 2, 3)
    with pytest.raises(FormatError, match="another key file"):
        import_private_key(text, shares=[shares[0], strangers[1]])
