"""Key pairs, nested DEK wraps, locked reviewer keys, sessions, recovery files (portal/crypto/keys.py)."""

from __future__ import annotations

import base64
import dataclasses
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto import CryptoError, FormatError, IntegrityError, envelope, kdf, keys, receipt, stream
from portal.crypto.kdf import PASSPHRASE_ARGON2, Argon2Params

CHEAP = Argon2Params(1, 8192, 1)
REPORT_ID = bytes(range(16))
OTHER_REPORT = bytes(range(1, 17))


@pytest.fixture(scope="module")
def alice() -> keys.RecipientPrivateKey:
    return keys.RecipientPrivateKey.generate()


@pytest.fixture(scope="module")
def bob() -> keys.RecipientPrivateKey:
    return keys.RecipientPrivateKey.generate()


@pytest.fixture(scope="module")
def secret() -> bytes:
    return receipt.receipt_secret(receipt.generate_receipt_code(), b"install-salt-16b", CHEAP)


# -- recipient keys ----------------------------------------------------------------------------


def test_key_encodings_round_trip(alice):
    raw = alice.to_bytes()
    assert len(raw) == keys.PRIVATE_LEN and raw[0] == keys.KEY_FORMAT
    assert keys.RecipientPrivateKey.from_bytes(raw) == alice
    pub = alice.public_key()
    assert len(pub.to_bytes()) == keys.PUBLIC_LEN
    assert keys.RecipientPublicKey.from_bytes(pub.to_bytes()) == pub
    assert len(pub.fingerprint) == 32 and int(pub.fingerprint, 16) >= 0
    assert alice.public_key() == pub  # deterministic from the private key


def test_generated_keys_are_distinct(alice, bob):
    assert alice.to_bytes() != bob.to_bytes()
    assert alice.public_key().fingerprint != bob.public_key().fingerprint
    assert alice.pq_x25519 != alice.intake_x25519


def test_private_key_repr_hides_material(alice):
    text = repr(alice) + str(alice)
    for part in (alice.mlkem_seed, alice.pq_x25519, alice.intake_x25519):
        assert part.hex() not in text
    assert "secret" in text


@pytest.mark.parametrize("cut", [0, 1, keys.PUBLIC_LEN - 1])
def test_malformed_public_key(alice, cut):
    raw = alice.public_key().to_bytes()
    with pytest.raises(FormatError):
        keys.RecipientPublicKey.from_bytes(raw[:cut])
    with pytest.raises(FormatError):
        keys.RecipientPublicKey.from_bytes(raw + b"\x00")
    with pytest.raises(FormatError):
        keys.RecipientPublicKey.from_bytes(b"\x02" + raw[1:])


def test_malformed_private_key(alice):
    raw = alice.to_bytes()
    for bad in (raw[:-1], raw + b"\x00", b"\x09" + raw[1:], b""):
        with pytest.raises(FormatError):
            keys.RecipientPrivateKey.from_bytes(bad)


def test_unusable_public_keys_are_crypto_errors(alice):
    dek = os.urandom(32)
    pub = alice.public_key()
    with pytest.raises(FormatError):
        keys.seal_inner(dek, b"\x00" * 31, REPORT_ID)
    # low-order X25519 points (all-zero shared secret) are refused, as CryptoErrors
    for low_order in (bytes(32), b"\x01" + bytes(31)):
        with pytest.raises(FormatError):
            keys.seal_inner(dek, low_order, REPORT_ID)
        with pytest.raises(FormatError):
            keys.wrap_dek(dek, dataclasses.replace(pub, pq_x25519=low_order), REPORT_ID)
    with pytest.raises(FormatError):
        keys.wrap_dek(dek, dataclasses.replace(pub, mlkem=b"\xff" * keys.MLKEM_PUBLIC_LEN), REPORT_ID)


# -- recipient wraps ----------------------------------------------------------------------------


def test_wrap_unwrap_round_trip(alice):
    pub = alice.public_key()
    for _ in range(5):
        dek = envelope.new_data_key()
        wrap = keys.wrap_dek(dek, pub, REPORT_ID)
        assert wrap[:2] == bytes([1, keys.ALG_WRAP_RECIPIENT])
        assert dek not in wrap
        assert keys.unwrap_dek(wrap, alice, REPORT_ID) == dek


def test_wraps_are_randomised(alice):
    dek = os.urandom(32)
    a, b = keys.wrap_dek(dek, alice.public_key(), REPORT_ID), keys.wrap_dek(dek, alice.public_key(), REPORT_ID)
    assert a != b


