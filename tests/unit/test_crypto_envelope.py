"""Record envelopes (portal/crypto/envelope.py): round trips, context binding, tampering."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.crypto import CryptoError, FormatError, IntegrityError
from portal.crypto import envelope as env

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

DEK = bytes(range(32))
REPORT_ID = bytes(range(100, 116))
PURPOSES = sorted(env.PURPOSES)

keys32 = st.binary(min_size=32, max_size=32)
ids16 = st.binary(min_size=16, max_size=16)
purposes = st.sampled_from(PURPOSES)
record_ids = st.binary(max_size=40)


# -- round trips ----------------------------------------------------------------------------


@FAST
@given(dek=keys32, report_id=ids16, purpose=purposes, plaintext=st.binary(max_size=2000), record_id=record_ids)
def test_seal_open_round_trip(dek, report_id, purpose, plaintext, record_id):
    sealed = env.seal_record(dek, report_id, purpose, plaintext, record_id)
    assert len(sealed) == len(plaintext) + env.OVERHEAD
    assert sealed[:2] == bytes([env.VERSION, env.ALG_RECORD])
    if len(plaintext) >= 8:
        assert plaintext not in sealed
    assert env.open_record(dek, report_id, purpose, sealed, record_id) == plaintext


@FAST
@given(key=keys32, plaintext=st.binary(max_size=500), context=st.binary(max_size=64))
def test_seal_with_key_round_trip(key, plaintext, context):
    sealed = env.seal_with_key(key, plaintext, context)
    assert sealed[:2] == bytes([env.VERSION, env.ALG_DIRECT])
    assert env.open_with_key(key, sealed, context) == plaintext


def test_open_accepts_bytearray_and_memoryview():
    sealed = env.seal_record(DEK, REPORT_ID, "message", b"hello", b"m1")
    assert env.open_record(DEK, REPORT_ID, "message", bytearray(sealed), b"m1") == b"hello"
    assert env.open_record(DEK, REPORT_ID, "message", memoryview(sealed), b"m1") == b"hello"


def test_nonces_are_fresh():
    sealed = {env.seal_record(DEK, REPORT_ID, "report", b"same plaintext") for _ in range(50)}
    assert len(sealed) == 50
    assert len({s[2:14] for s in sealed}) == 50


def test_new_data_key():
    keys = {env.new_data_key() for _ in range(20)}
    assert len(keys) == 20 and all(len(k) == 32 for k in keys)


def test_record_keys_differ_by_purpose():
    assert len({env.record_key(DEK, p) for p in PURPOSES}) == len(PURPOSES)


# -- tampering ---------------------------------------------------------------------------------


def test_every_single_byte_flip_fails():
    plaintext = b'{"summary": "an allegation"}'
    sealed = env.seal_record(DEK, REPORT_ID, "report", plaintext, b"rec")
    for i in range(len(sealed)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(sealed)
            bad[i] ^= mask
            with pytest.raises(CryptoError) as info:
                env.open_record(DEK, REPORT_ID, "report", bytes(bad), b"rec")
            # the header is checked structurally, everything else by the tag
            assert isinstance(info.value, FormatError if i < env.HEADER_LEN else IntegrityError), i


def test_every_truncation_and_extension_fails():
    sealed = env.seal_record(DEK, REPORT_ID, "note", b"a short note", b"n")
    for n in range(len(sealed)):
        with pytest.raises(CryptoError) as info:
            env.open_record(DEK, REPORT_ID, "note", sealed[:n], b"n")
        assert isinstance(info.value, FormatError if n < env.OVERHEAD else IntegrityError)
    for extra in (b"\x00", b"garbage" * 3):
        with pytest.raises(IntegrityError):
            env.open_record(DEK, REPORT_ID, "note", sealed + extra, b"n")


@FAST
@given(plaintext=st.binary(max_size=300), position=st.integers(min_value=0), mask=st.integers(1, 255))
def test_random_flip_never_returns_plaintext(plaintext, position, mask):
    sealed = bytearray(env.seal_record(DEK, REPORT_ID, "message", plaintext, b"x"))
    sealed[position % len(sealed)] ^= mask
    with pytest.raises(CryptoError):
        env.open_record(DEK, REPORT_ID, "message", bytes(sealed), b"x")


def test_wrong_context_fails():
    sealed = env.seal_record(DEK, REPORT_ID, "message", b"body", b"msg-1")
    assert env.open_record(DEK, REPORT_ID, "message", sealed, b"msg-1") == b"body"
    other_report = bytes(16)
    with pytest.raises(IntegrityError):
        env.open_record(DEK, other_report, "message", sealed, b"msg-1")  # moved to another report
    with pytest.raises(IntegrityError):
        env.open_record(DEK, REPORT_ID, "note", sealed, b"msg-1")  # re-labelled as a note
    with pytest.raises(IntegrityError):
        env.open_record(DEK, REPORT_ID, "message", sealed, b"msg-2")  # swapped with another message
    with pytest.raises(IntegrityError):
        env.open_record(DEK, REPORT_ID, "message", sealed, b"")
    with pytest.raises(IntegrityError):
        env.open_record(os.urandom(32), REPORT_ID, "message", sealed, b"msg-1")  # another report's DEK


def test_purpose_and_record_id_are_not_ambiguous():
    # the purpose is length-prefixed, so ("note", b"s...") cannot collide with a longer label
    assert env.record_context(REPORT_ID, "note", b"") != env.record_context(REPORT_ID, "message", b"")
    sealed = env.seal_record(DEK, REPORT_ID, "report", b"x", b"")
    with pytest.raises(IntegrityError):
        env.open_record(DEK, REPORT_ID, "report", sealed, b"\x00")


def test_direct_seal_binds_context_and_key():
    key = os.urandom(32)
    sealed = env.seal_with_key(key, b"secret", b"ctx-a")
    with pytest.raises(IntegrityError):
        env.open_with_key(key, sealed, b"ctx-b")
    with pytest.raises(IntegrityError):
        env.open_with_key(os.urandom(32), sealed, b"ctx-a")


def test_algorithm_confusion_is_refused():
    record = env.seal_record(DEK, REPORT_ID, "report", b"x")
    direct = env.seal_with_key(DEK, b"x", REPORT_ID)
    with pytest.raises(FormatError):
        env.open_with_key(DEK, record, REPORT_ID)
    with pytest.raises(FormatError):
        env.open_record(DEK, REPORT_ID, "report", direct)


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_unknown_version_is_format_error(version):
    sealed = bytearray(env.seal_record(DEK, REPORT_ID, "report", b"x"))
    sealed[0] = version
    with pytest.raises(FormatError):
        env.open_record(DEK, REPORT_ID, "report", bytes(sealed))


@pytest.mark.parametrize("alg", [0x00, 0x02, 0x03, 0x11, 0xFF])
def test_unknown_algorithm_is_format_error(alg):
    sealed = bytearray(env.seal_record(DEK, REPORT_ID, "report", b"x"))
    sealed[1] = alg
    with pytest.raises(FormatError):
        env.open_record(DEK, REPORT_ID, "report", bytes(sealed))


# -- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, "text", 12345])
def test_non_bytes_sealed_is_format_error(bad):
    with pytest.raises(FormatError):
        env.open_record(DEK, REPORT_ID, "report", bad)


def test_bad_arguments_are_format_errors():
    with pytest.raises(FormatError):
        env.seal_record(DEK, REPORT_ID, "not-a-purpose", b"x")
    with pytest.raises(FormatError):
        env.seal_record(DEK, REPORT_ID[:15], "report", b"x")
    with pytest.raises(FormatError):
        env.seal_record(DEK[:31], REPORT_ID, "report", b"x")
    with pytest.raises(FormatError):
        env.seal_with_key(b"short", b"x", b"")
    with pytest.raises(FormatError):
        env.open_with_key(b"\x00" * 33, env.seal_with_key(DEK, b"x", b""), b"")
    sealed = env.seal_record(DEK, REPORT_ID, "report", b"x")
    with pytest.raises(FormatError):
        env.open_record(DEK, REPORT_ID, "bogus", sealed)


def test_error_messages_carry_no_secrets():
    plaintext = b"PLAINTEXT-MARKER"
    sealed = bytearray(env.seal_record(DEK, REPORT_ID, "report", plaintext))
    sealed[-1] ^= 1
    with pytest.raises(CryptoError) as info:
        env.open_record(DEK, REPORT_ID, "report", bytes(sealed))
    text = str(info.value) + repr(info.value)
    assert "PLAINTEXT" not in text and DEK.hex() not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
