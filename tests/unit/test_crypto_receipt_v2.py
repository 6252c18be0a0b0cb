"""Receipt format v2 properties (portal/crypto/receipt.py, keys.py): the known answers are in
tests/vectors/test_receipt_v2_vectors.py; these try random inputs against what must always hold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto import CryptoError, keys, receipt

secrets_ = st.binary(min_size=32, max_size=32)
ids = st.binary(min_size=16, max_size=16)


@settings(max_examples=50, deadline=None)
@given(secret=secrets_, pepper=secrets_)
def test_token_root_and_lookup_ids_are_distinct_and_deterministic(secret, pepper):
    token, root = receipt.lookup_token(secret), receipt.reporter_root(secret)
    assert len(token) == len(root) == 32 and token != root and secret not in (token, root)
    assert (receipt.lookup_token(secret), receipt.reporter_root(secret)) == (token, root)
    assert receipt.lookup_id_v2(token, pepper) != receipt.lookup_id(secret, pepper)
    assert receipt.lookup_id_v2(token, pepper) != receipt.lookup_id_v2(token, bytes(b ^ 1 for b in pepper))


@settings(max_examples=15, deadline=None)
@given(secret=secrets_, dek=secrets_, report_id=ids, other_id=ids)
def test_a_v2_wrap_opens_with_its_root_or_secret_and_nothing_the_server_holds(secret, dek, report_id, other_id):
    root, token = receipt.reporter_root(secret), receipt.lookup_token(secret)
    wrap = keys.wrap_dek_for_reporter_root(dek, root, report_id)
    keys.check_reporter_wrap_v2(wrap)
    assert keys.unwrap_dek_for_reporter_root(wrap, root, report_id) == dek
    assert keys.unwrap_dek_for_reporter(wrap, secret, report_id) == dek
    with pytest.raises(CryptoError):
        keys.unwrap_dek_for_reporter_root(wrap, token, report_id)
    if other_id != report_id:
        with pytest.raises(CryptoError):
            keys.unwrap_dek_for_reporter_root(wrap, root, other_id)


@settings(max_examples=25, deadline=None)
@given(secret=secrets_, dek=secrets_, report_id=ids, cut=st.integers(min_value=1, max_value=111), flip=st.integers(0, 111))
def test_a_damaged_v2_wrap_is_refused(secret, dek, report_id, cut, flip):
    root = receipt.reporter_root(secret)
    wrap = keys.wrap_dek_for_reporter_root(dek, root, report_id)
    with pytest.raises(CryptoError):
        keys.check_reporter_wrap_v2(wrap[:-cut])
    damaged = bytearray(wrap)
    damaged[flip] ^= 0x01
    with pytest.raises(CryptoError):
        keys.unwrap_dek_for_reporter_root(bytes(damaged), root, report_id)