def test_wrong_recipient_fails(alice, bob):
    wrap = keys.wrap_dek(os.urandom(32), alice.public_key(), REPORT_ID)
    with pytest.raises(IntegrityError):
        keys.unwrap_dek(wrap, bob, REPORT_ID)


def test_wrap_moved_to_another_report_fails(alice):
    dek = os.urandom(32)
    wrap = keys.wrap_dek(dek, alice.public_key(), REPORT_ID)
    with pytest.raises(IntegrityError):
        keys.unwrap_dek(wrap, alice, OTHER_REPORT)
    # rebuilding the outer layer for the other report does not help: the inner is bound too
    inner = keys.seal_inner(dek, alice.public_key().intake_x25519, REPORT_ID)
    moved = keys.wrap_inner_for_recipient(inner, alice.public_key(), OTHER_REPORT)
    with pytest.raises(IntegrityError):
        keys.unwrap_dek(moved, alice, OTHER_REPORT)


def test_nested_wrap_needs_both_layers(alice, bob):
    dek = os.urandom(32)
    pub = alice.public_key()
    # the right outer layer around an inner made for somebody else's intake key
    foreign_inner = keys.seal_inner(dek, bob.public_key().intake_x25519, REPORT_ID)
    with pytest.raises(IntegrityError):
        keys.unwrap_dek(keys.wrap_inner_for_recipient(foreign_inner, pub, REPORT_ID), alice, REPORT_ID)
    wrap = keys.wrap_dek(dek, pub, REPORT_ID)
    # the classical intake key alone, or with the wrong post-quantum half, cannot open the wrap
    wrong_pq = dataclasses.replace(alice, mlkem_seed=bob.mlkem_seed)
    wrong_pq_x = dataclasses.replace(alice, pq_x25519=bob.pq_x25519)
    wrong_intake = dataclasses.replace(alice, intake_x25519=bob.intake_x25519)
    for key in (wrong_pq, wrong_pq_x, wrong_intake):
        with pytest.raises(IntegrityError):
            keys.unwrap_dek(wrap, key, REPORT_ID)
    # ...while the intake key opens a bare inner layer: the outer layer is what the PQ key adds
    inner = keys.seal_inner(dek, pub.intake_x25519, REPORT_ID)
    assert keys.open_inner(inner, alice._intake(), REPORT_ID) == dek
    assert keys.unwrap_dek(keys.wrap_inner_for_recipient(inner, pub, REPORT_ID), alice, REPORT_ID) == dek
    # a bare inner is not a wrap
    with pytest.raises(CryptoError):
        keys.unwrap_dek(inner, alice, REPORT_ID)


def test_every_byte_flip_in_a_wrap_fails(alice):
    dek = os.urandom(32)
    wrap = keys.wrap_dek(dek, alice.public_key(), REPORT_ID)
    for i in range(len(wrap)):
        bad = bytearray(wrap)
        bad[i] ^= 0x01
        with pytest.raises(CryptoError) as info:
            keys.unwrap_dek(bytes(bad), alice, REPORT_ID)
        assert isinstance(info.value, FormatError if i < 2 else IntegrityError), i


def test_truncated_and_extended_wraps_fail(alice):
    wrap = keys.wrap_dek(os.urandom(32), alice.public_key(), REPORT_ID)
    for n in (0, 1, 2, 3, 100, 1120, len(wrap) - 16, len(wrap) - 1):
        with pytest.raises(CryptoError):
            keys.unwrap_dek(wrap[:n], alice, REPORT_ID)
    with pytest.raises(CryptoError):
        keys.unwrap_dek(wrap + b"\x00", alice, REPORT_ID)


def test_inner_layer_checks(alice):
    dek = os.urandom(32)
    inner = keys.seal_inner(dek, alice.public_key().intake_x25519, REPORT_ID)
    assert len(inner) == keys.INNER_WRAP_LEN
    with pytest.raises(FormatError):
        keys.open_inner(inner[:-1], alice._intake(), REPORT_ID)
    with pytest.raises(IntegrityError):
        keys.open_inner(inner, alice._intake(), OTHER_REPORT)
    for i in (0, 31, 32, 50, len(inner) - 1):
        bad = bytearray(inner)
        bad[i] ^= 0x04
        with pytest.raises(IntegrityError):
            keys.open_inner(bytes(bad), alice._intake(), REPORT_ID)
    with pytest.raises(FormatError):
        keys.wrap_inner_for_recipient(inner + b"x", alice.public_key(), REPORT_ID)
    with pytest.raises(FormatError):
        keys.seal_inner(dek[:16], alice.public_key().intake_x25519, REPORT_ID)
    with pytest.raises(FormatError):
        keys.wrap_dek(dek, alice.public_key(), REPORT_ID[:15])


