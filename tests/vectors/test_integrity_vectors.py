"""Integrity known-answer vectors (integrity_v1.json) and properties, against portal.crypto.integrity.

The browser checks the commitment and the report signature of the same file in
tests/js/integrity.test.mjs.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto import FormatError, IntegrityError
from portal.crypto import integrity as ig

HERE = Path(__file__).resolve().parent
V = json.loads((HERE / "integrity_v1.json").read_text("utf-8"))


def b(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr)


def test_file_matches_its_generator():
    import generate_integrity_vectors as gen

    assert gen.render(gen.build()) == (HERE / "integrity_v1.json").read_text("utf-8")


def test_key_commitment():
    c = V["commitment"]
    assert ig.key_commitment(b(c["dek"]), b(c["report_id"])) == b(c["commitment"])
    ig.check_commitment(b(c["dek"]), b(c["report_id"]), b(c["commitment"]))
    with pytest.raises(IntegrityError):
        ig.check_commitment(bytes(32), b(c["report_id"]), b(c["commitment"]))


def test_report_statement_and_signature():
    r = V["report"]
    files = [ig.FileEntry.of(b(f["id"]), b(f["sealed_meta"])) for f in reversed(r["files"])]  # order does not matter
    statement = ig.report_statement(b(r["report_id"]), dt.date.fromisoformat(r["received_on"]), b(r["commitment"]),
                                    b(r["sealed_report"]), files)
    assert statement == b(r["statement"])
    assert ig.signer_public_key(b(r["seed"])) == b(r["public_key"])
    assert ig.sign(b(r["seed"]), statement) == b(r["signature"])  # Ed25519 is deterministic
    ig.verify(b(r["public_key"]), statement, b(r["signature"]))


def test_message_statements_and_triage_bindings():
    m, rm, n, r = V["message"], V["reviewer_message"], V["note"], V["report"]
    statement = ig.message_statement(b(m["report_id"]), b(m["message_id"]), m["seq"], m["author"],
                                     dt.date.fromisoformat(m["sent_on"]), b(m["commitment"]), b(m["sealed_body"]), [])
    assert statement == b(m["statement"])
    ig.verify(b(r["public_key"]), statement, b(m["signature"]))
    key = ig.triage_binding_key(b(rm["audit_key"]))
    assert key == b(rm["binding_key"])
    reply = ig.message_statement(b(m["report_id"]), b(rm["message_id"]), rm["seq"], ig.reviewer_author(7),
                                 dt.date.fromisoformat(rm["sent_on"]), b(m["commitment"]), b(m["sealed_body"]), [])
    assert reply == b(rm["statement"]) and ig.bind(key, reply) == b(rm["binding"])
    note = ig.note_statement(b(m["report_id"]), b(n["note_id"]), n["author"], dt.date.fromisoformat(n["written_on"]),
                             b(m["sealed_body"]))
    assert note == b(n["statement"]) and ig.bind(key, note) == b(n["binding"])


def test_malformed_inputs_are_format_errors():
    with pytest.raises(FormatError):
        ig.key_commitment(bytes(31), bytes(16))
    with pytest.raises(FormatError):
        ig.message_statement(bytes(16), bytes(16), 0, "reporter", dt.date(2026, 1, 1), bytes(32), b"", [])
    with pytest.raises(FormatError):
        ig.note_statement(bytes(16), bytes(16), "", dt.date(2026, 1, 1), b"")
    with pytest.raises(IntegrityError):
        ig.verify(bytes(32), b"x", bytes(10))


ids = st.binary(min_size=16, max_size=16)
keys = st.binary(min_size=32, max_size=32)
days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2999, 12, 31))


@settings(max_examples=60, deadline=None)
@given(keys, keys, ids, ids)
def test_a_commitment_names_one_key_and_one_report(dek, other, report_id, other_id):
    c = ig.key_commitment(dek, report_id)
    assert (ig.key_commitment(other, report_id) == c) == (other == dek)
    assert (ig.key_commitment(dek, other_id) == c) == (other_id == report_id)


@settings(max_examples=60, deadline=None)
@given(ids, ids, st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1), st.sampled_from(["reporter", "reviewer:1", "reviewer:2"]),
       st.sampled_from(["reporter", "reviewer:1", "reviewer:12"]), days, keys, st.binary(max_size=64), st.binary(max_size=64))
def test_message_statements_differ_whenever_author_position_or_body_differ(report_id, message_id, seq, seq2, author,
                                                                           author2, day, commitment, body, body2):
    one = ig.message_statement(report_id, message_id, seq, author, day, commitment, body, [])
    two = ig.message_statement(report_id, message_id, seq2, author2, day, commitment, body2, [])
    assert (one == two) == (seq == seq2 and author == author2 and body == body2)


@settings(max_examples=30, deadline=None)
@given(keys, st.binary(min_size=1, max_size=200), st.integers(0, 63), st.integers(1, 255))
def test_any_changed_signature_byte_or_statement_fails(seed, statement, index, flip):
    public, signature = ig.signer_public_key(seed), ig.sign(seed, statement)
    ig.verify(public, statement, signature)
    broken = bytearray(signature)
    broken[index] ^= flip
    with pytest.raises(IntegrityError):
        ig.verify(public, statement, bytes(broken))
    with pytest.raises(IntegrityError):
        ig.verify(public, statement + b"\x00", signature)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(ids, st.binary(max_size=40)), max_size=5, unique_by=lambda t: t[0]), ids, days, keys)
def test_a_moved_or_dropped_file_changes_the_report_statement(files, report_id, day, commitment):
    entries = [ig.FileEntry.of(i, m) for i, m in files]
    whole = ig.report_statement(report_id, day, commitment, b"r", entries)
    assert ig.report_statement(report_id, day, commitment, b"r", list(reversed(entries))) == whole
    if entries:
        assert ig.report_statement(report_id, day, commitment, b"r", entries[1:]) != whole
