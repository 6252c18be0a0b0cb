"""Key files (portal.crypto.keyfile, docs/crypto.md "Key files"): passphrase, fingerprint binding, damage."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto import FormatError, IntegrityError
from portal.crypto.kdf import Argon2Params
from portal.crypto.keyfile import (
    PassphraseRequired,
    export_private_key,
    export_public_key,
    format_fingerprint,
    import_private_key,
    import_public_key,
    private_key_needs_passphrase,
    same_fingerprint,
)
from portal.crypto.keys import RecipientPrivateKey, export_recovery_private_key

CHEAP = Argon2Params(1, 8 * 1024, 1)
KEY = RecipientPrivateKey.generate()
OTHER = RecipientPrivateKey.generate()
LOCKED = export_private_key(KEY, "a passphrase of some length", CHEAP)


def _lines(text: str) -> list[str]:
    return text.splitlines()


def test_a_passphrase_protected_file_needs_its_passphrase():
    assert private_key_needs_passphrase(LOCKED) and not private_key_needs_passphrase(export_private_key(KEY))
    assert import_private_key(LOCKED, "a passphrase of some length").to_bytes() == KEY.to_bytes()
    with pytest.raises(PassphraseRequired):
        import_private_key(LOCKED)
    with pytest.raises(IntegrityError):
        import_private_key(LOCKED, "a passphrase of some lengtH")
    assert base64.b64decode(_lines(LOCKED)[2])[:2] == b"\x01\x31" and KEY.to_bytes() not in base64.b64decode(_lines(LOCKED)[2])


def test_the_fingerprint_line_is_bound_to_the_key():
    other_fingerprint = OTHER.public_key().fingerprint
    for text in (LOCKED, export_private_key(KEY)):
        lines = _lines(text)
        swapped = "\n".join([lines[0], other_fingerprint, lines[2]]) + "\n"
        with pytest.raises(IntegrityError):
            import_private_key(swapped, "a passphrase of some length")
    public = _lines(export_public_key(KEY.public_key()))
    with pytest.raises(IntegrityError):
        import_public_key("\n".join([public[0], other_fingerprint, public[2]]))


def test_a_public_file_is_not_a_private_one_and_back():
    with pytest.raises(FormatError):
        import_private_key(export_public_key(KEY.public_key()))
    with pytest.raises(FormatError):
        import_public_key(export_private_key(KEY))


@pytest.mark.parametrize("text", ["", "PORTAL-PRIVATE-KEY-V1\nabc\n", "PORTAL-PRIVATE-KEY-V1\n" + "0" * 32 + "\n!!!\n",
                                  "PORTAL-PRIVATE-KEY-V1\n" + "0" * 32 + "\n" + base64.b64encode(b"\x01\x39" + bytes(129)).decode(),
                                  "PORTAL-PRIVATE-KEY-V1\n" + "0" * 32 + "\n" + base64.b64encode(b"\x01\x30" + bytes(12)).decode(),
                                  "x" * 9000])
def test_damaged_files_are_format_errors(text):
    with pytest.raises(FormatError):
        import_private_key(text, "whatever passphrase")


def test_the_older_recovery_key_file_is_still_read():
    assert import_private_key(export_recovery_private_key(KEY)).to_bytes() == KEY.to_bytes()


def test_fingerprints_compare_as_people_type_them():
    fingerprint = KEY.public_key().fingerprint
    shown = format_fingerprint(fingerprint)
    assert len(shown.split()) == 8 and all(len(group) == 4 for group in shown.split())
    assert same_fingerprint(fingerprint, shown.upper()) and not same_fingerprint(fingerprint, OTHER.public_key().fingerprint)
    assert not same_fingerprint(fingerprint, "é" + fingerprint[1:])


@settings(max_examples=10, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_property_only_the_passphrase_opens_the_file(passphrase, other):
    text = export_private_key(KEY, passphrase, CHEAP)
    assert import_private_key(text, passphrase).to_bytes() == KEY.to_bytes()
    if other != passphrase:
        with pytest.raises(IntegrityError):
            import_private_key(text, other)