@pytest.mark.parametrize("header", [b"\x00\x11", b"\x02\x11", b"\x01\x12", b"\x01\x01", b"\x01\xff"])
def test_wrap_header_is_checked(alice, header):
    wrap = keys.wrap_dek(os.urandom(32), alice.public_key(), REPORT_ID)
    with pytest.raises(FormatError):
        keys.unwrap_dek(header + wrap[2:], alice, REPORT_ID)


# -- reporter wraps -------------------------------------------------------------------------------


def test_reporter_wrap_round_trip(secret):
    dek = os.urandom(32)
    wrap = keys.wrap_dek_for_reporter(dek, secret, REPORT_ID)
    assert wrap[:2] == bytes([1, keys.ALG_WRAP_REPORTER])
    assert keys.unwrap_dek_for_reporter(wrap, secret, REPORT_ID) == dek


def test_reporter_wrap_needs_the_right_secret(secret):
    dek = os.urandom(32)
    wrap = keys.wrap_dek_for_reporter(dek, secret, REPORT_ID)
    other = receipt.receipt_secret(receipt.generate_receipt_code(), b"install-salt-16b", CHEAP)
    with pytest.raises(IntegrityError):
        keys.unwrap_dek_for_reporter(wrap, other, REPORT_ID)
    with pytest.raises(IntegrityError):
        keys.unwrap_dek_for_reporter(wrap, secret, OTHER_REPORT)
    with pytest.raises(CryptoError):
        keys.unwrap_dek_for_reporter(wrap, secret[:31], REPORT_ID)


def test_reporter_wrap_is_nested(secret):
    dek = os.urandom(32)
    # an inner made for another X25519 key inside the right symmetric layer does not open
    stranger = keys.RecipientPrivateKey.generate().public_key().intake_x25519
    foreign = keys.wrap_inner_for_reporter(keys.seal_inner(dek, stranger, REPORT_ID), secret, REPORT_ID)
    with pytest.raises(IntegrityError):
        keys.unwrap_dek_for_reporter(foreign, secret, REPORT_ID)
    # the right inner under the wrong symmetric layer does not open either
    inner = keys.seal_inner(dek, keys.reporter_public_key(secret), REPORT_ID)
    sealed = envelope.seal_with_key(os.urandom(32), inner, bytes([keys.ALG_WRAP_REPORTER]) + REPORT_ID)
    with pytest.raises(IntegrityError):
        keys.unwrap_dek_for_reporter(bytes([1, keys.ALG_WRAP_REPORTER]) + sealed, secret, REPORT_ID)
    # the browser path: inner made separately, outer added by the server
    assert keys.unwrap_dek_for_reporter(keys.wrap_inner_for_reporter(inner, secret, REPORT_ID), secret, REPORT_ID) == dek


def test_reporter_and_recipient_wraps_are_not_interchangeable(alice, secret):
    dek = os.urandom(32)
    reporter_wrap = keys.wrap_dek_for_reporter(dek, secret, REPORT_ID)
    recipient_wrap = keys.wrap_dek(dek, alice.public_key(), REPORT_ID)
    with pytest.raises(FormatError):
        keys.unwrap_dek(reporter_wrap, alice, REPORT_ID)
    with pytest.raises(FormatError):
        keys.unwrap_dek_for_reporter(recipient_wrap, secret, REPORT_ID)


def test_every_byte_flip_in_a_reporter_wrap_fails(secret):
    wrap = keys.wrap_dek_for_reporter(os.urandom(32), secret, REPORT_ID)
    for i in range(len(wrap)):
        bad = bytearray(wrap)
        bad[i] ^= 0x10
        with pytest.raises(CryptoError):
            keys.unwrap_dek_for_reporter(bytes(bad), secret, REPORT_ID)


# -- locked private keys ------------------------------------------------------------------------


def test_lock_unlock(alice):
    locked = keys.lock_private_key(alice, "correct horse battery staple", CHEAP)
    assert locked[:2] == bytes([1, keys.ALG_LOCKED_KEY])
    assert Argon2Params.decode(locked[2:14]) == CHEAP
    assert alice.to_bytes() not in locked
    assert keys.unlock_private_key(locked, "correct horse battery staple") == alice


