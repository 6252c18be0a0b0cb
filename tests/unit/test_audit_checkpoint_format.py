"""The signed checkpoint format (portal/crypto/checkpoint.py, docs/crypto.md "Audit checkpoints"):
a known-answer vector, and properties: what is signed parses back, anything changed does not."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.crypto import CryptoError
from portal.crypto import checkpoint as cp

SEED = bytes(range(32))
HEAD = hashlib.sha256(b"portal audit head").digest()
VECTOR = ('{"v":1,"kind":"checkpoint","seq":42,"head":"3088cbd70ae57a5c40a3123656106078ca1bc5be4fa04a7e232d56dc7295e0e0",'
          '"at":"20261206T120000Z","key":"56475aa75463474c","sig":"LD3c7PRiamvDAOActvvoIKFqMhb6f6NBu3uzXX00svKFyd0D4h+4qthTc2Hx'
          'YlSP+vYKsW07pzalQj/kvd8RDg=="}')


def test_known_answer_vector():
    public = cp.public_key(SEED)
    assert cp.public_key_text(public) == "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    assert cp.fingerprint(public) == "56475aa75463474c"
    assert cp.sign(SEED, "checkpoint", 42, HEAD, "20261206T120000Z").to_line() == VECTOR  # Ed25519 is deterministic
    parsed = cp.parse(VECTOR, public)
    assert (parsed.kind, parsed.seq, parsed.head, parsed.at) == ("checkpoint", 42, HEAD, "20261206T120000Z")


def test_the_signed_message_is_the_documented_one():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    message = b"portal/v1/audit-checkpoint\ncheckpoint\n42\n" + HEAD.hex().encode() + b"\n20261206T120000Z\n"
    signature = Ed25519PrivateKey.from_private_bytes(SEED).sign(message)
    assert json.loads(VECTOR)["sig"] == base64.b64encode(signature).decode()


@given(kind=st.sampled_from(cp.KINDS), seq=st.integers(0, 2**53), head=st.binary(min_size=32, max_size=32),
       at=st.datetimes(min_value=dt.datetime(2000, 1, 1)).map(lambda d: d.strftime("%Y%m%dT%H%M%SZ")))
def test_what_is_signed_parses_back(kind, seq, head, at):
    line = cp.sign(SEED, kind, seq, head, at).to_line()
    parsed = cp.parse(line, cp.public_key(SEED))
    assert (parsed.kind, parsed.seq, parsed.head, parsed.at) == (kind, seq, head, at)


@given(field=st.sampled_from(["kind", "seq", "head", "at"]), data=st.data())
def test_any_changed_field_is_refused(field, data):
    record = json.loads(VECTOR)
    changed = {
        "kind": "restore",
        "seq": data.draw(st.integers(0, 2**40).filter(lambda n: n != 42)),
        "head": data.draw(st.binary(min_size=32, max_size=32).filter(lambda b: b != HEAD)).hex(),
        "at": "20261206T120001Z",
    }[field]
    record[field] = changed
    with pytest.raises(CryptoError):
        cp.parse(json.dumps(record), cp.public_key(SEED))


@pytest.mark.parametrize("line", ["", "{}", "not json", VECTOR.replace('"v":1', '"v":2'), VECTOR.replace("42", "true"),
                                  VECTOR.replace("42", "-1"), VECTOR.replace('"sig":"', '"sig":"!'), VECTOR + " " * 1024])
def test_malformed_lines_are_refused(line):
    with pytest.raises(CryptoError):
        cp.parse(line, cp.public_key(SEED))


def test_another_instance_key_is_refused():
    with pytest.raises(CryptoError):
        cp.parse(VECTOR, cp.public_key(b"\x01" * 32))
