"""Known answers and properties for the screening key (portal.crypto.screening, docs/crypto.md "Screening")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto import CryptoError, FormatError, IntegrityError
from portal.crypto.keys import X25519_SUITE, RecipientPrivateKey
from portal.crypto.screening import (
    hold_wrap,
    open_subjects,
    release_wrap,
    screening_private_key,
    seal_subjects,
    seal_subjects_inner,
    seal_subjects_outer,
)

HERE = Path(__file__).resolve().parent
V = json.loads((HERE / "screening_v1.json").read_text("utf-8"))
b = bytes.fromhex
PRIVATE = screening_private_key(b(V["key"]["secret"]))
REPORT_ID = b(V["report_id"])


def test_the_key_is_derived_as_documented():
    k = V["key"]
    assert (PRIVATE.mlkem_seed.hex(), PRIVATE.pq_x25519.hex(), PRIVATE.intake_x25519.hex()) == (
        k["mlkem_seed"], k["pq_x25519_private"], k["intake_x25519_private"])
    assert PRIVATE.public_key().to_bytes().hex() == k["public_key"]
    assert PRIVATE.public_key().fingerprint == k["fingerprint"]
    assert screening_private_key(os.urandom(32)).public_key().fingerprint != k["fingerprint"]


def test_the_inner_layer_opens_with_the_intake_half():
    inner = b(V["subjects_inner"]["inner"])
    opened = X25519_SUITE.decrypt(inner, x25519.X25519PrivateKey.from_private_bytes(PRIVATE.intake_x25519),
                                  info=b(V["subjects_inner"]["info"]))
    assert opened == b(V["document"])
    assert json.loads(opened)["people"][0]["name"] == "Sgt John O’Neill"


def test_the_frozen_subject_list_and_held_wrap_open():
    assert open_subjects(b(V["sealed_subjects"]), PRIVATE, REPORT_ID) == b(V["document"])
    held = V["held_wrap"]
    assert release_wrap(b(held["held"]), PRIVATE, REPORT_ID, held["fingerprint"]) == b(held["wrap"])


def test_what_does_not_open():
    sealed, held = b(V["sealed_subjects"]), V["held_wrap"]
    other = screening_private_key(os.urandom(32))
    with pytest.raises(IntegrityError):
        open_subjects(sealed, other, REPORT_ID)  # another triage host's key
    with pytest.raises(IntegrityError):
        open_subjects(sealed, PRIVATE, bytes(16))  # moved to another report
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(IntegrityError):
        open_subjects(bytes(tampered), PRIVATE, REPORT_ID)
    with pytest.raises(FormatError):
        open_subjects(b"\x01\x14" + sealed[2:], PRIVATE, REPORT_ID)  # a held wrap's header
    with pytest.raises(IntegrityError):  # a held wrap moved to another reviewer
        release_wrap(b(held["held"]), PRIVATE, REPORT_ID, "0" * 32)
    with pytest.raises(FormatError):
        release_wrap(b(held["held"]), PRIVATE, REPORT_ID, "short")
    with pytest.raises(FormatError):
        seal_subjects_inner(b"x" * (16 * 1024 + 1), PRIVATE.public_key().intake_x25519, REPORT_ID)


def test_the_screening_key_cannot_open_the_report_wraps_it_holds():
    """A held wrap is the reviewer's ordinary wrap: the screening key alone yields no DEK."""
    from portal.crypto.keys import unwrap_dek, wrap_dek

    reviewer = RecipientPrivateKey.generate()
    dek = os.urandom(32)
    wrap = wrap_dek(dek, reviewer.public_key(), REPORT_ID)
    released = release_wrap(hold_wrap(wrap, PRIVATE.public_key(), REPORT_ID, reviewer.public_key().fingerprint),
                            PRIVATE, REPORT_ID, reviewer.public_key().fingerprint)
    with pytest.raises(CryptoError):
        unwrap_dek(released, PRIVATE, REPORT_ID)
    assert unwrap_dek(released, reviewer, REPORT_ID) == dek


@settings(max_examples=25, deadline=None)
@given(document=st.binary(max_size=2048), report_id=st.binary(min_size=16, max_size=16))
def test_round_trip(document, report_id):
    sealed = seal_subjects(document, PRIVATE.public_key(), report_id)
    assert sealed[:2] == b"\x01\x13"
    assert open_subjects(sealed, PRIVATE, report_id) == document
    again = seal_subjects_outer(seal_subjects_inner(document, PRIVATE.public_key().intake_x25519, report_id),
                                PRIVATE.public_key(), report_id)
    assert again != sealed and open_subjects(again, PRIVATE, report_id) == document


def test_the_vector_file_is_up_to_date():
    proc = subprocess.run([sys.executable, str(HERE / "generate_screening_vectors.py"), "--check"],  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