def test_unlock_with_wrong_passphrase(alice):
    locked = keys.lock_private_key(alice, "passphrase one", CHEAP)
    for wrong in ("passphrase two", "Passphrase one", "passphrase one ", ""):
        with pytest.raises(IntegrityError):
            keys.unlock_private_key(locked, wrong)


def test_unicode_passphrase(alice):
    locked = keys.lock_private_key(alice, "Grüße — 警察 🔑", CHEAP)
    assert keys.unlock_private_key(locked, "Grüße — 警察 🔑") == alice
    with pytest.raises(IntegrityError):
        keys.unlock_private_key(locked, "Gruße — 警察 🔑")


def test_locks_are_salted(alice):
    a = keys.lock_private_key(alice, "same", CHEAP)
    b = keys.lock_private_key(alice, "same", CHEAP)
    assert a[14:30] != b[14:30] and a != b


def test_damaged_locked_key(alice):
    locked = keys.lock_private_key(alice, "pw", CHEAP)
    for i in list(range(0, 2)) + list(range(14, len(locked), 7)):
        bad = bytearray(locked)
        bad[i] ^= 0x01
        with pytest.raises(CryptoError) as info:
            keys.unlock_private_key(bytes(bad), "pw")
        assert isinstance(info.value, FormatError if i < 2 else IntegrityError), i
    for n in (0, 2, 29, 30, 40):
        with pytest.raises(CryptoError):
            keys.unlock_private_key(locked[:n], "pw")


def test_locked_key_params_are_authenticated_and_range_checked(alice):
    locked = keys.lock_private_key(alice, "pw", CHEAP)
    # a different but valid parameter set: authenticated as associated data
    tweaked = locked[:2] + Argon2Params(2, 8192, 1).encode() + locked[14:]
    with pytest.raises(IntegrityError):
        keys.unlock_private_key(tweaked, "pw")
    # absurd parameters are refused before any work is done
    for t, m, p in ((0, 8192, 1), (1, 1024, 1), (1, 8 * 1024 * 1024, 1), (1, 8192, 0), (65, 8192, 1)):
        with pytest.raises(FormatError):
            keys.unlock_private_key(locked[:2] + Argon2Params(t, m, p).encode() + locked[14:], "pw")
    with pytest.raises(FormatError):
        keys.lock_private_key(alice, "pw", Argon2Params(1, 1024, 1))


def test_argon2_params_encoding():
    assert CHEAP.encode() == bytes.fromhex("000000010000200000000001")
    assert Argon2Params.decode(PASSPHRASE_ARGON2.encode()) == PASSPHRASE_ARGON2
    with pytest.raises(FormatError):
        Argon2Params.decode(b"\x00" * 11)


def test_change_passphrase_keeps_the_key_and_upgrades_params(alice):
    locked = keys.lock_private_key(alice, "old passphrase", CHEAP)
    relocked = keys.change_passphrase(locked, "old passphrase", "new passphrase")
    assert relocked != locked
    # re-locked with the current parameters (kdf.PASSPHRASE_ARGON2, cheap under tests/conftest.py),
    # not with whatever the old blob used
    assert Argon2Params.decode(relocked[2:14]) == kdf.PASSPHRASE_ARGON2
    assert keys.unlock_private_key(relocked, "new passphrase") == alice
    with pytest.raises(IntegrityError):
        keys.unlock_private_key(relocked, "old passphrase")
    with pytest.raises(IntegrityError):
        keys.change_passphrase(locked, "not the old one", "whatever")


def test_wraps_survive_a_passphrase_change(alice):
    # change_passphrase must not change the key: wraps made before still open after
    dek = os.urandom(32)
    wrap = keys.wrap_dek(dek, alice.public_key(), REPORT_ID)
    relocked = keys.change_passphrase(keys.lock_private_key(alice, "a", CHEAP), "a", "b")
    assert keys.unwrap_dek(wrap, keys.unlock_private_key(relocked, "b"), REPORT_ID) == dek


def test_personal_key(alice, bob):
    k = keys.personal_key(alice)
    assert len(k) == 32 and k == keys.personal_key(keys.RecipientPrivateKey.from_bytes(alice.to_bytes()))
    assert k != keys.personal_key(bob)
    assert k not in alice.to_bytes()


# -- recovery key files --------------------------------------------------------------------------


