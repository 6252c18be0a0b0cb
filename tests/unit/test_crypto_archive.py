"""Known answers and properties of the backup archive's header tag and keys (portal.crypto.archive).

The expected values were computed once and are checked here against an independent RFC 5869
HKDF written with the standard library's hmac, so a change of label, hash or order fails."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.crypto.archive import check_header_tag, header_tag, legacy_stream_key, stream_key
from portal.crypto.errors import IntegrityError

KEY = bytes(range(32))
PREFIX = b"PORTAL-BACKUP-3\n" + bytes([0x40]) + bytes(16) + (2).to_bytes(2, "big") + b"{}"
TAG = "a8a10af4740e0b0e82c4a5836364d5351b4974f03d734887759006caf16f3308"
STREAM_KEY = "b01f34627501cd6097c463bb667a4109ff1bb733f29e01456f9fba695ded72cc"
LEGACY_KEY = "3b0bc695ff3da1711ecd0f43eb23255dc8a6a3b1c87002070c155e62bd32d7d7"


def rfc5869(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def test_known_answers():
    assert header_tag(KEY, PREFIX).hex() == TAG
    assert stream_key(KEY, PREFIX).hex() == STREAM_KEY
    assert legacy_stream_key(KEY).hex() == LEGACY_KEY


def test_known_answers_match_an_independent_construction():
    assert hmac.new(rfc5869(KEY, b"portal/v1/backup-header"), PREFIX, hashlib.sha256).hexdigest() == TAG
    assert rfc5869(KEY, b"portal/v1/backup-3" + hashlib.sha256(PREFIX).digest()).hex() == STREAM_KEY
    assert rfc5869(KEY, b"portal/v1/backup").hex() == LEGACY_KEY


@given(prefix=st.binary(min_size=1, max_size=200), position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_changed_bit_of_the_header_fails_the_tag_and_changes_the_key(prefix, position, bit):
    tag = header_tag(KEY, prefix)
    check_header_tag(KEY, prefix, tag)
    changed = bytearray(prefix)
    changed[position % len(prefix)] ^= 1 << bit
    with pytest.raises(IntegrityError):
        check_header_tag(KEY, bytes(changed), tag)
    assert stream_key(KEY, bytes(changed)) != stream_key(KEY, prefix)


@given(other=st.binary(min_size=32, max_size=32).filter(lambda k: k != KEY))
def test_another_backup_key_cannot_make_the_tag(other):
    with pytest.raises(IntegrityError):
        check_header_tag(other, PREFIX, bytes.fromhex(TAG))