def test_recovery_export_import_round_trip(alice):
    text = keys.export_recovery_private_key(alice)
    lines = text.splitlines()
    assert lines[0] == "PORTAL-RECOVERY-KEY-V1"
    assert lines[1] == alice.public_key().fingerprint
    assert base64.b64decode(lines[2]) == alice.to_bytes()
    assert keys.import_recovery_private_key(text) == alice
    # tolerant of surrounding whitespace and CRLF line ends (files travel through e-mail and USB sticks)
    assert keys.import_recovery_private_key("\n  " + text.replace("\n", "\r\n") + "\n\n") == alice


def test_recovery_file_damaged(alice):
    text = keys.export_recovery_private_key(alice)
    banner, fingerprint, body = text.splitlines()
    flipped = body[:40] + ("A" if body[40] != "A" else "B") + body[41:]
    cases = [
        "",
        "garbage",
        f"{banner}\n{fingerprint}\n",  # body missing
        f"{banner}\n{fingerprint}\n{body[:-4]}\n",  # truncated
        f"{banner}\n{fingerprint}\n{body}!!\n",  # not base64
        f"{banner}\n{fingerprint}\n{body}\nextra\n",
        f"PORTAL-RECOVERY-KEY-V2\n{fingerprint}\n{body}\n",
        f"{banner}\n{fingerprint}\n{base64.b64encode(b'x' * keys.PRIVATE_LEN).decode()}\n",  # wrong key format byte
        f"{banner}\n{fingerprint}\n{flipped}\n",  # one character changed
        f"{banner}\n{fingerprint}\n{body}\u00e9\n",
    ]
    for case in cases:
        with pytest.raises(CryptoError):
            keys.import_recovery_private_key(case)


def test_recovery_file_wrong_fingerprint(alice, bob):
    text = keys.export_recovery_private_key(alice)
    banner, _, body = text.splitlines()
    with pytest.raises(IntegrityError):
        keys.import_recovery_private_key(f"{banner}\n{bob.public_key().fingerprint}\n{body}\n")
    with pytest.raises(IntegrityError):
        keys.import_recovery_private_key(f"{banner}\n{'0' * 32}\n{body}\n")


def test_full_recovery_from_the_exported_key_file_alone():
    """Everything a report holds can be recovered with only the recovery key file and the stored blobs."""
    recovery = keys.RecipientPrivateKey.generate()
    key_file_text = keys.export_recovery_private_key(recovery)
    published = recovery.public_key().to_bytes()  # what the server holds
    del recovery

    # -- the portal stores a report (it only ever sees the public key)
    report_id, attachment_id = os.urandom(16), os.urandom(16)
    dek = envelope.new_data_key()
    record_plain = b'{"summary": "falsified custody record", "station": "north"}'
    attachment_plain = os.urandom(5 * 1024 + 17)
    stored_record = envelope.seal_record(dek, report_id, "report", record_plain)
    blob = io.BytesIO()
    stream.encrypt_stream(dek, report_id, attachment_id, io.BytesIO(attachment_plain), blob, chunk_log2=10)
    stored_wrap = keys.wrap_dek(dek, keys.RecipientPublicKey.from_bytes(published), report_id)
    stored = {"record": stored_record, "blob": blob.getvalue(), "wrap": stored_wrap}
    del dek

    # -- years later: only the key file text and the stored blobs
    restored = keys.import_recovery_private_key(key_file_text)
    dek = keys.unwrap_dek(stored["wrap"], restored, report_id)
    assert envelope.open_record(dek, report_id, "report", stored["record"]) == record_plain
    out = io.BytesIO()
    stream.decrypt_stream(dek, report_id, attachment_id, io.BytesIO(stored["blob"]), out)
    assert out.getvalue() == attachment_plain


# -- property: any DEK, any report id --------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(dek=st.binary(min_size=32, max_size=32), report_id=st.binary(min_size=16, max_size=16))
def test_wrap_round_trip_property(dek, report_id):
    recipient = _PROPERTY_KEY
    assert keys.unwrap_dek(keys.wrap_dek(dek, recipient.public_key(), report_id), recipient, report_id) == dek
    secret = _PROPERTY_SECRET
    assert keys.unwrap_dek_for_reporter(keys.wrap_dek_for_reporter(dek, secret, report_id), secret, report_id) == dek


_PROPERTY_KEY = keys.RecipientPrivateKey.generate()
_PROPERTY_SECRET = os.urandom(32)
